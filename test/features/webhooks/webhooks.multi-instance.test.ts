/**
 * Many instances, one database (API.md §5): two real servers (child processes) share one
 * PostgreSQL; 2,000 events are queued; together they deliver every one, claiming with
 * FOR UPDATE SKIP LOCKED so no attempt is sent twice — without crashes the duplicate count is
 * zero (reported), and both instances did part of the work.
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
import { headerOf, startReceiver, type Receiver } from "./webhook-receiver.ts";

const EVENTS = 2000;

describe.runIf(onPostgres)("two servers, one PostgreSQL", () => {
  let database: TestDatabase;
  const servers: ServerProcess[] = [];
  let receiver: Receiver | undefined;
  afterAll(async () => {
    for (const server of servers) await server.stop();
    await receiver?.close();
    await database?.close();
  });

  it("deliver all 2,000 events between them with zero losses and zero duplicates", async () => {
    database = await createTestDatabase();
    const apiKey = newBootstrapKey();
    const env = {
      DATABASE_URL: database.url!,
      DATA_DIR: mkdtempSync(path.join(os.tmpdir(), "latchkey-multi-")),
      ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      BOOTSTRAP_API_KEY: apiKey,
      WEBHOOK_ALLOW_PRIVATE: "true",
      WEBHOOK_RETRY_SCHEDULE_MS: "200,400,800",
      // Generous: a timed-out attempt is rightly retried, and would be a duplicate this test
      // must not confuse with two instances sending one attempt.
      WEBHOOK_TIMEOUT_MS: "15000",
      WEBHOOK_POLL_INTERVAL_MS: "100",
      WEBHOOK_ENDPOINT_CONCURRENCY: "8",
    };

    const arrivals = new Map<string, number>();
    const deliveryIds = new Map<string, number>();
    receiver = await startReceiver({
      handler: (request, response) => {
        const id = (JSON.parse(request.rawBody.toString("utf8")) as { id: string }).id;
        arrivals.set(id, (arrivals.get(id) ?? 0) + 1);
        const delivery = headerOf(request, "x-securekey-delivery");
        deliveryIds.set(delivery, (deliveryIds.get(delivery) ?? 0) + 1);
        setTimeout(() => response.writeHead(200).end("ok"), 5);
      },
    });

    const [a, b] = await Promise.all([startServer(env), startServer(env)]);
    servers.push(a!, b!);
    const headers = { "x-api-key": apiKey, "content-type": "application/json" };
    const appId = ((await (await fetch(`${a!.baseUrl}/api/v1/app`, { headers })).json()) as { data: { appId: string } }).data.appId;
    const created = await fetch(`${b!.baseUrl}/api/v1/webhooks`, { method: "POST", headers, body: JSON.stringify({ url: receiver.url }) });
    expect(created.status).toBe(201);

    // One commit: both instances find the whole backlog at once, and each takes what it has room for.
    const ids = await database.db.prisma.$transaction(async (tx) => {
      const made: string[] = [];
      for (let i = 0; i < EVENTS; i++) made.push((await recordEvent(tx, { appId, type: "push.approved", channel: "push", externalUserId: `u${i}`, at: new Date() })).id);
      return made;
    }, { timeout: 60_000 });
    const started = Date.now();
    const deadline = Date.now() + 45_000;
    while (!ids.every((id) => arrivals.has(id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const drainedMs = Date.now() - started;
    await new Promise((r) => setTimeout(r, 500)); // late duplicates would show up now

    const received = [...arrivals.values()].reduce((x, y) => x + y, 0);
    const losses = ids.filter((id) => !arrivals.has(id)).length;
    const duplicates = received - arrivals.size;
    const deliveredBy = await Promise.all([a!, b!].map(async (server) => {
      const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
      return Number(/latchkey_webhook_deliveries_total\{outcome="delivered"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    }));
    console.log(`two instances: ${EVENTS} events drained ${drainedMs} ms after their commit; ${received} requests, ${arrivals.size} distinct, ${duplicates} duplicates, ${losses} losses; delivered by instance A ${deliveredBy[0]}, B ${deliveredBy[1]}`);
    expect(losses).toBe(0);
    expect(duplicates).toBe(0);
    expect([...deliveryIds.values()].every((n) => n === 1)).toBe(true);
    expect(deliveredBy[0]! + deliveredBy[1]!).toBe(EVENTS);
    expect(deliveredBy[0]).toBeGreaterThan(0);
    expect(deliveredBy[1]).toBeGreaterThan(0);
  }, 120_000);
});
