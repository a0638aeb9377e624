/**
 * What each credential may do (API.md §1, §7) and that every refusal leaves an audit entry (§9).
 * Attacks: a publishable key (public by design, it ships in web pages) used to send SMS, read
 * the app or mint keys; guessed keys; an expired or out-of-network ephemeral key.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/infra/clock.ts";
import { keysRepository } from "../../../src/features/keys/keys.repository.ts";
import { createApiKey } from "../../../src/features/keys/keys.service.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";

describe("publishable keys: browser-safe calls only", () => {
  let t: TestApp;
  let pk: string;
  beforeAll(async () => {
    t = await createTestApp();
    pk = (await createApiKey(keysRepository(t.database.db.prisma), { appId: t.appId, kind: "publishable" })).key;
  });
  afterAll(async () => t?.close());

  const call = (method: "GET" | "POST", url: string, payload?: object) =>
    t.app.inject({ method, url: `/api/v1${url}`, headers: { "x-api-key": pk }, ...(payload ? { payload } : {}) });

  it("may ask for WebAuthn options and poll a push answer", async () => {
    expect((await call("POST", "/webauthn/register/options", { userId: "pk-user" })).statusCode).toBe(200);
    expect((await call("POST", "/webauthn/authenticate/options", {})).statusCode).toBe(200);
    // Through authentication to the service: the request does not exist.
    expect((await call("POST", "/push/verify", { requestId: "push_doesnotexist" })).statusCode).toBe(404);
  });

  it.each([
    ["POST", "/otp/send", { phone: "01012345678" }],
    ["POST", "/email-otp/send", { email: "a@example.com" }],
    ["POST", "/totp/setup", { userId: "pk-user" }],
    ["POST", "/push/send", { userId: "pk-user" }],
    ["GET", "/app", undefined],
    ["GET", "/webhooks", undefined],
    ["GET", "/webauthn/credentials?userId=pk-user", undefined],
    ["POST", "/auth/ephemeral", {}],
  ] as const)("is refused %s %s with 403 FORBIDDEN", async (method, url, payload) => {
    const res = await call(method, url, payload);
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ success: false, code: "FORBIDDEN" });
  });
});

describe("authentication failures are audited", () => {
  let t: TestApp;
  const clock = new ManualClock(new Date("2026-11-22T08:00:00.000Z"));
  beforeAll(async () => {
    t = await createTestApp({ clock });
  });
  afterAll(async () => t?.close());

  const auditRows = () => t.database.db.prisma.auditLog.findMany({ orderBy: { createdAt: "asc" } });

  it("records unknown keys, expired and out-of-network ephemeral keys with IP, outcome and reason — never the key", async () => {
    const guessed = `2fa_${"A".repeat(43)}`;
    expect((await t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": guessed }, remoteAddress: "203.0.113.77" })).statusCode).toBe(401);
    const mint = async (payload: object) =>
      (await t.app.inject({ method: "POST", url: "/api/v1/auth/ephemeral", headers: { "x-api-key": t.apiKey }, payload })).json().ephemeral_key as string;
    const expiring = await mint({ epi: 1000 });
    const fenced = await mint({ ipa: "10.0.0.0/8" });
    clock.advance(1000);
    expect((await t.app.inject({ method: "POST", url: "/api/v1/totp/status", headers: { "x-api-key": expiring }, payload: { userId: "u" } })).statusCode).toBe(419);
    expect((await t.app.inject({ method: "POST", url: "/api/v1/totp/status", headers: { "x-api-key": fenced }, payload: { userId: "u" }, remoteAddress: "192.0.2.1" })).statusCode).toBe(403);

    await expect.poll(async () => (await auditRows()).length, { timeout: 3000 }).toBeGreaterThanOrEqual(3);
    const reasonOf = (r: { details: unknown }) => (r.details as { reason: string }).reason;
    const rows = (await auditRows()).sort((x, y) => reasonOf(x).localeCompare(reasonOf(y)));
    expect(rows.map((r) => [r.actorType, r.outcome, reasonOf(r)])).toEqual([
      ["ephemeral_key", "failure", "expired"],
      ["ephemeral_key", "denied", "ip not allowed"],
      ["anonymous", "failure", "unknown or revoked key"],
    ]);
    expect(rows[2]).toMatchObject({ ip: "203.0.113.77", action: "auth.api_key", target: "GET /api/v1/app", appId: null });
    expect(rows[0]).toMatchObject({ appId: t.appId, ip: "127.0.0.1", target: "POST /api/v1/totp/status" });
    expect(JSON.stringify(rows)).not.toContain(guessed);
    expect(JSON.stringify(rows)).not.toContain(expiring);
  });
});
