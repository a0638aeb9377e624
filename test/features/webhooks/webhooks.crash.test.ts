/**
 * Nothing is lost across a crash (API.md §5: events are rows, not memory). The real server runs
 * as a child process on PostgreSQL: 1,000 events are queued while the receiver is down; the
 * receiver comes up (slowly) and, while deliveries are in flight, the server is killed with
 * SIGKILL; the receiver goes down again, the server restarts, the receiver comes back — and
 * every one of the 1,000 event ids arrives. Duplicates (the price of at-least-once when a
 * process dies mid-attempt) are counted and reported; losses must be zero.
 *
 * PostgreSQL only (TEST_DATABASE_URL): a second process cannot open the embedded database.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { recordEvent } from "../../../src/infra/events.ts";
import { createTestDatabase, onPostgres, type TestDatabase } from "../../helpers/databases.ts";
import { newBootstrapKey, startServer, type ServerProcess } from "./server-process.ts";
import { startReceiver, type Receiver } from "./webhook-receiver.ts";

const EVENTS = 1000;

describe.runIf(onPostgres)("crash: kill -9 mid-delivery, restart", () => {
  let database: TestDatabase;
  const servers: ServerProcess[] = [];
  let receiver: Receiver | undefined;
  afterAll(async () => {
    for (const server of servers) await server.kill9();
    await receiver?.close();
    await database?.close();
  });

  it("every one of 1,000 events arrives; duplicates are counted, losses are zero", async () => {
    database = await createTestDatabase();
    const apiKey = newBootstrapKey();
    const env = {
      DATABASE_URL: database.url!,
      DATA_DIR: mkdtempSync(path.join(os.tmpdir(), "latchkey-crash-")),
      ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      BOOTSTRAP_API_KEY: apiKey,
      WEBHOOK_ALLOW_PRIVATE: "true",
      // Fast retries, and enough of them to outlast the outage; 1 s attempts → 7 s leases.
      WEBHOOK_RETRY_SCHEDULE_MS: [200, 400, 800, ...Array(40).fill(1000)].join(","),
      WEBHOOK_TIMEOUT_MS: "1000",
      WEBHOOK_POLL_INTERVAL_MS: "100",
    };

    // The receiver's address, with nobody listening yet: connections are refused.
    const probe = await startReceiver();
    const port = probe.port;
    await probe.close();

    const first = await startServer(env);
    servers.push(first);
    const headers = { "x-api-key": apiKey, "content-type": "application/json" };
    const appId = ((await (await fetch(`${first.baseUrl}/api/v1/app`, { headers })).json()) as { data: { appId: string } }).data.appId;
    const created = await fetch(`${first.baseUrl}/api/v1/webhooks`, { method: "POST", headers, body: JSON.stringify({ url: `http://127.0.0.1:${port}/hooks` }) });
    expect(created.status).toBe(201);

    const ids: string[] = [];
    for (let batch = 0; batch < EVENTS / 100; batch++) {
      ids.push(...await database.db.prisma.$transaction(async (tx) => {
        const made: string[] = [];
        for (let i = 0; i < 100; i++) made.push((await recordEvent(tx, { appId, type: "verification.succeeded", channel: "sms", externalUserId: `user_${batch}_${i}`, data: { purpose: "login" }, at: new Date() })).id);
        return made;
      }));
    }
    await waitUntil(async () => (await count(database, "SELECT coalesce(sum(jsonb_array_length(attempts)), 0)::int AS n FROM webhook_deliveries")) > 0, 20_000, "the server never attempted a delivery");

    // The receiver comes up, slowly; once deliveries are flowing, the server dies mid-way.
    const arrivals = new Map<string, number>();
    receiver = await startReceiver({ port, handler: slowOk(arrivals) });
    await waitUntil(async () => arrivals.size >= 150, 30_000, "deliveries did not resume");
    await first.kill9();
    const inFlightAtKill = await count(database, "SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'pending' AND lease_until > now()");
    const deliveredBeforeKill = arrivals.size;
    await receiver.close();

    const second = await startServer(env);
    servers.push(second);
    await new Promise((r) => setTimeout(r, 500));
    receiver = await startReceiver({ port, handler: slowOk(arrivals) });
    await waitUntil(async () => ids.every((id) => arrivals.has(id)), 40_000, () => `${ids.filter((id) => !arrivals.has(id)).length} events never arrived`);

    const received = [...arrivals.values()].reduce((a, b) => a + b, 0);
    const duplicates = received - arrivals.size;
    const losses = ids.filter((id) => !arrivals.has(id)).length;
    console.log(`crash test: ${EVENTS} events; ${deliveredBeforeKill} delivered before SIGKILL with ${inFlightAtKill} claimed in flight; afterwards every event arrived: ${received} requests, ${arrivals.size} distinct, ${duplicates} duplicates, ${losses} losses`);
    expect(inFlightAtKill).toBeGreaterThan(0); // the kill really was mid-delivery
    expect(losses).toBe(0);
    // The receiver counts an arrival before the server has recorded its 2xx: give the last
    // answers a moment to be written.
    const unsettled = () => count(database, "SELECT count(*)::int AS n FROM webhook_deliveries WHERE status <> 'succeeded'");
    await waitUntil(async () => (await unsettled()) === 0, 5_000, "deliveries were not all recorded as succeeded");
    expect(await unsettled()).toBe(0);
  }, 120_000);
});

function slowOk(arrivals: Map<string, number>) {
  return (request: { rawBody: Buffer }, response: import("node:http").ServerResponse) => {
    const id = (JSON.parse(request.rawBody.toString("utf8")) as { id: string }).id;
    setTimeout(() => {
      arrivals.set(id, (arrivals.get(id) ?? 0) + 1);
      response.writeHead(200).end("ok");
    }, 20);
  };
}

async function count(database: TestDatabase, sql: string): Promise<number> {
  return (await database.db.query<{ n: number }>(sql))[0]!.n;
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, failure: string | (() => string)): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(typeof failure === "string" ? failure : failure());
    await new Promise((r) => setTimeout(r, 50));
  }
}
