/**
 * At least once (API.md §5): a delivery is attempted until a 2xx arrives, each attempt with a
 * deadline, failures retried on the (injected, millisecond) schedule with jitter, then
 * `failed` and visible; X-SecureKey-Delivery and the body are the same on every attempt; a
 * 3xx is a failure (never followed); every attempt is recorded (time, status, duration, error,
 * first 1 KiB of the answer); a failed delivery can be redelivered.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordEvent, type EventType } from "../../../src/infra/events.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { flaskStyleVerifies, headerOf, startReceiver, type Receiver } from "./webhook-receiver.ts";

const SCHEDULE_MS = [150, 300];
const TIMEOUT_MS = 1500;

let t: TestApp;
const receivers: Receiver[] = [];

beforeAll(async () => {
  t = await createTestApp({
    env: { WEBHOOK_ALLOW_PRIVATE: "true" },
    deps: { webhooks: { retryScheduleMs: SCHEDULE_MS, attemptTimeoutMs: TIMEOUT_MS, pollIntervalMs: 50 } },
  });
});
afterAll(async () => {
  await t?.close();
  for (const receiver of receivers) await receiver.close();
});

async function receiver(): Promise<Receiver> {
  const started = await startReceiver();
  receivers.push(started);
  return started;
}

async function endpoint(url: string): Promise<{ id: string; secret: string }> {
  const res = await t.app.inject({ method: "POST", url: "/api/v1/webhooks", headers: { "x-api-key": t.apiKey }, payload: { url } });
  expect(res.statusCode).toBe(201);
  return res.json().data;
}

async function record(type: EventType = "verification.failed") {
  return t.database.db.prisma.$transaction((tx) => recordEvent(tx, { appId: t.appId, type, channel: "sms", externalUserId: "user_1", data: { purpose: "login" }, at: new Date() }));
}

async function deliveries(endpointId: string) {
  const res = await t.app.inject({ method: "GET", url: `/api/v1/webhooks/${endpointId}/deliveries`, headers: { "x-api-key": t.apiKey } });
  return res.json().data.deliveries as Array<{ id: string; status: string; attemptCount: number; lastError: string | null; nextAttemptAt: string | null; attempts: Array<{ statusCode: number | null; durationMs: number; error: string | null; responseBody: string | null; attemptedAt: string }> }>;
}

async function settled(endpointId: string, status: "succeeded" | "failed", timeoutMs = 8000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await deliveries(endpointId);
    if (list.length > 0 && list.every((d) => d.status === status)) return list;
    if (Date.now() > deadline) throw new Error(`deliveries not ${status}: ${JSON.stringify(list.map((d) => [d.status, d.attemptCount, d.attempts.map((a) => [a.statusCode, a.error])]))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("retries", () => {
  it("retries a failing receiver until it answers 2xx; the delivery id and body stay the same", async () => {
    const hooks = await receiver();
    let calls = 0;
    hooks.handle((_req, res) => {
      calls++;
      if (calls < 3) res.writeHead(500, { "content-type": "text/plain" }).end(`boom ${calls} ${"x".repeat(5000)}`);
      else res.writeHead(204).end();
    });
    const { id, secret } = await endpoint(hooks.url);
    const payload = await record();
    const requests = await hooks.waitFor(3);
    const [list] = [await settled(id, "succeeded")];

    expect(new Set(requests.map((r) => headerOf(r, "x-securekey-delivery"))).size).toBe(1);
    expect(new Set(requests.map((r) => r.rawBody.toString("utf8")))).toEqual(new Set([JSON.stringify(payload)]));
    for (const request of requests) expect(flaskStyleVerifies(request, secret)).toBe(true);
    // Backoff with ±20 % jitter: the gaps follow the schedule.
    expect(requests[1]!.receivedAt - requests[0]!.receivedAt).toBeGreaterThanOrEqual(SCHEDULE_MS[0]! * 0.8 - 10);
    expect(requests[2]!.receivedAt - requests[1]!.receivedAt).toBeGreaterThanOrEqual(SCHEDULE_MS[1]! * 0.8 - 10);

    const delivery = list[0]!;
    expect(delivery).toMatchObject({ id: headerOf(requests[0]!, "x-securekey-delivery"), status: "succeeded", attemptCount: 3, lastError: null, nextAttemptAt: null });
    expect(delivery.attempts.map((a) => [a.statusCode, a.error])).toEqual([[500, "HTTP 500"], [500, "HTTP 500"], [204, null]]);
    // The first 1 KiB of each answer is kept.
    expect(delivery.attempts[0]!.responseBody).toHaveLength(1024);
    expect(delivery.attempts[0]!.responseBody!.startsWith("boom 1 xxx")).toBe(true);
    expect(delivery.attempts[2]!.responseBody).toBeNull();
    for (const attempt of delivery.attempts) expect(attempt.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("gives up after the schedule: the delivery is failed and visible; a redelivery makes one more attempt", async () => {
    const hooks = await receiver();
    hooks.handle((_req, res) => res.writeHead(503, { "content-type": "application/json" }).end('{"error":"점검 중"}'));
    const { id } = await endpoint(hooks.url);
    await record("push.expired");
    const [failed] = await settled(id, "failed");
    expect(hooks.requests).toHaveLength(SCHEDULE_MS.length + 1);
    expect(failed).toMatchObject({ status: "failed", attemptCount: 3, lastError: "HTTP 503", nextAttemptAt: null });
    expect(failed!.attempts.map((a) => a.responseBody)).toEqual(['{"error":"점검 중"}', '{"error":"점검 중"}', '{"error":"점검 중"}']);
    await new Promise((r) => setTimeout(r, 500));
    expect(hooks.requests).toHaveLength(3); // nothing after giving up

    const metrics = await t.app.inject({ method: "GET", url: "/metrics" });
    expect(Number(/latchkey_webhook_deliveries_total\{outcome="failed"\} (\d+)/.exec(metrics.body)?.[1])).toBeGreaterThanOrEqual(1);
    expect(Number(/latchkey_webhook_deliveries_total\{outcome="retry_scheduled"\} (\d+)/.exec(metrics.body)?.[1])).toBeGreaterThanOrEqual(2);
    expect(metrics.body).toMatch(/latchkey_webhook_attempt_duration_seconds_count\{result="5xx"\} [1-9]/);

    hooks.handle((_req, res) => res.writeHead(200).end("back"));
    const redelivered = await t.app.inject({ method: "POST", url: `/api/v1/webhooks/deliveries/${failed!.id}/redeliver`, headers: { "x-api-key": t.apiKey }, payload: {} });
    expect(redelivered.statusCode).toBe(200);
    const [done] = await settled(id, "succeeded");
    expect(done).toMatchObject({ id: failed!.id, attemptCount: 4, lastError: null });
    expect(new Set(hooks.requests.map((r) => headerOf(r, "x-securekey-delivery")))).toEqual(new Set([failed!.id]));
  });

  it("an attempt without an answer in time is a failure (timeout), and is retried", async () => {
    const hooks = await receiver();
    let calls = 0;
    hooks.handle((_req, res) => {
      calls++;
      if (calls > 1) res.writeHead(200).end("ok"); // the first request is never answered
    });
    const { id } = await endpoint(hooks.url);
    await record();
    const [delivery] = await settled(id, "succeeded");
    const [first, second] = delivery!.attempts;
    expect(first).toMatchObject({ statusCode: null, error: expect.stringMatching(/^timed out/) });
    expect(first!.durationMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(first!.durationMs).toBeLessThan(TIMEOUT_MS + 1500);
    expect(second).toMatchObject({ statusCode: 200, error: null });
  });

  it("a receiver that refuses the connection is retried (network error recorded)", async () => {
    const hooks = await receiver();
    const { id } = await endpoint(hooks.url);
    const port = hooks.port;
    await hooks.close();
    await record();
    const deadline = Date.now() + 5000;
    let list = await deliveries(id);
    while (!(list[0]?.attemptCount) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      list = await deliveries(id);
    }
    expect(list[0]!.attempts[0]).toMatchObject({ statusCode: null, error: expect.stringMatching(/ECONNREFUSED/) });
    // Up again on the same port: the retry delivers.
    const back = await startReceiver({ port });
    receivers.push(back);
    await settled(id, "succeeded");
    expect(back.requests).toHaveLength(1);
  });
});

describe("redirects", () => {
  it("a 3xx is a failed attempt and is never followed", async () => {
    const elsewhere = await receiver();
    const hooks = await receiver();
    hooks.handle((_req, res) => res.writeHead(307, { location: elsewhere.url }).end());
    const { id } = await endpoint(hooks.url);
    await record();
    const [failed] = await settled(id, "failed");
    expect(failed!.attempts).toHaveLength(3);
    expect(failed!.attempts[0]).toMatchObject({ statusCode: 307, error: `HTTP 307: redirects are not followed (Location: ${elsewhere.url})` });
    expect(elsewhere.requests).toEqual([]);
  });
});
