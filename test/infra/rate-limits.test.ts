/**
 * Rate limits (API.md §3): per-app overrides of the deployment's budgets, OTP sends shared across
 * instances through Redis, and a Redis outage degrading to per-instance memory counters — with a
 * warning, never a 5xx and never "no limit".
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../helpers/build-app.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/databases.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";

async function setAppSettings(t: TestApp, appId: string, settings: object): Promise<void> {
  await t.database.db.prisma.app.update({ where: { id: appId }, data: { settings } });
}

describe("per-app rate-limit overrides", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_GLOBAL_PER_MIN: "1000", RATE_LIMIT_SEND_PER_MIN: "3" }, deps: { redis: undefined } });
  });
  afterAll(async () => t?.close());

  it("an app's globalPerMin replaces the deployment's for its keys only", async () => {
    const strict = await t.createTenant("strict");
    await setAppSettings(t, strict.appId, { rateLimits: { globalPerMin: 2 } });
    const get = (key: string, ip: string) => t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": key }, remoteAddress: ip });
    expect((await get(strict.apiKey, "203.0.113.20")).statusCode).toBe(200);
    expect((await get(strict.apiKey, "203.0.113.20")).statusCode).toBe(200);
    const refused = await get(strict.apiKey, "203.0.113.20");
    expect(refused.statusCode).toBe(429);
    expect(refused.headers["x-ratelimit-limit"]).toBe("2");
    // The default app keeps the deployment's 1000 per minute.
    const other = await get(t.apiKey, "203.0.113.21");
    expect(other.statusCode).toBe(200);
    expect(other.headers["x-ratelimit-limit"]).toBe("1000");
  });

  it("an app's sendPerMin can loosen the 3 sends per minute per IP", async () => {
    const loose = await t.createTenant("loose");
    await setAppSettings(t, loose.appId, { rateLimits: { sendPerMin: 5 } });
    const send = (key: string, phone: string, ip: string) =>
      t.app.inject({ method: "POST", url: "/api/v1/otp/send", headers: { "x-api-key": key }, payload: { phone }, remoteAddress: ip });
    for (let i = 0; i < 5; i++) expect((await send(loose.apiKey, `0101234000${i}`, "198.51.100.30")).statusCode).toBe(200);
    expect((await send(loose.apiKey, "01012340009", "198.51.100.30")).statusCode).toBe(429);
    for (let i = 0; i < 3; i++) expect((await send(t.apiKey, `0105678000${i}`, "198.51.100.31")).statusCode).toBe(200);
    const refused = await send(t.apiKey, "01056780009", "198.51.100.31");
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ success: false, code: "RATE_LIMITED" });
  });
});

describe.runIf(Boolean(process.env.REDIS_URL))("OTP send limit shared through Redis", () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    database = await createTestDatabase();
    const namespace = `latchkey-test-send:${Date.now()}:`;
    const env = { RATE_LIMIT_SEND_PER_MIN: "3" };
    a = await createTestApp({ database, env, deps: { rateLimitNamespace: namespace } });
    b = await createTestApp({ database, env, deps: { rateLimitNamespace: namespace } });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.close();
  });

  it("the 4th OTP send from one IP within a minute is refused whichever instance gets it", async () => {
    const send = (t: TestApp, phone: string) =>
      t.app.inject({ method: "POST", url: "/api/v1/otp/send", headers: { "x-api-key": a.apiKey }, payload: { phone }, remoteAddress: "192.0.2.44" });
    const statuses = [(await send(a, "01011110001")).statusCode, (await send(b, "01011110002")).statusCode, (await send(a, "01011110003")).statusCode];
    expect(statuses).toEqual([200, 200, 200]);
    for (const t of [b, a]) {
      const refused = await send(t, "01011110004");
      expect(refused.statusCode).toBe(429);
      expect(refused.headers["x-ratelimit-limit"]).toBe("3");
    }
  });
});

describe.runIf(Boolean(process.env.REDIS_URL))("Redis outage", () => {
  let t: TestApp;
  let proxy: TcpProxy;
  let redis: Redis;
  beforeAll(async () => {
    const target = new URL(process.env.REDIS_URL!);
    proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
    await proxy.start();
    const viaProxy = new URL(process.env.REDIS_URL!);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    redis = new Redis(viaProxy.toString(), { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    redis.on("error", () => undefined);
    await new Promise<void>((resolve) => (redis.status === "ready" ? resolve() : redis.once("ready", () => resolve())));
    t = await createTestApp({ env: { RATE_LIMIT_GLOBAL_PER_MIN: "4" }, captureLogs: true, deps: { redis, rateLimitNamespace: `latchkey-test-outage:${Date.now()}:` } });
  });
  afterAll(async () => {
    await t?.close();
    redis?.disconnect();
    await proxy?.stop();
  });

  const get = (ip: string) => t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": t.apiKey }, remoteAddress: ip });

  it("keeps limiting in memory while Redis is unreachable, logs a warning, never answers 5xx, and shares again once it is back", async () => {
    expect((await get("198.51.100.60")).statusCode).toBe(200);
    await proxy.stop();
    await new Promise((r) => setTimeout(r, 100));

    const during = [];
    for (let i = 0; i < 5; i++) during.push((await get("198.51.100.61")).statusCode);
    expect(during).toEqual([200, 200, 200, 200, 429]);
    expect(t.logs.some((l) => l.level === 40 && String(l.msg).includes("rate limits now count in this instance's memory"))).toBe(true);

    await proxy.start(proxy.port);
    await new Promise<void>((resolve) => (redis.status === "ready" ? resolve() : redis.once("ready", () => resolve())));
    // After the retry pause the store goes back to Redis, where this IP has no count yet.
    await new Promise((r) => setTimeout(r, 5_100));
    expect((await get("198.51.100.62")).statusCode).toBe(200);
    expect(t.logs.some((l) => String(l.msg).includes("Redis is back"))).toBe(true);
  }, 20_000);
});
