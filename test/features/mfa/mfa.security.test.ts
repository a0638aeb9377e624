/**
 * MFA policies across tenants and against bad input (API.md §1, §2, §8):
 * - app B's policies, verifications and known devices never touch app A's decisions;
 * - malformed checks (negative amount, an IP that is not one address, unknown fields, missing
 *   fields) are 400 VALIDATION_ERROR with details, never a 5xx and never an event;
 * - a browser-safe publishable key cannot ask for decisions (secret key only).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keysRepository } from "../../../src/features/keys/keys.repository.ts";
import { createApiKey } from "../../../src/features/keys/keys.service.ts";
import { ManualClock } from "../../../src/infra/clock.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { MID_STEP } from "../totp/reference-totp.ts";
import { check, eventsOf, mfaRequiredBody, setupTotp, tenantWithPolicies, verifyTotp } from "./mfa-fixtures.ts";

const clock = new ManualClock(MID_STEP);
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ clock });
});
afterAll(async () => t?.close());

describe("tenant isolation", () => {
  it("app B's policies never apply to app A's users", async () => {
    const appA = await tenantWithPolicies(t, []);
    const appB = await tenantWithPolicies(t, [{ name: "B: everything needs webauthn", requiredChannels: ["webauthn"] }]);
    const res = await check(t, appA.apiKey, { userId: "shared-user", purpose: "login" });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toEqual({ allowed: true, satisfiedChannels: [] });
    expect((await check(t, appB.apiKey, { userId: "shared-user", purpose: "login" })).json()).toEqual(mfaRequiredBody(["webauthn"], ["B: everything needs webauthn"]));
    expect(await eventsOf(t, appA.appId, "mfa.required")).toEqual([]);
  });

  it("a verification in app B does not satisfy app A's policy for a user with the same id", async () => {
    const policy = { name: "totp always", requiredChannels: ["totp"] };
    const appA = await tenantWithPolicies(t, [policy]);
    const appB = await tenantWithPolicies(t, [policy]);
    const secretB = await setupTotp(t, appB.apiKey, "same-id");
    expect((await verifyTotp(t, clock, appB.apiKey, { userId: "same-id", secret: secretB, purpose: "login" })).statusCode).toBe(200);
    expect((await check(t, appB.apiKey, { userId: "same-id", purpose: "login" })).statusCode).toBe(200);
    expect((await check(t, appA.apiKey, { userId: "same-id", purpose: "login" })).json()).toEqual(mfaRequiredBody(["totp"], ["totp always"]));
  });

  it("a device known in app B is still new in app A", async () => {
    const appA = await tenantWithPolicies(t, [{ name: "new device", match: { newDevice: true }, requiredChannels: ["sms"] }]);
    const appB = await tenantWithPolicies(t, []);
    expect((await check(t, appB.apiKey, { userId: "u", purpose: "login", context: { deviceId: "dev-1" } })).statusCode).toBe(200);
    expect((await check(t, appA.apiKey, { userId: "u", purpose: "login", context: { deviceId: "dev-1" } })).statusCode).toBe(403);
  });
});

describe("bad input → 400 VALIDATION_ERROR", () => {
  let key: string;
  let appId: string;
  beforeAll(async () => {
    ({ apiKey: key, appId } = await tenantWithPolicies(t, [{ name: "catch-all", requiredChannels: ["totp"] }]));
  });

  it.each([
    ["a negative amount", { userId: "u", purpose: "payment", context: { amount: -1 } }, "body.context.amount"],
    ["an amount sent as a string", { userId: "u", purpose: "payment", context: { amount: "100" } }, "body.context.amount"],
    ["no userId", { purpose: "login" }, "body.userId"],
    ["no purpose", { userId: "u" }, "body.purpose"],
    ["an empty purpose", { userId: "u", purpose: "" }, "body.purpose"],
    ["a purpose over 64 characters", { userId: "u", purpose: "p".repeat(65) }, "body.purpose"],
    ["a userId over 128 characters", { userId: "u".repeat(129), purpose: "login" }, "body.userId"],
    ["an unknown top-level field", { userId: "u", purpose: "login", amount: 5 }, "body.amount"],
    ["an unknown context field", { userId: "u", purpose: "login", context: { country: "KR" } }, "body.context.country"],
    ["a deviceId over 128 characters", { userId: "u", purpose: "login", context: { deviceId: "d".repeat(129) } }, "body.context.deviceId"],
  ])("%s", async (_name, body, field) => {
    const res = await check(t, key, body);
    expect(res.statusCode, res.body).toBe(400);
    const json = res.json();
    expect(json).toMatchObject({ success: false, code: "VALIDATION_ERROR" });
    expect(json.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  it.each(["999.1.1.1", "10.0.0.0/8", "not-an-ip", "127.1", "0x7f.0.0.1", " 10.0.0.1", "1.2.3.4.5", "2001:db8::g"])("an ip that is not one plain address: %j", async (ip) => {
    const res = await check(t, key, { userId: "u", purpose: "login", context: { ip } });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toEqual({
      success: false,
      code: "VALIDATION_ERROR",
      error: "context.ip is not an IP address",
      details: [{ field: "body.context.ip", message: expect.any(String) }],
    });
  });

  it("malformed JSON is a 400, and no bad request ever records an event", async () => {
    const res = await t.app.inject({ method: "POST", url: "/api/v1/mfa/check", headers: { "x-api-key": key, "content-type": "application/json" }, payload: "{\"userId\":" });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ success: false, code: "VALIDATION_ERROR" });
    expect(await eventsOf(t, appId, "mfa.required")).toEqual([]);
  });
});

describe("credentials", () => {
  it("no key → 401; a publishable key → 403 FORBIDDEN (decisions are for the app's server)", async () => {
    const tenant = await tenantWithPolicies(t, []);
    const none = await t.app.inject({ method: "POST", url: "/api/v1/mfa/check", payload: { userId: "u", purpose: "login" } });
    expect(none.statusCode).toBe(401);
    const publishable = await createApiKey(keysRepository(t.database.db.prisma), { appId: tenant.appId, kind: "publishable" });
    const res = await check(t, publishable.key, { userId: "u", purpose: "login" });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ success: false, code: "FORBIDDEN" });
  });
});
