/**
 * Bounded, shared work: a receiver that hangs holds at most its endpoint's slots and never
 * stalls the others; two workers on one database deliver every event once (SKIP LOCKED
 * claims, no attempt sent twice); a receiver that comes back gets its waiting retries at once
 * instead of after their backoff.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordEvent } from "../../../src/infra/events.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { createTestDatabase, type TestDatabase } from "../../helpers/databases.ts";
import { headerOf, startReceiver, type Receiver } from "./webhook-receiver.ts";

const receivers: Receiver[] = [];
async function receiver(options: Parameters<typeof startReceiver>[0] = {}): Promise<Receiver> {
  const started = await startReceiver(options);
  receivers.push(started);
  return started;
}
afterAll(async () => {
  for (const r of receivers) await r.close();
});

async function endpoint(t: TestApp, url: string): Promise<string> {
  const res = await t.app.inject({ method: "POST", url: "/api/v1/webhooks", headers: { "x-api-key": t.apiKey }, payload: { url } });
  expect(res.statusCode).toBe(201);
  return res.json().data.id;
}

async function count(database: Pick<TestDatabase, "db">, sql: string, params: unknown[] = []): Promise<number> {
  return (await database.db.query<{ n: number }>(sql, params))[0]!.n;
}

const eventIdOf = (body: Buffer) => (JSON.parse(body.toString("utf8")) as { id: string }).id;

describe("one worker, slow receivers", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      env: { WEBHOOK_ALLOW_PRIVATE: "true" },
      deps: { webhooks: { concurrency: 4, endpointConcurrency: 2, attemptTimeoutMs: 5000, retryScheduleMs: [60_000], pollIntervalMs: 50, stopGraceMs: 100 } },
    });
  });
  afterAll(async () => t?.close());

  const record = (count: number) =>
    t.database.db.prisma.$transaction(async (tx) => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) ids.push((await recordEvent(tx, { appId: t.appId, type: "otp.sent", channel: "sms", data: { n: i }, at: new Date() })).id);
      return ids;
    });

  it("a receiver that never answers holds at most its endpoint's slots; the other endpoint gets everything at once", async () => {
    let open = 0;
    let maxOpen = 0;
    const hanging = await receiver({
      handler: (_req, res) => {
        open++;
        maxOpen = Math.max(maxOpen, open);
        res.on("close", () => open--);
        // never answers
      },
    });
    let busy = 0;
    let maxBusy = 0;
    const healthy = await receiver({
      handler: (_req, res) => {
        busy++;
        maxBusy = Math.max(maxBusy, busy);
        setTimeout(() => {
          busy--;
          res.writeHead(200).end("ok");
        }, 20);
      },
    });
    const hangingId = await endpoint(t, hanging.url);
    await endpoint(t, healthy.url);

    const started = Date.now();
    const ids = await record(20);
    await healthy.waitFor(20, 4000);
    const tookMs = Date.now() - started;
    // Every event reached the healthy endpoint while the hanging one sat on its 5 s timeouts.
    expect(new Set(healthy.requests.map((r) => eventIdOf(r.rawBody)))).toEqual(new Set(ids));
    expect(tookMs).toBeLessThan(4000);
    expect(maxBusy).toBeLessThanOrEqual(2); // per-endpoint bound
    expect(maxOpen).toBe(2);
    expect(hanging.requests).toHaveLength(2); // the other 18 wait their turn in the database
    const pending = await count(t.database, "SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending' AND attempt_count = 0", [hangingId]);
    expect(pending).toBe(20);
  });

  it("a receiver that was down gets its waiting retries as soon as it answers again", async () => {
    const first = await receiver();
    const port = first.port;
    const id = await endpoint(t, first.url);
    await first.close(); // down: connections are refused
    const early = await record(3);
    // Each fails once and waits out a 60 s backoff.
    const deadline = Date.now() + 5000;
    for (;;) {
      const failed = await count(t.database, "SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1 AND attempt_count = 1 AND status = 'pending' AND lease_until IS NULL", [id]);
      if (failed === 3) break;
      if (Date.now() > deadline) throw new Error("the three deliveries did not fail once");
      await new Promise((r) => setTimeout(r, 50));
    }

    const back = await receiver({ port });
    const [late] = await record(1);
    const requests = await back.waitFor(4, 5000);
    expect(new Set(requests.map((r) => eventIdOf(r.rawBody)))).toEqual(new Set([...early, late]));
  });
});

describe("two workers, one database", () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    database = await createTestDatabase();
    // A generous attempt timeout: on the embedded database (same thread) a busy machine can stall
    // answers for seconds, and a timed-out attempt is rightly retried — a duplicate this test
    // must not confuse with two instances sending one attempt.
    const deps = { webhooks: { concurrency: 8, endpointConcurrency: 4, attemptTimeoutMs: 15_000, retryScheduleMs: [100], pollIntervalMs: 100 } };
    a = await createTestApp({ database, env: { WEBHOOK_ALLOW_PRIVATE: "true" }, deps });
    b = await createTestApp({ database, env: { WEBHOOK_ALLOW_PRIVATE: "true" }, deps });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.close();
  });

  it("deliver every event exactly once between them (no attempt sent twice)", async () => {
    const hooks = await receiver({ handler: (_req, res) => setTimeout(() => res.writeHead(200).end(), 2) });
    await endpoint(a, hooks.url);
    await endpoint(a, `${hooks.url}?second`);
    const ids: string[] = [];
    for (let batch = 0; batch < 8; batch++) {
      ids.push(...await database.db.prisma.$transaction(async (tx) => {
        const made: string[] = [];
        for (let i = 0; i < 10; i++) made.push((await recordEvent(tx, { appId: a.appId, type: "push.approved", channel: "push", data: { batch, i }, at: new Date() })).id);
        return made;
      }));
    }
    const requests = await hooks.waitFor(2 * ids.length, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(await count(database, "SELECT count(*)::int AS n FROM webhook_deliveries d, jsonb_array_elements(d.attempts) a WHERE a ->> 'error' IS NOT NULL")).toBe(0);
    expect(requests).toHaveLength(2 * ids.length);
    const perDelivery = new Map<string, number>();
    for (const r of requests) perDelivery.set(headerOf(r, "x-securekey-delivery"), (perDelivery.get(headerOf(r, "x-securekey-delivery")) ?? 0) + 1);
    expect([...perDelivery.values()].every((n) => n === 1)).toBe(true);
    for (const path of ["/hooks", "/hooks?second"]) {
      expect(new Set(requests.filter((r) => r.path === path).map((r) => eventIdOf(r.rawBody)))).toEqual(new Set(ids));
    }
    expect(await count(database, "SELECT coalesce(sum(jsonb_array_length(attempts)), 0)::int AS n FROM webhook_deliveries")).toBe(2 * ids.length);
  });
});
