/**
 * POST /api/v1/auth/ephemeral (API.md §7): issuing ephemeral keys the way partners' key-exchange
 * endpoints already call it (form or JSON, header or form credentials), and what such a key may
 * then do: its scopes, its lifetime (419), its IP list (403 IP_NOT_ALLOWED), its user.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/infra/clock.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { "content-type": "application/x-www-form-urlencoded" };

describe("issuing ephemeral keys", () => {
  let t: TestApp;
  const clock = new ManualClock(new Date("2026-11-22T07:00:00.000Z"));
  beforeAll(async () => {
    t = await createTestApp({ clock });
  });
  afterAll(async () => t?.close());

  const issue = (payload: string | object, headers: Record<string, string> = {}, url = "/api/v1/auth/ephemeral") =>
    t.app.inject({ method: "POST", url, headers, payload: payload as string });

  it("with the secret key in X-API-Key and a JSON body → ek_ key expiring after 30 s by default", async () => {
    const res = await issue({}, { "x-api-key": t.apiKey });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ success: true, ephemeral_key: expect.stringMatching(/^ek_[A-Za-z0-9_-]{43}$/), ephemeral_key_expires_at: "2026-11-22T07:00:30.000Z" });
    expect(body.data).toEqual({ ephemeralKey: body.ephemeral_key, expiresAt: "2026-11-22T07:00:30.000Z", scopes: ["webauthn", "totp", "push_verify"], userId: null, allowedIps: [] });
  });

  it("with form fields app_id + secret_key and epi, as partners' endpoints post it", async () => {
    const res = await issue(form({ app_id: t.appId, secret_key: t.apiKey, epi: "600000", ipa: "203.0.113.0/24,198.51.100.7" }), FORM);
    expect(res.statusCode).toBe(200);
    expect(res.json().ephemeral_key_expires_at).toBe("2026-11-22T07:10:00.000Z");
  });

  it("with Authorization: Bearer and Accept: text/plain → the bare key", async () => {
    const res = await issue(form({ epi: "5000" }), { ...FORM, authorization: `Bearer ${t.apiKey}`, accept: "text/plain" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/plain/);
    expect(res.body).toMatch(/^ek_[A-Za-z0-9_-]{43}$/);
  });

  it("refuses credentials in the query string (400), even valid ones", async () => {
    const res = await issue(form({ epi: "5000" }), FORM, `/api/v1/auth/ephemeral?app_id=${t.appId}&secret_key=${t.apiKey}`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ success: false, code: "VALIDATION_ERROR" });
  });

  it("refuses a secret key of another app named by app_id (401), no key (401), a publishable or ephemeral key (403)", async () => {
    const other = await t.createTenant();
    expect((await issue(form({ app_id: t.appId, secret_key: other.apiKey }), FORM)).statusCode).toBe(401);
    expect((await issue({})).statusCode).toBe(401);
    const ek = (await issue({}, { "x-api-key": t.apiKey })).json().ephemeral_key as string;
    const minted = await issue({}, { "x-api-key": ek });
    expect(minted.statusCode).toBe(403);
    expect(minted.json().code).toBe("FORBIDDEN");
  });

  it.each([
    ["epi above one hour", { epi: 3_600_001 }],
    ["epi not a number", { epi: "soon" }],
    ["a malformed ipa", { ipa: "10.0.0.0/33" }],
    ["an ipa that is no address", { ipa: "localhost" }],
    ["an unknown scope", { scopes: "webauthn,admin" }],
    ["an unknown field", { lifetime: 5 }],
  ])("refuses %s with 400 VALIDATION_ERROR", async (_name, body) => {
    const res = await issue(body, { "x-api-key": t.apiKey });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ success: false, code: "VALIDATION_ERROR" });
  });
});

describe("using ephemeral keys", () => {
  let t: TestApp;
  const clock = new ManualClock(new Date("2026-11-22T07:00:00.000Z"));
  beforeAll(async () => {
    t = await createTestApp({ clock });
  });
  afterAll(async () => t?.close());

  const mint = async (fields: Record<string, unknown> = {}) => {
    const res = await t.app.inject({ method: "POST", url: "/api/v1/auth/ephemeral", headers: { "x-api-key": t.apiKey }, payload: fields });
    expect(res.statusCode).toBe(200);
    return res.json().ephemeral_key as string;
  };
  const call = (key: string, method: "GET" | "POST" | "DELETE", url: string, payload?: object, remoteAddress = "127.0.0.1") =>
    t.app.inject({ method, url: `/api/v1${url}`, headers: { "x-api-key": key }, ...(payload ? { payload } : {}), remoteAddress });

  it("default scopes (webauthn, totp, push_verify) allow TOTP and WebAuthn calls, nothing else", async () => {
    const key = await mint();
    expect((await call(key, "POST", "/totp/setup", { userId: "scope-user" })).statusCode).toBe(200);
    expect((await call(key, "POST", "/webauthn/authenticate/options", {})).statusCode).toBe(200);
    for (const [method, url, payload] of [
      ["POST", "/otp/send", { phone: "01012345678" }],
      ["POST", "/email-otp/send", { email: "a@example.com" }],
      ["POST", "/push/send", { userId: "scope-user" }],
      ["GET", "/app", undefined],
      ["GET", "/webhooks", undefined],
    ] as const) {
      const res = await call(key, method, url, payload);
      expect(res.statusCode, `${method} ${url}`).toBe(403);
      expect(res.json().code).toBe("FORBIDDEN");
    }
  });

  it("sms sending only when scoped explicitly", async () => {
    const key = await mint({ scopes: "sms" });
    expect((await call(key, "POST", "/otp/send", { phone: "01098765432" })).statusCode).toBe(200);
    expect((await call(key, "POST", "/totp/setup", { userId: "u" })).statusCode).toBe(403);
  });

  it("after its lifetime → 419 TOKEN_EXPIRED", async () => {
    const key = await mint({ epi: 1000 });
    expect((await call(key, "POST", "/totp/setup", { userId: "expiring" })).statusCode).toBe(200);
    clock.advance(1000);
    const res = await call(key, "POST", "/totp/status", { userId: "expiring" });
    expect(res.statusCode).toBe(419);
    expect(res.json()).toMatchObject({ success: false, code: "TOKEN_EXPIRED" });
  });

  it("from an IP outside ipa → 403 IP_NOT_ALLOWED; IPv4-mapped IPv6 matches its IPv4 CIDR", async () => {
    const key = await mint({ ipa: "127.0.0.1/32,2001:db8::/32" });
    const outside = await call(key, "POST", "/totp/status", { userId: "ip-user" }, "198.51.100.7");
    expect(outside.statusCode).toBe(403);
    expect(outside.json().code).toBe("IP_NOT_ALLOWED");
    expect((await call(key, "POST", "/totp/status", { userId: "ip-user" }, "::ffff:127.0.0.1")).statusCode).toBe(200);
    expect((await call(key, "POST", "/totp/status", { userId: "ip-user" }, "2001:db8::7")).statusCode).toBe(200);
  });

  it("issued for one user: acts for that user only, filling in userId when the request names none", async () => {
    const key = await mint({ user_id: "alice" });
    const forBob = await call(key, "POST", "/totp/setup", { userId: "bob" });
    expect(forBob.statusCode).toBe(403);
    expect(forBob.json().code).toBe("FORBIDDEN");
    expect((await call(key, "GET", "/totp/status/bob")).statusCode).toBe(403);
    expect((await call(key, "DELETE", "/totp/bob")).statusCode).toBe(403);
    // No userId given: the key's user is used.
    expect((await call(key, "POST", "/totp/setup", {})).statusCode).toBe(200);
    const status = await t.app.inject({ method: "GET", url: "/api/v1/totp/status?userId=alice", headers: { "x-api-key": t.apiKey } });
    expect(status.json().data).toMatchObject({ enabled: false, pending: true });
    expect((await call(key, "GET", "/totp/status/alice")).statusCode).toBe(200);
  });

  it("never reaches another app's data: the same userId in app B is a different user", async () => {
    const other = await t.createTenant();
    await t.app.inject({ method: "POST", url: "/api/v1/totp/setup", headers: { "x-api-key": other.apiKey }, payload: { userId: "shared-name" } });
    const key = await mint();
    const res = await call(key, "POST", "/totp/status", { userId: "shared-name" });
    expect(res.statusCode).toBe(200);
    expect(res.json().data).toMatchObject({ enabled: false, pending: false });
  });
});
