/**
 * GET /api/v1/app and API-key authentication through the real HTTP stack (API.md §1, §2).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keysRepository } from "../../../src/features/keys/keys.repository.ts";
import { createApiKey, hashApiKey } from "../../../src/features/keys/keys.service.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: { API_KEY_CACHE_TTL_MS: "0" } });
});
afterAll(async () => t?.close());

describe("GET /api/v1/app", () => {
  it("answers the calling key's app in the envelope, with X-API-Key", async () => {
    const res = await t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": t.apiKey } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      success: true,
      data: { appId: t.appId, name: "Test App", settings: {}, createdAt: expect.any(String) },
    });
    expect(res.headers["x-request-id"]).toBeTruthy();
  });

  it("accepts the key as Authorization: Bearer", async () => {
    const res = await t.app.inject({ method: "GET", url: "/api/v1/app", headers: { authorization: `Bearer ${t.apiKey}` } });
    expect(res.statusCode).toBe(200);
    expect(res.json().data.appId).toBe(t.appId);
  });

  it("answers each tenant's own app", async () => {
    const other = await t.createTenant("Other");
    const res = await t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": other.apiKey } });
    expect(res.json().data).toMatchObject({ appId: other.appId, name: "Other" });
  });
});

describe("authentication failures", () => {
  it.each([
    ["no key", {}],
    ["an unknown key", { "x-api-key": "2fa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }],
    ["a malformed bearer header", { authorization: "Basic abc" }],
    ["an empty key", { "x-api-key": "" }],
  ])("%s → 401 UNAUTHORIZED in the envelope", async (_name, headers) => {
    const res = await t.app.inject({ method: "GET", url: "/api/v1/app", headers });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ success: false, code: "UNAUTHORIZED", error: expect.any(String) });
  });

  it("a revoked key stops working", async () => {
    const keys = keysRepository(t.database.db.prisma);
    const created = await createApiKey(keys, { appId: t.appId, kind: "secret" });
    const before = await t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": created.key } });
    expect(before.statusCode).toBe(200);
    await keys.revoke(created.id, new Date());
    const after = await t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": created.key } });
    expect(after.statusCode).toBe(401);
  });

  it("a publishable key may not call a secret-key route (403 FORBIDDEN)", async () => {
    const created = await createApiKey(keysRepository(t.database.db.prisma), { appId: t.appId, kind: "publishable" });
    expect(created.key.startsWith("pk_")).toBe(true);
    const res = await t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": created.key } });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe("FORBIDDEN");
  });

  it("keys are stored only as hashes", async () => {
    const rows = await t.database.db.query<{ hash: string; prefix: string }>("SELECT hash, prefix FROM api_keys WHERE app_id = $1", [t.appId]);
    expect(rows.some((r) => r.hash === hashApiKey(t.apiKey))).toBe(true);
    const everything = JSON.stringify(await t.database.db.query("SELECT * FROM api_keys"));
    expect(everything).not.toContain(t.apiKey);
  });
});
