/**
 * An API-only instance (WEBHOOK_WORKER=false) beside one that delivers, both real servers
 * (child processes) on one PostgreSQL: what the API-only instance records reaches the receiver
 * within milliseconds of its commit, not at the delivering instance's next poll — here 60 s
 * away, so only the cross-instance signal can explain an arrival. Once through PostgreSQL
 * LISTEN/NOTIFY, and through Redis pub/sub when REDIS_URL is set.
 *
 * PostgreSQL only (TEST_DATABASE_URL): a second process cannot open the embedded database.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, onPostgres, type TestDatabase } from "../../helpers/databases.ts";
import { newBootstrapKey, startServer, type ServerProcess } from "./server-process.ts";
import { headerOf, startReceiver, type Receiver } from "./webhook-receiver.ts";

const transports = [
  { name: "PostgreSQL LISTEN/NOTIFY", redisUrl: "", enabled: onPostgres },
  { name: "Redis pub/sub", redisUrl: process.env.REDIS_URL ?? "", enabled: onPostgres && Boolean(process.env.REDIS_URL) },
];

/** Far beyond the test's deadlines: the delivering instance never finds this work by polling. */
const POLL_MS = "60000";
const ARRIVAL_DEADLINE_MS = 5000;

for (const transport of transports) {
  describe.runIf(transport.enabled)(`an API-only instance, signals through ${transport.name}`, () => {
    let database: TestDatabase;
    let receiver: Receiver;
    let apiOnly: ServerProcess;
    let deliverer: ServerProcess;
    let headers: Record<string, string>;
    let endpointId: string;

    beforeAll(async () => {
      database = await createTestDatabase();
      receiver = await startReceiver();
      const apiKey = newBootstrapKey();
      headers = { "x-api-key": apiKey, "content-type": "application/json" };
      const env = {
        DATABASE_URL: database.url!,
        REDIS_URL: transport.redisUrl,
        DATA_DIR: mkdtempSync(path.join(os.tmpdir(), "latchkey-api-only-")),
        ENCRYPTION_KEY: randomBytes(32).toString("base64"),
        BOOTSTRAP_API_KEY: apiKey,
        WEBHOOK_ALLOW_PRIVATE: "true",
        WEBHOOK_POLL_INTERVAL_MS: POLL_MS,
      };
      // The first start migrates and bootstraps; the second finds it done.
      apiOnly = await startServer({ ...env, WEBHOOK_WORKER: "false" });
      deliverer = await startServer(env);
      const created = await fetch(`${apiOnly.baseUrl}/api/v1/webhooks`, { method: "POST", headers, body: JSON.stringify({ url: receiver.url }) });
      expect(created.status).toBe(201);
      endpointId = ((await created.json()) as { data: { id: string } }).data.id;
    }, 120_000);
    afterAll(async () => {
      await apiOnly?.stop();
      await deliverer?.stop();
      await receiver?.close();
      await database?.close();
    });

    it("an event it records is delivered at once by the other instance", async () => {
      const before = receiver.requests.length;
      const startedAt = Date.now();
      const res = await fetch(`${apiOnly.baseUrl}/api/v1/push/devices`, { method: "POST", headers, body: JSON.stringify({ userId: "api_only_user", fcmToken: "api-only-token", platform: "android" }) });
      expect(res.status).toBe(201);
      const [request] = (await receiver.waitFor(before + 1, ARRIVAL_DEADLINE_MS)).slice(before);
      expect(request!.receivedAt - startedAt).toBeLessThan(ARRIVAL_DEADLINE_MS);
      expect(headerOf(request!, "x-securekey-event")).toBe("push.device_registered");
      expect(JSON.parse(request!.rawBody.toString("utf8"))).toMatchObject({ event: "push.device_registered", data: { platform: "android" } });
      expect(request!.rawBody.toString("utf8")).toContain("api_only_user");
    });

    it("a test event asked of it is delivered at once by the other instance", async () => {
      const before = receiver.requests.length;
      const res = await fetch(`${apiOnly.baseUrl}/api/v1/webhooks/${endpointId}/test`, { method: "POST", headers, body: "{}" });
      expect(res.status).toBeLessThan(300);
      const [request] = (await receiver.waitFor(before + 1, ARRIVAL_DEADLINE_MS)).slice(before);
      expect(headerOf(request!, "x-securekey-event")).toBe("webhook.test");
    });

    it("the API-only instance sends nothing itself: each event arrived once", async () => {
      await new Promise((r) => setTimeout(r, 300));
      const ids = receiver.requests.map((request) => headerOf(request, "x-securekey-delivery"));
      expect(ids.length).toBe(2);
      expect(new Set(ids).size).toBe(2);
    });
  });
}
