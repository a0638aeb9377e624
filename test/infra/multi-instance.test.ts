/**
 * Two Latchkey instances on one database (and one Redis when REDIS_URL is set), as in a
 * scaled deployment: a key revoked on one stops working on the other within 5 s, and the
 * per-IP rate limit is shared through Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keysRepository } from "../../src/features/keys/keys.repository.ts";
import { createApiKey } from "../../src/features/keys/keys.service.ts";
import { createTestApp, type TestApp } from "../helpers/build-app.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/databases.ts";

describe("two instances, one database", () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    database = await createTestDatabase();
    // The deployment default cache TTL: the guarantee is "within 5 s" with it.
    a = await createTestApp({ database });
    b = await createTestApp({ database });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.close();
  });

  it("a key revoked through one instance stops working on the other within 5 s", async () => {
    const keys = keysRepository(database.db.prisma);
    const created = await createApiKey(keys, { appId: a.appId, kind: "secret" });
    const call = (t: TestApp) => t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": created.key } });
    expect((await call(a)).statusCode).toBe(200);
    expect((await call(b)).statusCode).toBe(200); // both instances now hold it in their cache

    await keys.revoke(created.id, new Date());
    const revokedAt = Date.now();
    const stillWorking = new Set(["a", "b"]);
    while (stillWorking.size > 0 && Date.now() - revokedAt < 6000) {
      for (const [name, t] of [["a", a], ["b", b]] as const) if ((await call(t)).statusCode === 401) stillWorking.delete(name);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect([...stillWorking]).toEqual([]);
    expect(Date.now() - revokedAt).toBeLessThan(5000);
  });
});

describe.runIf(Boolean(process.env.REDIS_URL))("rate limits shared through Redis", () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    database = await createTestDatabase();
    const namespace = `latchkey-test-shared:${Date.now()}:`;
    a = await createTestApp({ database, env: { RATE_LIMIT_GLOBAL_PER_MIN: "5" }, deps: { rateLimitNamespace: namespace } });
    b = await createTestApp({ database, env: { RATE_LIMIT_GLOBAL_PER_MIN: "5" }, deps: { rateLimitNamespace: namespace } });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.close();
  });

  it("the 6th request from one IP within a minute is refused whichever instance gets it", async () => {
    const call = (t: TestApp) => t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": t.apiKey }, remoteAddress: "198.51.100.7" });
    const statuses = [];
    for (const t of [a, b, a, b, a]) statuses.push((await call(t)).statusCode);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    const refused = await call(b);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ success: false, code: "RATE_LIMITED" });
    expect(Number(refused.headers["retry-after"])).toBeGreaterThan(0);
    expect(refused.headers["x-ratelimit-limit"]).toBe("5");
    expect(refused.headers["x-ratelimit-remaining"]).toBe("0");
  });
});

describe("rate limit without Redis (in memory)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_GLOBAL_PER_MIN: "3" }, deps: { redis: undefined } });
  });
  afterAll(async () => t?.close());

  it("refuses the 4th request in a minute with 429 RATE_LIMITED, Retry-After and X-RateLimit-*", async () => {
    const call = () => t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": t.apiKey }, remoteAddress: "203.0.113.9" });
    for (let i = 0; i < 3; i++) expect((await call()).statusCode).toBe(200);
    const refused = await call();
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ success: false, code: "RATE_LIMITED", error: expect.any(String) });
    expect(refused.headers["retry-after"]).toBeDefined();
    expect(refused.headers["x-ratelimit-reset"]).toBeDefined();
    // Another client is not affected; ops endpoints are never limited.
    expect((await t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": t.apiKey }, remoteAddress: "203.0.113.10" })).statusCode).toBe(200);
    expect((await t.app.inject({ method: "GET", url: "/health", remoteAddress: "203.0.113.9" })).statusCode).toBe(200);
  });
});
