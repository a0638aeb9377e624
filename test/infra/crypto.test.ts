/**
 * Secrets at rest: AES-256-GCM keyring with key ids and rotation; scrypt passwords.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Keyring, hashPassword, loadKeyring, safeEqual, verifyPassword } from "../../src/infra/crypto.ts";

describe("Keyring", () => {
  it("seals and opens; the sealed form does not contain the plaintext", () => {
    const keyring = new Keyring(randomBytes(32));
    const sealed = keyring.seal("JBSWY3DPEHPK3PXP", "factor_1");
    expect(sealed).not.toContain("JBSWY3DPEHPK3PXP");
    expect(sealed.startsWith(`v1.${keyring.currentKeyId}.`)).toBe(true);
    expect(keyring.open(sealed, "factor_1")).toBe("JBSWY3DPEHPK3PXP");
  });

  it("two seals of one value differ (fresh IV each time)", () => {
    const keyring = new Keyring(randomBytes(32));
    expect(keyring.seal("same")).not.toBe(keyring.seal("same"));
  });

  it("refuses a ciphertext moved to another row (associated data) or tampered with", () => {
    const keyring = new Keyring(randomBytes(32));
    const sealed = keyring.seal("secret", "row_a");
    expect(() => keyring.open(sealed, "row_b")).toThrow();
    const parts = sealed.split(".");
    parts[3] = Buffer.from("tampered").toString("base64url");
    expect(() => keyring.open(parts.join("."), "row_a")).toThrow();
  });

  it("after rotation, old values still open with the old key in ENCRYPTION_KEYS_OLD", () => {
    const oldKey = randomBytes(32);
    const sealedWithOld = new Keyring(oldKey).seal("secret");
    const rotated = new Keyring(randomBytes(32), [oldKey]);
    expect(rotated.open(sealedWithOld)).toBe("secret");
    expect(rotated.needsRotation(sealedWithOld)).toBe(true);
    expect(rotated.needsRotation(rotated.seal("x"))).toBe(false);
    expect(() => new Keyring(randomBytes(32)).open(sealedWithOld)).toThrow(/ENCRYPTION_KEYS_OLD/);
  });

  it("without ENCRYPTION_KEY, generates one key into DATA_DIR with mode 0600 and warns, once", () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "latchkey-keyring-"));
    const warnings: string[] = [];
    const first = loadKeyring({ ENCRYPTION_KEYS_OLD: [], dataDir }, (m) => warnings.push(m));
    const file = path.join(dataDir, "encryption.key");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(file, "utf8").trim(), "base64")).toHaveLength(32);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("ENCRYPTION_KEY");
    const second = loadKeyring({ ENCRYPTION_KEYS_OLD: [], dataDir }, (m) => warnings.push(m));
    expect(second.currentKeyId).toBe(first.currentKeyId);
    expect(second.open(first.seal("kept"))).toBe("kept");
    expect(warnings).toHaveLength(1);
  });

  it("ENCRYPTION_KEY wins over a generated file", () => {
    const key = randomBytes(32);
    const keyring = loadKeyring({ ENCRYPTION_KEY: key, ENCRYPTION_KEYS_OLD: [], dataDir: "/nonexistent" }, () => {
      throw new Error("no warning expected");
    });
    expect(keyring.currentKeyId).toBe(Keyring.keyId(key));
  });
});

describe("passwords", () => {
  it("scrypt hashes verify the right password only", async () => {
    const hash = await hashPassword("correct horse battery staple");
    expect(hash.startsWith("scrypt$")).toBe(true);
    expect(hash).not.toContain("correct horse");
    expect(await verifyPassword("correct horse battery staple", hash)).toBe(true);
    expect(await verifyPassword("wrong", hash)).toBe(false);
    expect(await verifyPassword("x", "garbage")).toBe(false);
  });
});

describe("safeEqual", () => {
  it("compares content, including different lengths", () => {
    expect(safeEqual("abc", "abc")).toBe(true);
    expect(safeEqual("abc", "abd")).toBe(false);
    expect(safeEqual("abc", "abcd")).toBe(false);
  });
});
