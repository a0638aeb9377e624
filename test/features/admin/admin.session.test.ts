/**
 * Operator sessions through the real HTTP stack (API.md §1, §9): login, me, refresh, logout —
 * a token is dead the moment its session is — 419 once expired, and every way in that must
 * fail: wrong password, unknown email (same answer), forged, tampered or foreign tokens, API
 * keys, too many attempts. Each attempt lands in the audit log.
 */
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keysRepository } from "../../../src/features/keys/keys.repository.ts";
import { createApiKey } from "../../../src/features/keys/keys.service.ts";
import { ManualClock } from "../../../src/infra/clock.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { auditRows, call, createOperator, freshIp, login, operator, PASSWORD } from "./admin-fixtures.ts";

const clock = new ManualClock(new Date("2026-11-22T07:00:00.000Z"));
const TOKEN_EXPIRATION_SECONDS = 3600;
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ clock, env: { TOKEN_EXPIRATION: String(TOKEN_EXPIRATION_SECONDS) } });
});
afterAll(async () => t?.close());

const decodeClaims = (token: string) => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;

describe("POST /admin/login", () => {
  it("answers a token, the operator and exp; the token is an HS256 JWT naming a session row", async () => {
    const owner = await createOperator(t, "owner");
    const res = await login(t, owner.email.toUpperCase());
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    const exp = new Date(clock.now().getTime() + TOKEN_EXPIRATION_SECONDS * 1000);
    expect(body).toEqual({
      success: true,
      message: expect.any(String),
      data: { token: expect.any(String), user: { id: owner.id, email: owner.email, role: "owner", appId: null }, exp: exp.toISOString() },
    });
    const token = body.data.token as string;
    expect(JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString("utf8"))).toMatchObject({ alg: "HS256", typ: "JWT" });
    const claims = decodeClaims(token);
    expect(claims).toMatchObject({ sub: owner.id, role: "owner", appId: null, iat: Math.floor(clock.now().getTime() / 1000), exp: exp.getTime() / 1000 });
    const session = await t.database.db.prisma.adminSession.findUniqueOrThrow({ where: { id: claims.jti as string } });
    expect(session).toMatchObject({ adminUserId: owner.id, revokedAt: null, expiresAt: exp });
    const row = await t.database.db.prisma.adminUser.findUniqueOrThrow({ where: { id: owner.id } });
    expect(row.lastLoginAt).toEqual(clock.now());
  });

  it("a wrong password answers 401 and is audited with the email and IP", async () => {
    const owner = await createOperator(t, "owner");
    const ip = freshIp();
    const res = await login(t, owner.email, "not the password at all", ip);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ success: false, code: "UNAUTHORIZED", error: "invalid email or password" });
    const [entry] = await auditRows(t, { action: "admin.login", ip });
    expect(entry).toMatchObject({ actorType: "anonymous", actorId: owner.id, outcome: "failure", details: { email: owner.email, status: 401 } });

    const good = await login(t, owner.email, PASSWORD, ip);
    expect(good.statusCode).toBe(200);
    const rows = await auditRows(t, { action: "admin.login", ip }, 2);
    expect(rows.find((r) => r.outcome === "success")).toMatchObject({ actorType: "admin", actorId: owner.id, details: { email: owner.email } });
  });

  it("an unknown email answers exactly like a wrong password, in comparable time", async () => {
    const owner = await createOperator(t, "owner");
    await login(t, "warm-up@example.com"); // the dummy hash is made on first use
    const time = async (email: string) => {
      const started = performance.now();
      const res = await login(t, email, "wrong password 123");
      return { res, ms: performance.now() - started };
    };
    const unknown = await time("nobody@example.com");
    const wrong = await time(owner.email);
    expect(unknown.res.statusCode).toBe(401);
    expect(unknown.res.body).toBe(wrong.res.body);
    // Both pay for one scrypt verification: neither is an order of magnitude faster.
    expect(unknown.ms).toBeGreaterThan(wrong.ms / 4);
    expect(wrong.ms).toBeGreaterThan(unknown.ms / 4);
  });

  it("refuses malformed bodies with 400 and never a 5xx", async () => {
    for (const payload of [{}, { email: "a@b.c" }, { email: "a@b.c", password: "x", extra: 1 }, { email: 1, password: "x" }, { email: "a@b.c", password: "x".repeat(2000) }]) {
      const res = await t.app.inject({ method: "POST", url: "/api/v1/admin/login", payload, remoteAddress: freshIp() });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().code).toBe("VALIDATION_ERROR");
    }
  });

  it("is rate limited per IP: the 11th attempt in a minute answers 429, audited too", async () => {
    const ip = freshIp();
    for (let i = 0; i < 10; i++) expect((await login(t, "nobody@example.com", "wrong", ip)).statusCode).toBe(401);
    const refused = await login(t, "nobody@example.com", "wrong", ip);
    expect(refused.statusCode).toBe(429);
    expect(refused.json().code).toBe("RATE_LIMITED");
    expect(refused.headers["retry-after"]).toBeDefined();
    // Another IP is unaffected.
    expect((await login(t, "nobody@example.com", "wrong")).statusCode).toBe(401);
    const rows = await auditRows(t, { action: "admin.login", ip }, 11);
    expect(rows.filter((r) => r.outcome === "failure")).toHaveLength(11);
    expect(rows.filter((r) => (r.details as { status?: number }).status === 429)).toHaveLength(1);
  });
});

describe("me, refresh, logout", () => {
  it("GET /admin/me answers the session's operator", async () => {
    const owner = await operator(t, "owner");
    const res = await call(t, owner, "GET", "/me");
    expect(res.statusCode).toBe(200);
    expect(res.json().data).toEqual({ user: { id: owner.id, email: owner.email, role: "owner", appId: null }, exp: expect.any(String) });
  });

  it("refresh-token gives a new working token and kills the old one", async () => {
    const owner = await operator(t, "owner");
    clock.advance(10_000);
    const res = await call(t, owner, "POST", "/refresh-token");
    expect(res.statusCode, res.body).toBe(200);
    const data = res.json().data;
    expect(data).toEqual({ token: expect.any(String), refreshedAt: expect.any(String), exp: expect.any(String) });
    expect(new Date(data.exp).getTime() - new Date(data.refreshedAt).getTime()).toBe(TOKEN_EXPIRATION_SECONDS * 1000);
    expect(data.token).not.toBe(owner.token);

    expect((await call(t, { authorization: `Bearer ${data.token}` }, "GET", "/me")).statusCode).toBe(200);
    const old = await call(t, owner, "GET", "/me");
    expect(old.statusCode).toBe(401);
    expect((await call(t, owner, "POST", "/refresh-token")).statusCode).toBe(401);
    await auditRows(t, { action: "admin.refresh", actorId: owner.id, outcome: "success" });
  });

  it("logout: the token stops working at once", async () => {
    const owner = await operator(t, "owner");
    expect((await call(t, owner, "GET", "/me")).statusCode).toBe(200);
    const res = await call(t, owner, "POST", "/logout");
    expect(res.statusCode).toBe(200);
    expect(res.json().data).toEqual({ loggedOut: true });
    const after = await call(t, owner, "GET", "/me");
    expect(after.statusCode).toBe(401);
    expect(after.json().code).toBe("UNAUTHORIZED");
    expect((await call(t, owner, "GET", "/apps")).statusCode).toBe(401);
    await auditRows(t, { action: "admin.logout", actorId: owner.id, outcome: "success" });
    const [refused] = await auditRows(t, { action: "admin.auth", actorId: owner.id });
    expect(refused).toMatchObject({ outcome: "failure", details: { reason: "revoked" } });
  });

  it("the role comes from the database on every request, not from the token", async () => {
    const viewer = await operator(t, "viewer");
    expect((await call(t, viewer, "POST", "/apps", { name: "x" })).statusCode).toBe(403);
    await t.database.db.prisma.adminUser.update({ where: { id: viewer.id }, data: { role: "owner" } });
    expect((await call(t, viewer, "POST", "/apps", { name: "promoted" })).statusCode).toBe(201);
  });
});

describe("refused credentials", () => {
  it("an expired token answers 419 TOKEN_EXPIRED, audited as the operator's", async () => {
    const owner = await operator(t, "owner");
    clock.advance(TOKEN_EXPIRATION_SECONDS * 1000 + 1000);
    const res = await call(t, owner, "GET", "/me");
    expect(res.statusCode).toBe(419);
    expect(res.json()).toMatchObject({ success: false, code: "TOKEN_EXPIRED" });
    expect((await call(t, owner, "POST", "/refresh-token")).statusCode).toBe(419);
    const [entry] = await auditRows(t, { action: "admin.auth", actorId: owner.id });
    expect(entry).toMatchObject({ actorType: "admin", outcome: "failure", details: { reason: "expired" } });
  });

  it("no token, garbage, a tampered or foreign-key token: 401, audited as anonymous", async () => {
    const owner = await operator(t, "owner");
    const [header, payload, signature] = owner.token.split(".") as [string, string, string];
    const claims = decodeClaims(owner.token);
    const elevated = Buffer.from(JSON.stringify({ ...claims, role: "owner", sub: "adm_someone_else" })).toString("base64url");
    const foreign = await new SignJWT({ role: "owner", appId: null })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(owner.id)
      .setJti(claims.jti as string)
      .setAudience("latchkey-admin")
      .setIssuedAt(claims.iat as number)
      .setExpirationTime(claims.exp as number)
      .sign(new TextEncoder().encode("a key that is not the server's derived key"));
    const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${payload}.`;
    const cases: Array<[string, Record<string, string>]> = [
      ["no header", {}],
      ["not bearer", { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` }],
      ["garbage", { authorization: "Bearer not.a.jwt" }],
      ["tampered payload", { authorization: `Bearer ${header}.${elevated}.${signature}` }],
      ["signed with another key", { authorization: `Bearer ${foreign}` }],
      ["alg none", { authorization: `Bearer ${none}` }],
    ];
    for (const [name, headers] of cases) {
      const res = await call(t, headers, "GET", "/apps");
      expect(res.statusCode, name).toBe(401);
      expect(res.json().code, name).toBe("UNAUTHORIZED");
    }
    const rows = await auditRows(t, { action: "admin.auth", actorType: "anonymous", target: "GET /api/v1/admin/apps" }, cases.length);
    expect(rows.every((r) => r.outcome === "failure")).toBe(true);
  });

  it("API keys (secret, publishable, ephemeral) never open the admin API", async () => {
    const keys = keysRepository(t.database.db.prisma);
    const publishable = await createApiKey(keys, { appId: t.appId, kind: "publishable" });
    for (const key of [t.apiKey, publishable.key, "ek_somethingthatlookslikeanephemeralkey"]) {
      for (const headers of [{ authorization: `Bearer ${key}` }, { "x-api-key": key }] as Array<Record<string, string>>) {
        const res = await call(t, headers, "GET", "/apps");
        expect([401, 403], `${key.slice(0, 4)} ${Object.keys(headers)[0]}`).toContain(res.statusCode);
        expect(res.json().success).toBe(false);
      }
    }
    const [entry] = await auditRows(t, { action: "admin.auth", details: { equals: { reason: "api_key" } } });
    expect(entry).toMatchObject({ outcome: "failure", actorType: "anonymous" });
  });

  it("an admin token is no API key: the app routes refuse it", async () => {
    const owner = await operator(t, "owner");
    const res = await t.app.inject({ method: "GET", url: "/api/v1/app", headers: owner.headers });
    expect(res.statusCode).toBe(401);
  });
});
