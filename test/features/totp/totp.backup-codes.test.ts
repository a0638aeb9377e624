/**
 * Backup codes as units (src/features/totp/backup-codes.ts) and the keyring derivation they
 * hash with: format and entropy, forgiving input, keyed hashes bound to the user, and hashes
 * that stay checkable while ENCRYPTION_KEY rotates.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { backupCodeMatches, BACKUP_CODE_COUNT, generateBackupCodes, hashBackupCode, normalizeBackupCode } from "../../../src/features/totp/backup-codes.ts";
import { Keyring } from "../../../src/infra/crypto.ts";

describe("generateBackupCodes", () => {
  it("makes 10 distinct XXXXX-XXXXX codes of Crockford base32 (no I, L, O, U)", () => {
    const codes = generateBackupCodes();
    expect(codes).toHaveLength(BACKUP_CODE_COUNT);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/);
  });

  it("uses every one of the 32 characters (50 bits per code, no bias towards a subset)", () => {
    const seen = new Set(Array.from({ length: 200 }, () => generateBackupCodes()).flat().join("").replaceAll("-", ""));
    expect(seen.size).toBe(32);
  });
});

describe("normalizeBackupCode", () => {
  it.each([
    ["7qk4m-2xh9p", "7QK4M2XH9P"],
    [" 7QK4M 2XH9P ", "7QK4M2XH9P"],
    ["7QK4M2XH9P", "7QK4M2XH9P"],
    ["OIL00-11111", "0110011111"],
  ])("%j → %s", (input, expected) => {
    expect(normalizeBackupCode(input)).toBe(expected);
  });

  it.each(["", "123456", "7QK4M-2XH9", "7QK4M-2XH9PP", "7QK4M-2XH9U", "ÄÖÜ12-34567"])("%j is not a backup code", (input) => {
    expect(normalizeBackupCode(input)).toBeNull();
  });
});

describe("hashBackupCode / backupCodeMatches", () => {
  const keyring = new Keyring(randomBytes(32));

  it("stores v1$<keyId>$<HMAC-SHA256 hex>, never the code", () => {
    const hash = hashBackupCode(keyring, "usr_1", "7QK4M2XH9P");
    expect(hash).toMatch(new RegExp(`^v1\\$${keyring.currentKeyId.replace(/[-_]/g, "\\$&")}\\$[0-9a-f]{64}$`));
    expect(hash).not.toContain("7QK4M2XH9P");
    expect(backupCodeMatches(keyring, "usr_1", "7QK4M2XH9P", hash)).toBe(true);
    expect(backupCodeMatches(keyring, "usr_1", "7QK4M2XH9Q", hash)).toBe(false);
  });

  it("is bound to the user: the same code hashes differently for another user", () => {
    const hash = hashBackupCode(keyring, "usr_1", "7QK4M2XH9P");
    expect(hashBackupCode(keyring, "usr_2", "7QK4M2XH9P")).not.toBe(hash);
    expect(backupCodeMatches(keyring, "usr_2", "7QK4M2XH9P", hash)).toBe(false);
  });

  it("needs the server key: another keyring cannot check (or brute-force) a stolen hash", () => {
    const hash = hashBackupCode(keyring, "usr_1", "7QK4M2XH9P");
    expect(backupCodeMatches(new Keyring(randomBytes(32)), "usr_1", "7QK4M2XH9P", hash)).toBe(false);
  });

  it("a hash made under a key now in ENCRYPTION_KEYS_OLD still matches; once that key is gone it does not", () => {
    const oldKey = randomBytes(32);
    const hash = hashBackupCode(new Keyring(oldKey), "usr_1", "7QK4M2XH9P");
    expect(backupCodeMatches(new Keyring(randomBytes(32), [oldKey]), "usr_1", "7QK4M2XH9P", hash)).toBe(true);
    expect(backupCodeMatches(new Keyring(randomBytes(32)), "usr_1", "7QK4M2XH9P", hash)).toBe(false);
    expect(backupCodeMatches(keyring, "usr_1", "7QK4M2XH9P", "garbage")).toBe(false);
  });
});

describe("Keyring.deriveKey", () => {
  it("is deterministic per key and label, differs across labels and keys, and refuses unknown key ids", () => {
    const key = randomBytes(32);
    const a = new Keyring(key);
    const b = new Keyring(key);
    expect(a.deriveKey("totp-backup-codes")).toEqual(b.deriveKey("totp-backup-codes"));
    expect(a.deriveKey("totp-backup-codes")).toHaveLength(32);
    expect(a.deriveKey("totp-backup-codes")).not.toEqual(a.deriveKey("otp-codes"));
    expect(new Keyring(randomBytes(32)).deriveKey("totp-backup-codes")).not.toEqual(a.deriveKey("totp-backup-codes"));
    expect(a.deriveKey("x")).not.toEqual(key);
    const rotated = new Keyring(randomBytes(32), [key]);
    expect(rotated.deriveKey("totp-backup-codes", a.currentKeyId)).toEqual(a.deriveKey("totp-backup-codes"));
    expect(() => a.deriveKey("x", "nokey123")).toThrow(/ENCRYPTION_KEYS_OLD/);
  });
});
