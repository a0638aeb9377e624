/**
 * Apps and API keys through the admin API (API.md §9): create and list apps a page at a time,
 * settings patches that the channels obey at once (a code of the new length goes out) and
 * that refuse bad values with a 400 naming the field, and keys created, listed without
 * secrets, revoked (refused at once) and rotated.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/infra/clock.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { capturingSms } from "../otp/otp-fakes.ts";
import { auditRows, call, operator, type TestOperator } from "./admin-fixtures.ts";

const clock = new ManualClock(new Date("2026-11-22T07:00:00.000Z"));
const sms = capturingSms();
let t: TestApp;
let owner: TestOperator;

beforeAll(async () => {
  t = await createTestApp({ clock, deps: { sms }, env: { API_KEY_CACHE_TTL_MS: "5000" } });
  owner = await operator(t, "owner");
});
afterAll(async () => t?.close());

const appRequest = (key: string) => t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": key } });

describe("apps", () => {
  it("POST /apps creates an app with settings; GET shows stored and effective settings", async () => {
    const res = await call(t, owner, "POST", "/apps", { name: "  Shop  ", settings: { otp: { codeLength: 8 }, totp: { issuer: "Shop" } } });
    expect(res.statusCode, res.body).toBe(201);
    const app = res.json().data;
    expect(app).toMatchObject({ appId: expect.stringMatching(/^app_/), name: "Shop", settings: { otp: { codeLength: 8 }, totp: { issuer: "Shop" } } });
    expect(app.effectiveSettings).toMatchObject({ otp: { codeLength: 8, ttlSeconds: 180, maxAttempts: 5 }, totp: { issuer: "Shop", digits: 6 }, rateLimits: { globalPerMin: expect.any(Number) } });

    const read = await call(t, owner, "GET", `/apps/${app.appId}`);
    expect(read.statusCode).toBe(200);
    expect(read.json().data).toEqual(app);
    const [entry] = await auditRows(t, { action: "admin.apps.create", target: app.appId });
    expect(entry).toMatchObject({ actorType: "admin", actorId: owner.id, appId: app.appId, outcome: "success", ip: "127.0.0.1" });
  });

  it("GET /apps pages oldest first with nextCursor; a forged cursor is a 400", async () => {
    for (let i = 0; i < 4; i++) {
      clock.advance(1000);
      await call(t, owner, "POST", "/apps", { name: `Paged ${i}` });
    }
    const all = (await call(t, owner, "GET", "/apps?limit=100")).json().data;
    expect(all.nextCursor).toBeNull();
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await call(t, owner, "GET", `/apps?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.statusCode).toBe(200);
      const data = res.json().data as { apps: Array<{ appId: string }>; nextCursor: string | null };
      expect(data.apps.length).toBeLessThanOrEqual(2);
      seen.push(...data.apps.map((a) => a.appId));
      cursor = data.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all.apps.map((a: { appId: string }) => a.appId));
    expect(new Set(seen).size).toBe(seen.length);

    for (const bad of ["nonsense", Buffer.from("[1,2]").toString("base64url")]) {
      const res = await call(t, owner, "GET", `/apps?cursor=${bad}`);
      expect(res.statusCode).toBe(400);
      expect(res.json().details).toEqual([{ field: "query.cursor", message: expect.any(String) }]);
    }
    expect((await call(t, owner, "GET", "/apps?limit=101")).statusCode).toBe(400);
    expect((await call(t, owner, "GET", "/apps?limit=0")).statusCode).toBe(400);
  });
});

describe("PATCH /apps/:appId settings", () => {
  let phoneCounter = 0;
  const sendCode = async () => {
    clock.advance(60 * 60 * 1000); // past per-destination send limits
    const phone = `0101234${String(1000 + ++phoneCounter).slice(-4)}`;
    const res = await t.app.inject({ method: "POST", url: "/api/v1/otp/send", headers: { "x-api-key": t.apiKey }, payload: { phone } });
    expect(res.statusCode, res.body).toBe(200);
    return sms.lastCode(`+82${phone.slice(1)}`);
  };

  it("otp.codeLength takes effect at once: the next SMS carries a code of that length", async () => {
    expect(await sendCode()).toHaveLength(6);
    const res = await call(t, owner, "PATCH", `/apps/${t.appId}`, { settings: { otp: { codeLength: 8 } } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data.effectiveSettings.otp.codeLength).toBe(8);
    expect(await sendCode()).toHaveLength(8);
    expect((await appRequest(t.apiKey)).json().data.settings).toMatchObject({ otp: { codeLength: 8 } });
    const [entry] = await auditRows(t, { action: "admin.apps.update", appId: t.appId });
    expect(entry).toMatchObject({ outcome: "success", target: t.appId, details: { settings: { otp: { codeLength: 8 } } } });
  });

  it("merges into the stored settings (RFC 7396): other values stay, null restores a default", async () => {
    await call(t, owner, "PATCH", `/apps/${t.appId}`, { settings: { otp: { codeLength: 7, templates: { sms: { en: { text: "{code} is your code" } } } }, push: { maxPending: 5 } } });
    const res = await call(t, owner, "PATCH", `/apps/${t.appId}`, { name: "Renamed", settings: { otp: { ttlSeconds: 300, templates: { sms: { ko: { text: "[{appName}] {code}" } } } } } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toMatchObject({
      name: "Renamed",
      settings: { otp: { codeLength: 7, ttlSeconds: 300, templates: { sms: { en: { text: "{code} is your code" }, ko: { text: "[{appName}] {code}" } } } }, push: { maxPending: 5 } },
    });
    const reset = await call(t, owner, "PATCH", `/apps/${t.appId}`, { settings: { otp: { codeLength: null }, push: null } });
    expect(reset.statusCode).toBe(200);
    const data = reset.json().data;
    expect(data.settings.otp.codeLength).toBeUndefined();
    expect(data.settings.otp.ttlSeconds).toBe(300);
    expect(data.settings.push).toBeUndefined();
    expect(data.effectiveSettings.otp.codeLength).toBe(6);
    expect(await sendCode()).toHaveLength(6);
  });

  it("stores country codes upper-case and accepts the closed sections the channels read", async () => {
    const res = await call(t, owner, "PATCH", `/apps/${t.appId}`, {
      settings: {
        otp: { allowedCountries: ["kr", "US"], testDestinations: [{ destination: "01099998888", code: "123456" }] },
        webauthn: { rpId: "shop.example.com", origins: ["https://shop.example.com"], userVerification: "required" },
        rateLimits: { sendPerMin: 5 },
        mfa: { requiredOnVerify: true },
        totp: { digits: 8, periodSeconds: 60, algorithm: "SHA256" },
      },
    });
    expect(res.statusCode, res.body).toBe(200);
    const data = res.json().data;
    expect(data.settings.otp.allowedCountries).toEqual(["KR", "US"]);
    expect(data.effectiveSettings).toMatchObject({
      webauthn: { rpId: "shop.example.com", origins: ["https://shop.example.com"], userVerification: "required" },
      rateLimits: { sendPerMin: 5 },
      mfa: { requiredOnVerify: true },
      totp: { digits: 8, periodSeconds: 60, algorithm: "SHA256" },
    });
  });

  it.each([
    ["a code length out of range", { settings: { otp: { codeLength: 11 } } }, "body.settings.otp.codeLength"],
    ["a string where a number goes", { settings: { otp: { ttlSeconds: "300" } } }, "body.settings.otp.ttlSeconds"],
    ["an unknown setting", { settings: { otp: { codeLenght: 8 } } }, "body.settings.otp.codeLenght"],
    ["an unknown section", { settings: { sms: { codeLength: 8 } } }, "body.settings.sms"],
    ["an unknown top-level field", { colour: "red" }, "body.colour"],
    ["TOTP digits other than 6 or 8", { settings: { totp: { digits: 7 } } }, "body.settings.totp.digits"],
    ["an origin with a path", { settings: { webauthn: { origins: ["https://shop.example.com/login"] } } }, "body.settings.webauthn.origins.0"],
    ["an origin that does not parse", { settings: { webauthn: { origins: ["https://exa mple.com"] } } }, "body.settings.webauthn.origins.0"],
    ["an rpId with a scheme", { settings: { webauthn: { rpId: "https://shop.example.com" } } }, "body.settings.webauthn.rpId"],
    ["a test destination that is neither phone nor email", { settings: { otp: { testDestinations: [{ destination: "nobody", code: "123456" }] } } }, "body.settings.otp.testDestinations.0.destination"],
    ["a rate limit of zero", { settings: { rateLimits: { verifyPerMin: 0 } } }, "body.settings.rateLimits.verifyPerMin"],
    ["a blank name", { name: "   " }, "body.name"],
  ])("refuses %s with 400 naming the field, and stores nothing", async (_name, body, field) => {
    const before = await t.database.db.prisma.app.findUniqueOrThrow({ where: { id: t.appId } });
    const res = await call(t, owner, "PATCH", `/apps/${t.appId}`, body);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().code).toBe("VALIDATION_ERROR");
    expect((res.json().details as Array<{ field: string }>).map((d) => d.field)).toContain(field);
    const after = await t.database.db.prisma.app.findUniqueOrThrow({ where: { id: t.appId } });
    expect(after.settings).toEqual(before.settings);
    expect(after.name).toBe(before.name);
  });

  it("an empty patch is a 400; an unknown app a 404", async () => {
    expect((await call(t, owner, "PATCH", `/apps/${t.appId}`, {})).statusCode).toBe(400);
    expect((await call(t, owner, "PATCH", "/apps/app_nope", { name: "x" })).statusCode).toBe(404);
  });
});

describe("keys", () => {
  it("creates a secret key shown once that works, and a publishable pk_ key", async () => {
    const res = await call(t, owner, "POST", `/apps/${t.appId}/keys`, { kind: "secret", name: "backend" });
    expect(res.statusCode, res.body).toBe(201);
    const created = res.json().data;
    expect(created).toEqual({
      id: expect.stringMatching(/^key_/),
      appId: t.appId,
      kind: "secret",
      name: "backend",
      prefix: created.key.slice(0, 12),
      createdAt: expect.any(String),
      lastUsedAt: null,
      revokedAt: null,
      key: expect.stringMatching(/^2fa_[A-Za-z0-9_-]{43}$/),
    });
    expect((await appRequest(created.key)).statusCode).toBe(200);

    const publishable = await call(t, owner, "POST", `/apps/${t.appId}/keys`, { kind: "publishable" });
    expect(publishable.statusCode).toBe(201);
    expect(publishable.json().data).toMatchObject({ kind: "publishable", name: null, key: expect.stringMatching(/^pk_/) });
    expect((await call(t, owner, "POST", `/apps/${t.appId}/keys`, { kind: "ephemeral" })).statusCode).toBe(400);
  });

  it("lists keys with prefix and dates, never the key or its hash, a page at a time", async () => {
    const created = (await call(t, owner, "POST", `/apps/${t.appId}/keys`, { kind: "secret", name: "listed" })).json().data;
    const res = await call(t, owner, "GET", `/apps/${t.appId}/keys?limit=100`);
    expect(res.statusCode).toBe(200);
    const keys = res.json().data.keys as Array<Record<string, unknown>>;
    const row = await t.database.db.prisma.apiKey.findUniqueOrThrow({ where: { id: created.id } });
    expect(res.body).not.toContain(created.key);
    expect(res.body).not.toContain(row.hash);
    expect(keys.find((k) => k.id === created.id)).toEqual({ ...created, key: undefined });
    expect(Object.keys(keys[0]!).sort()).toEqual(["appId", "createdAt", "id", "kind", "lastUsedAt", "name", "prefix", "revokedAt"]);

    const first = (await call(t, owner, "GET", `/apps/${t.appId}/keys?limit=1`)).json().data;
    expect(first.keys).toHaveLength(1);
    const second = (await call(t, owner, "GET", `/apps/${t.appId}/keys?limit=1&cursor=${first.nextCursor}`)).json().data;
    expect(second.keys[0].id).not.toBe(first.keys[0].id);
    expect(keys.map((k) => k.id).slice(0, 2)).toEqual([first.keys[0].id, second.keys[0].id]);
  });

  it("DELETE /keys/:keyId revokes: the key is refused at once despite the key cache", async () => {
    const created = (await call(t, owner, "POST", `/apps/${t.appId}/keys`, { kind: "secret" })).json().data;
    expect((await appRequest(created.key)).statusCode).toBe(200); // now cached for 5 s
    const res = await call(t, owner, "DELETE", `/keys/${created.id}`);
    expect(res.statusCode).toBe(200);
    expect(res.json().data).toMatchObject({ id: created.id, revokedAt: clock.now().toISOString() });
    expect((await appRequest(created.key)).statusCode).toBe(401);
    const [entry] = await auditRows(t, { action: "admin.keys.revoke", target: created.id });
    expect(entry).toMatchObject({ outcome: "success", appId: t.appId, actorId: owner.id });
    expect((await call(t, owner, "DELETE", "/keys/key_doesnotexist")).statusCode).toBe(404);
  });

  it("POST /keys/:keyId/rotate: a new key of the same kind and name, the old one refused", async () => {
    const old = (await call(t, owner, "POST", `/apps/${t.appId}/keys`, { kind: "secret", name: "rotating" })).json().data;
    expect((await appRequest(old.key)).statusCode).toBe(200);
    const res = await call(t, owner, "POST", `/keys/${old.id}/rotate`);
    expect(res.statusCode, res.body).toBe(201);
    const rotated = res.json().data;
    expect(rotated).toMatchObject({ kind: "secret", name: "rotating", appId: t.appId, replaces: old.id, revokedAt: null, key: expect.stringMatching(/^2fa_/) });
    expect(rotated.id).not.toBe(old.id);
    expect((await appRequest(rotated.key)).statusCode).toBe(200);
    expect((await appRequest(old.key)).statusCode).toBe(401);
    expect((await t.database.db.prisma.apiKey.findUniqueOrThrow({ where: { id: old.id } })).revokedAt).not.toBeNull();

    const again = await call(t, owner, "POST", `/keys/${old.id}/rotate`);
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe("CONFLICT");
  });

  it("two concurrent rotations of one key mint exactly one replacement", async () => {
    const old = (await call(t, owner, "POST", `/apps/${t.appId}/keys`, { kind: "publishable", name: "race" })).json().data;
    const results = await Promise.all([1, 2, 3].map(() => call(t, owner, "POST", `/keys/${old.id}/rotate`)));
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409]);
    expect(await t.database.db.prisma.apiKey.count({ where: { appId: t.appId, name: "race", revokedAt: null } })).toBe(1);
  });
});
