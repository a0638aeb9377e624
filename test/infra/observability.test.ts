/**
 * Ops endpoints and logs: /health, /ready, /metrics with route labels, and secrets never logged.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../helpers/build-app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ captureLogs: true });
});
afterAll(async () => t?.close());

describe("ops endpoints", () => {
  it("GET /health answers without a key", async () => {
    const res = await t.app.inject({ method: "GET", url: "/health" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: "ok" });
  });

  it("GET /ready checks the database and migrations", async () => {
    const res = await t.app.inject({ method: "GET", url: "/ready" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: "ready", checks: { database: "ok", migrations: "ok" } });
  });

  it("GET /ready answers 503 while a committed migration is not applied", async () => {
    const [latest] = await t.database.db.query<{ id: string }>(`SELECT id FROM "_prisma_migrations" ORDER BY migration_name DESC LIMIT 1`);
    await t.database.db.query(`UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE id = $1`, [latest!.id]);
    try {
      const res = await t.app.inject({ method: "GET", url: "/ready" });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ status: "not_ready", checks: { database: "ok", migrations: "pending" } });
    } finally {
      await t.database.db.query(`UPDATE "_prisma_migrations" SET rolled_back_at = NULL WHERE id = $1`, [latest!.id]);
    }
  });

  it("GET /metrics counts requests and latency by route template and status", async () => {
    await t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": t.apiKey } });
    await t.app.inject({ method: "GET", url: "/api/v1/app" });
    await t.app.inject({ method: "GET", url: "/no/such/route/12345" });
    const res = await t.app.inject({ method: "GET", url: "/metrics" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("text/plain");
    const text = res.body;
    expect(text).toMatch(/latchkey_http_requests_total\{method="GET",route="\/api\/v1\/app",status="200"\} 1/);
    expect(text).toMatch(/latchkey_http_requests_total\{method="GET",route="\/api\/v1\/app",status="401"\} 1/);
    expect(text).toMatch(/latchkey_http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/api\/v1\/app",status="200"\}/);
    expect(text).not.toContain("12345");
    expect(text).toContain("latchkey_process_resident_memory_bytes");
  });
});

describe("logs", () => {
  it("are JSON with request ids, and never contain keys or authorization headers", async () => {
    await t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": t.apiKey, "x-request-id": "req-abc-123" } });
    await t.app.inject({ method: "GET", url: "/api/v1/app", headers: { authorization: `Bearer ${t.apiKey}` } });
    const text = JSON.stringify(t.logs);
    expect(t.logs.length).toBeGreaterThan(0);
    expect(t.logs.some((line) => line.reqId === "req-abc-123")).toBe(true);
    expect(text).not.toContain(t.apiKey);
    expect(text).not.toContain(t.apiKey.slice(4, 20));
  });

  it("mask query-string values (phone numbers and emails are personal data)", async () => {
    await t.app.inject({ method: "GET", url: "/api/v1/app?phone=01099998888&email=someone%40example.com", headers: { "x-api-key": t.apiKey } });
    const text = JSON.stringify(t.logs);
    expect(text).not.toContain("01099998888");
    expect(text).not.toContain("someone");
    expect(t.logs.some((line) => (line.req as { url?: string } | undefined)?.url === "/api/v1/app?phone=[redacted]&email=[redacted]")).toBe(true);
  });

  it("echo the request id to the client", async () => {
    const res = await t.app.inject({ method: "GET", url: "/health", headers: { "x-request-id": "trace-42" } });
    expect(res.headers["x-request-id"]).toBe("trace-42");
  });
});
