/**
 * Database unreachable → 503 SERVICE_UNAVAILABLE in the envelope (no stack, no SQL), the server
 * keeps running, and it recovers by itself when the database is back. The outage is real: the
 * app talks to PostgreSQL through a TCP proxy the test cuts and restores. PostgreSQL only —
 * the embedded database lives inside the process and cannot become unreachable.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/infra/db.ts";
import { createTestApp, type TestApp } from "../helpers/build-app.ts";
import { createTestDatabase, onPostgres, type TestDatabase } from "../helpers/databases.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";

describe.runIf(onPostgres)("database outage (PostgreSQL)", () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let t: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase();
    const target = new URL(database.url!);
    proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    await proxy.start();
    const viaProxy = new URL(database.url!);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const db = await openDatabase({ url: viaProxy.toString(), poolSize: 4 });
    t = await createTestApp({ database: { ...database, db, close: async () => db.close() }, env: { API_KEY_CACHE_TTL_MS: "0" } });
  });
  afterAll(async () => {
    await t?.close();
    await proxy?.stop();
    await database?.close();
  });

  const getApp = () => t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": t.apiKey } });

  it("answers 503 SERVICE_UNAVAILABLE while the database is down, and recovers when it is back", async () => {
    expect((await getApp()).statusCode).toBe(200);

    const port = proxy.port;
    await proxy.stop();
    const during = await getApp();
    expect(during.statusCode).toBe(503);
    expect(during.json()).toEqual({ success: false, error: "service temporarily unavailable", code: "SERVICE_UNAVAILABLE" });
    expect(during.body).not.toMatch(/ECONNREFUSED|at .*\.ts|SELECT|stack/i);

    const ready = await t.app.inject({ method: "GET", url: "/ready" });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks.database).toBe("unreachable");
    expect((await t.app.inject({ method: "GET", url: "/health" })).statusCode).toBe(200);

    await proxy.start(port);
    let after = await getApp();
    for (let i = 0; i < 20 && after.statusCode !== 200; i++) {
      await new Promise((r) => setTimeout(r, 250));
      after = await getApp();
    }
    expect(after.statusCode).toBe(200);
    expect((await t.app.inject({ method: "GET", url: "/ready" })).statusCode).toBe(200);
  });
});
