/**
 * POST /api/v1/mfa/check through the real HTTP stack and database (API.md §8): each match
 * condition and their AND, priority order, the withinSeconds window, a TOTP verify satisfying
 * a policy, newDevice remembering devices, the mfa.required event, and the SDK.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/infra/clock.ts";
import { TwoFactorClient, TwoFactorError } from "../../../src/sdk/index.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { MID_STEP, referenceTotp } from "../totp/reference-totp.ts";
import { check, eventsOf, mfaRequiredBody, setupTotp, tenantWithPolicies, verifyTotp } from "./mfa-fixtures.ts";

const clock = new ManualClock(MID_STEP);
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ clock });
});
afterAll(async () => t?.close());

const TOTP_FOR_PAYMENTS = { name: "결제 시 추가 인증", match: { purposes: ["payment"] }, requiredChannels: ["totp"] };

describe("POST /mfa/check", () => {
  it("with no policy at all: allowed, nothing satisfied", async () => {
    const tenant = await tenantWithPolicies(t, []);
    const res = await check(t, tenant.apiKey, { userId: "u1", purpose: "login" });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ success: true, message: expect.any(String), data: { allowed: true, satisfiedChannels: [] } });
  });

  it("a matching policy with an unverified channel answers exactly the contract's 403 MFA_REQUIRED", async () => {
    const tenant = await tenantWithPolicies(t, [TOTP_FOR_PAYMENTS]);
    const res = await check(t, tenant.apiKey, { userId: "user_123", purpose: "payment" });
    expect(res.statusCode).toBe(403);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.json()).toEqual(mfaRequiredBody(["totp"], ["결제 시 추가 인증"]));
  });

  it("purposes: another purpose does not match", async () => {
    const tenant = await tenantWithPolicies(t, [TOTP_FOR_PAYMENTS]);
    const res = await check(t, tenant.apiKey, { userId: "user_123", purpose: "login" });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toEqual({ allowed: true, satisfiedChannels: [] });
  });

  it("minAmount: at or over the amount matches; under it, or with no amount, does not", async () => {
    const tenant = await tenantWithPolicies(t, [{ name: "big", match: { minAmount: 1_000_000 }, requiredChannels: ["sms"] }]);
    const at = (amount?: number) => check(t, tenant.apiKey, { userId: "u", purpose: "payment", ...(amount === undefined ? {} : { context: { amount } }) });
    expect((await at(1_000_000)).statusCode).toBe(403);
    expect((await at(2_500_000.5)).json()).toEqual(mfaRequiredBody(["sms"], ["big"]));
    expect((await at(999_999)).statusCode).toBe(200);
    expect((await at()).statusCode).toBe(200);
  });

  it("ipCidrs: an IP inside a listed range matches (IPv4 and IPv6); outside it, or no IP, does not", async () => {
    const tenant = await tenantWithPolicies(t, [{ name: "office-outside", match: { ipCidrs: ["203.0.113.0/24", "2001:db8::/32"] }, requiredChannels: ["push"] }]);
    const from = (ip?: string) => check(t, tenant.apiKey, { userId: "u", purpose: "login", ...(ip ? { context: { ip } } : {}) });
    expect((await from("203.0.113.77")).statusCode).toBe(403);
    expect((await from("2001:db8:abcd::12")).statusCode).toBe(403);
    expect((await from("198.51.100.1")).statusCode).toBe(200);
    expect((await from("2001:db9::1")).statusCode).toBe(200);
    expect((await from()).statusCode).toBe(200);
  });

  it("ipCidrs: an IPv4-mapped IPv6 address (::ffff:1.2.3.4) matches 1.2.3.4/32", async () => {
    const tenant = await tenantWithPolicies(t, [{ name: "one-host", match: { ipCidrs: ["1.2.3.4/32"] }, requiredChannels: ["totp"] }]);
    const res = await check(t, tenant.apiKey, { userId: "u", purpose: "login", context: { ip: "::ffff:1.2.3.4" } });
    expect(res.statusCode, res.body).toBe(403);
    expect(res.json()).toEqual(mfaRequiredBody(["totp"], ["one-host"]));
    expect((await check(t, tenant.apiKey, { userId: "u", purpose: "login", context: { ip: "::ffff:1.2.3.5" } })).statusCode).toBe(200);
  });

  it("conditions are ANDed: the policy needs purpose, amount and IP all to hold", async () => {
    const tenant = await tenantWithPolicies(t, [{ name: "risky payment", match: { purposes: ["payment"], minAmount: 100, ipCidrs: ["10.0.0.0/8"] }, requiredChannels: ["totp"] }]);
    const run = (purpose: string, amount: number, ip: string) => check(t, tenant.apiKey, { userId: "u", purpose, context: { amount, ip } });
    expect((await run("payment", 100, "10.1.2.3")).statusCode).toBe(403);
    expect((await run("login", 100, "10.1.2.3")).statusCode).toBe(200);
    expect((await run("payment", 99, "10.1.2.3")).statusCode).toBe(200);
    expect((await run("payment", 100, "11.1.2.3")).statusCode).toBe(200);
  });

  it("matchedPolicies and requiredChannels follow priority (highest first); disabled policies never apply", async () => {
    const tenant = await tenantWithPolicies(t, [
      { name: "low", priority: 1, requiredChannels: ["push", "totp"] },
      { name: "high", priority: 10, requiredChannels: ["webauthn"] },
      { name: "off", priority: 100, enabled: false, requiredChannels: ["email"] },
      { name: "middle", priority: 5, requiredChannels: ["sms", "totp"] },
    ]);
    const res = await check(t, tenant.apiKey, { userId: "u", purpose: "login" });
    expect(res.json()).toEqual(mfaRequiredBody(["webauthn", "sms", "totp", "push"], ["high", "middle", "low"]));
  });

  it("a TOTP verify through HTTP for the purpose satisfies the policy: 200 with satisfiedChannels [totp]", async () => {
    const tenant = await tenantWithPolicies(t, [TOTP_FOR_PAYMENTS]);
    const secret = await setupTotp(t, tenant.apiKey, "payer");
    expect((await check(t, tenant.apiKey, { userId: "payer", purpose: "payment" })).statusCode).toBe(403);

    const verified = await verifyTotp(t, clock, tenant.apiKey, { userId: "payer", secret, purpose: "payment" });
    expect(verified.statusCode, verified.body).toBe(200);
    const res = await check(t, tenant.apiKey, { userId: "payer", purpose: "payment" });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toEqual({ allowed: true, satisfiedChannels: ["totp"] });
    // Another user, or the same user for another purpose, is not covered by that verification.
    expect((await check(t, tenant.apiKey, { userId: "someone-else", purpose: "payment" })).statusCode).toBe(403);
  });

  it("a verification for another purpose does not count", async () => {
    const tenant = await tenantWithPolicies(t, [{ name: "any-login", match: { purposes: ["login"] }, requiredChannels: ["totp"] }]);
    const secret = await setupTotp(t, tenant.apiKey, "u-purpose");
    expect((await verifyTotp(t, clock, tenant.apiKey, { userId: "u-purpose", secret, purpose: "payment" })).statusCode).toBe(200);
    expect((await check(t, tenant.apiKey, { userId: "u-purpose", purpose: "login" })).json()).toEqual(mfaRequiredBody(["totp"], ["any-login"]));
  });

  it("a verification older than withinSeconds no longer counts", async () => {
    const tenant = await tenantWithPolicies(t, [{ ...TOTP_FOR_PAYMENTS, withinSeconds: 120 }]);
    const secret = await setupTotp(t, tenant.apiKey, "window");
    expect((await verifyTotp(t, clock, tenant.apiKey, { userId: "window", secret, purpose: "payment" })).statusCode).toBe(200);

    clock.advance(120_000); // exactly at the edge: still counts
    expect((await check(t, tenant.apiKey, { userId: "window", purpose: "payment" })).statusCode).toBe(200);
    clock.advance(1_000);
    const res = await check(t, tenant.apiKey, { userId: "window", purpose: "payment" });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual(mfaRequiredBody(["totp"], [TOTP_FOR_PAYMENTS.name]));
  });

  it("a policy already satisfied is not named, and its channel is not asked for again", async () => {
    const tenant = await tenantWithPolicies(t, [
      { name: "needs totp", priority: 2, requiredChannels: ["totp"] },
      { name: "needs sms", priority: 1, requiredChannels: ["sms"] },
    ]);
    const secret = await setupTotp(t, tenant.apiKey, "half");
    expect((await verifyTotp(t, clock, tenant.apiKey, { userId: "half", secret, purpose: "login" })).statusCode).toBe(200);
    expect((await check(t, tenant.apiKey, { userId: "half", purpose: "login" })).json()).toEqual(mfaRequiredBody(["sms"], ["needs sms"]));
  });

  it("a 403 records an mfa.required event in the outbox with the user, purpose, channels and policies", async () => {
    const tenant = await tenantWithPolicies(t, [TOTP_FOR_PAYMENTS]);
    expect((await check(t, tenant.apiKey, { userId: "evented", purpose: "payment", context: { amount: 5 } })).statusCode).toBe(403);
    expect((await check(t, tenant.apiKey, { userId: "evented", purpose: "login" })).statusCode).toBe(200);
    const events = await eventsOf(t, tenant.appId, "mfa.required");
    expect(events).toEqual([{
      id: expect.stringMatching(/^evt_/),
      event: "mfa.required",
      createdAt: clock.now().toISOString(),
      data: { externalUserId: "evented", purpose: "payment", requiredChannels: ["totp"], matchedPolicies: [TOTP_FOR_PAYMENTS.name] },
    }]);
  });
});

describe("newDevice", () => {
  const NEW_DEVICE = { name: "new device", match: { newDevice: true }, requiredChannels: ["totp"], withinSeconds: 60 };

  it("no deviceId counts as a new device; a device becomes known after an allowed check and is then not new", async () => {
    const tenant = await tenantWithPolicies(t, [NEW_DEVICE]);
    const secret = await setupTotp(t, tenant.apiKey, "traveller");
    const from = (deviceId?: string, userId = "traveller") => check(t, tenant.apiKey, { userId, purpose: "login", ...(deviceId ? { context: { deviceId } } : {}) });

    expect((await from()).json()).toEqual(mfaRequiredBody(["totp"], ["new device"]));
    expect((await from("laptop-1")).statusCode).toBe(403);

    // Verified within the window: allowed, and laptop-1 becomes known.
    expect((await verifyTotp(t, clock, tenant.apiKey, { userId: "traveller", secret, purpose: "login" })).statusCode).toBe(200);
    expect((await from("laptop-1")).statusCode).toBe(200);
    const rows = await t.database.db.query("SELECT external_user_id, device_id FROM mfa_known_devices WHERE app_id = $1", [tenant.appId]);
    expect(rows).toEqual([{ external_user_id: "traveller", device_id: "laptop-1" }]);

    // Long after the verification: the known device passes, a new one and a silent one do not.
    clock.advance(10 * 60_000);
    const known = await from("laptop-1");
    expect(known.statusCode, known.body).toBe(200);
    expect(known.json().data).toEqual({ allowed: true, satisfiedChannels: [] });
    expect((await from("phone-2")).statusCode).toBe(403);
    expect((await from()).statusCode).toBe(403);
    // Known for that user only.
    expect((await from("laptop-1", "someone-else")).statusCode).toBe(403);
  });

  it("a refused check does not make its device known", async () => {
    const tenant = await tenantWithPolicies(t, [NEW_DEVICE]);
    for (let i = 0; i < 2; i++) expect((await check(t, tenant.apiKey, { userId: "u", purpose: "login", context: { deviceId: "d" } })).statusCode).toBe(403);
    expect(await t.database.db.query("SELECT 1 FROM mfa_known_devices WHERE app_id = $1", [tenant.appId])).toEqual([]);
  });
});

describe("through the SDK", () => {
  it("client.mfa.check resolves when allowed and throws MFA_REQUIRED with requiredChannels and matchedPolicies", async () => {
    await t.app.listen({ port: 0, host: "127.0.0.1" });
    const address = t.app.server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const tenant = await tenantWithPolicies(t, [TOTP_FOR_PAYMENTS]);
    const client = new TwoFactorClient({ apiKey: tenant.apiKey, baseUrl: `http://127.0.0.1:${port}` });

    await expect(client.mfa.check({ userId: "sdk-user", purpose: "login", context: { ip: "198.51.100.4", amount: 10, deviceId: "d1" } }))
      .resolves.toEqual({ allowed: true, satisfiedChannels: [] });
    const err = await client.mfa.check({ userId: "sdk-user", purpose: "payment" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TwoFactorError);
    expect(err).toMatchObject({ code: "MFA_REQUIRED", status: 403, message: "additional verification required", requiredChannels: ["totp"], matchedPolicies: [TOTP_FOR_PAYMENTS.name] });

    // client.totp.verify with purpose reports the progress, and the check then passes.
    const { secret } = await client.totp.setup({ userId: "sdk-user" });
    clock.advance(30_000);
    const verified = await client.totp.verify({ userId: "sdk-user", token: referenceTotp(secret, clock.now()), purpose: "payment" });
    expect(verified).toEqual({ verified: true, activated: true, mfa: { satisfied: true, remainingChannels: [] } });
    await expect(client.mfa.check({ userId: "sdk-user", purpose: "payment" })).resolves.toEqual({ allowed: true, satisfiedChannels: ["totp"] });
  });
});
