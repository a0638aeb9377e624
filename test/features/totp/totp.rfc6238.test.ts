/**
 * RFC 6238 Appendix B test vectors (SHA1/SHA256/SHA512 with 20/32/64-byte seeds, 8 digits,
 * 30 s) through Latchkey's own verify path — HTTP, service, otplib, database — with the clock
 * injected, and the same codes computed by an independent implementation (node:crypto HMAC
 * and RFC 4226 dynamic truncation written in the test), so a wrong table, a wrong library
 * and a wrong reference cannot all agree by accident.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/infra/clock.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { base32Encode, client, referenceHotp, referenceTotp, tenantWithSettings, type Algorithm } from "./reference-totp.ts";

/** RFC 6238 Appendix B: seeds are the ASCII digits "1234567890" repeated to the hash's length. */
const SEEDS: Record<Algorithm, Buffer> = {
  SHA1: Buffer.from("12345678901234567890", "ascii"),
  SHA256: Buffer.from("12345678901234567890123456789012", "ascii"),
  SHA512: Buffer.from("1234567890123456789012345678901234567890123456789012345678901234", "ascii"),
};

/** Time (s), T (hex), TOTP, mode — the table of RFC 6238 Appendix B. */
const VECTORS: Array<[number, string, string, Algorithm]> = [
  [59, "0000000000000001", "94287082", "SHA1"],
  [59, "0000000000000001", "46119246", "SHA256"],
  [59, "0000000000000001", "90693936", "SHA512"],
  [1111111109, "00000000023523EC", "07081804", "SHA1"],
  [1111111109, "00000000023523EC", "68084774", "SHA256"],
  [1111111109, "00000000023523EC", "25091201", "SHA512"],
  [1111111111, "00000000023523ED", "14050471", "SHA1"],
  [1111111111, "00000000023523ED", "67062674", "SHA256"],
  [1111111111, "00000000023523ED", "99943326", "SHA512"],
  [1234567890, "000000000273EF07", "89005924", "SHA1"],
  [1234567890, "000000000273EF07", "91819424", "SHA256"],
  [1234567890, "000000000273EF07", "93441116", "SHA512"],
  [2000000000, "0000000003F940AA", "69279037", "SHA1"],
  [2000000000, "0000000003F940AA", "90698825", "SHA256"],
  [2000000000, "0000000003F940AA", "38618901", "SHA512"],
  [20000000000, "0000000027BC86AA", "65353130", "SHA1"],
  [20000000000, "0000000027BC86AA", "77737706", "SHA256"],
  [20000000000, "0000000027BC86AA", "47863826", "SHA512"],
];

let t: TestApp;
const clock = new ManualClock(new Date(0));

beforeAll(async () => {
  t = await createTestApp({ clock });
});
afterAll(async () => t?.close());

describe("the independent reference implementation", () => {
  it.each(VECTORS)("T=%i (%s) → %s with %s", (time, stepHex, expected, algorithm) => {
    expect(Math.floor(time / 30)).toBe(Number.parseInt(stepHex, 16));
    expect(referenceHotp(SEEDS[algorithm], Number.parseInt(stepHex, 16), 8, algorithm)).toBe(expected);
  });
});

describe.each(["SHA1", "SHA256", "SHA512"] as const)("Latchkey's verify path, %s, 8 digits", (algorithm) => {
  let apiKey: string;
  const userId = `rfc6238-${algorithm}`;

  beforeAll(async () => {
    ({ apiKey } = await tenantWithSettings(t, { totp: { algorithm, digits: 8, periodSeconds: 30 } }, `RFC 6238 ${algorithm}`));
    const setup = await client(t, apiKey).post("/totp/setup", { userId });
    expect(setup.statusCode, setup.body).toBe(200);
    // Seed the factor with the RFC's key, sealed the way setup seals (bound to the factor id).
    const [row] = await t.database.db.query<{ id: string }>(
      "SELECT f.id FROM totp_factors f JOIN end_users u ON u.id = f.end_user_id WHERE u.external_id = $1",
      [userId],
    );
    await t.database.db.query("UPDATE totp_factors SET secret_sealed = $1 WHERE id = $2", [t.keyring.seal(base32Encode(SEEDS[algorithm]), row!.id), row!.id]);
  });

  // In table order: the times only grow, so no vector replays an earlier step.
  it.each(VECTORS.filter((v) => v[3] === algorithm))("at T=%i (step %s) the code %s verifies", async (time, _stepHex, expected) => {
    clock.set(new Date(time * 1000));
    expect(referenceTotp(base32Encode(SEEDS[algorithm]), clock.now(), { algorithm, digits: 8 })).toBe(expected);
    const res = await client(t, apiKey).post("/totp/verify", { userId, token: expected });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data.verified).toBe(true);
  });
});
