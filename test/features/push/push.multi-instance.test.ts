/**
 * Long poll across instances (API.md §4.5 "on any instance"): two Latchkey servers on one
 * PostgreSQL — createTestApp twice with the same `database` — `verify` with `wait` on the
 * first, `respond` on the second: the first returns within 1 s of the answer.
 *
 * Runs only against PostgreSQL (describe.runIf(TEST_DATABASE_URL)): PGlite is one process's
 * database, where the in-process signal is tested by push.routes.test.ts. The signal travels
 * through PostgreSQL LISTEN/NOTIFY (Redis left out), and, when REDIS_URL is set too, through
 * Redis pub/sub (the default when both are configured).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { createTestDatabase, type TestDatabase } from "../../helpers/databases.ts";
import { api, RecordingPushSender, registerDevice } from "./push.fixtures.ts";

const transports = [
  { name: "PostgreSQL LISTEN/NOTIFY", redis: false, enabled: Boolean(process.env.TEST_DATABASE_URL) },
  { name: "Redis pub/sub", redis: true, enabled: Boolean(process.env.TEST_DATABASE_URL && process.env.REDIS_URL) },
];

for (const transport of transports) {
  describe.runIf(transport.enabled)(`two instances, one PostgreSQL, signals through ${transport.name}`, () => {
    let database: TestDatabase;
    let first: TestApp;
    let second: TestApp;
    beforeAll(async () => {
      database = await createTestDatabase();
      const deps = transport.redis ? {} : { redis: undefined };
      first = await createTestApp({ database, deps: { ...deps, push: new RecordingPushSender() } });
      second = await createTestApp({ database, deps: { ...deps, push: new RecordingPushSender() } });
      await Promise.all([first.app.ready(), second.app.ready()]);
    });
    afterAll(async () => {
      await first?.close();
      await second?.close();
      await database?.close();
    });

    it("verify waiting on the first instance returns within 1 s of the answer given to the second", async () => {
      const userId = `multi_${transport.redis ? "redis" : "pg"}`;
      const device = await registerDevice(first, { userId, fcmToken: `${userId}-p` });
      const { requestId } = (await api(first).send({ userId })).json().data;

      const startedAt = Date.now();
      const polling = api(first).verify({ requestId, wait: 25 });
      await new Promise((r) => setTimeout(r, 500));
      const answer = await api(second).respondAsDevice(device.deviceToken, { requestId, action: "approve" });
      expect(answer.statusCode).toBe(200);
      const answeredAt = Date.now(); // the answer has landed (committed on the second instance)

      const res = await polling;
      const returnedAt = Date.now();
      expect(res.json().data).toMatchObject({ verified: true, status: "approved" });
      expect(returnedAt - answeredAt).toBeLessThan(1000);
      expect(returnedAt - startedAt).toBeGreaterThanOrEqual(450);
    });

    it("a denial given to the first wakes a long poll on the second", async () => {
      const userId = `multi_deny_${transport.redis ? "redis" : "pg"}`;
      await registerDevice(second, { userId, fcmToken: `${userId}-p` });
      const { requestId } = (await api(second).send({ userId })).json().data;
      const polling = api(second).call("GET", `/push/requests/${requestId}?wait=25`);
      await new Promise((r) => setTimeout(r, 300));
      // Each createTestApp made its own tenant: the second's key, sent to the first instance.
      const answer = await api({ ...first, apiKey: second.apiKey }).call("POST", `/push/${requestId}/respond`, { action: "deny" });
      expect(answer.statusCode).toBe(200);
      const answeredAt = Date.now();
      const res = await polling;
      expect(res.json().data).toMatchObject({ verified: false, status: "denied" });
      expect(Date.now() - answeredAt).toBeLessThan(1000);
    });
  });
}
