/**
 * Expiry (API.md §4.5): requests live `timeoutSeconds` (default 120, at most 600), then are
 * `expired` with event push.expired — exactly once, even with several instances sweeping the
 * same database at once, and even when a verify or a late answer notices first. A late answer
 * is 410 PUSH_EXPIRED. Time is a ManualClock; only the sweeper's interval is real (20–50 ms).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/infra/clock.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { createTestDatabase, type TestDatabase } from "../../helpers/databases.ts";
import { api, eventsOf, RecordingPushSender, registerDevice } from "./push.fixtures.ts";

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function statusInDb(t: TestApp, requestId: string): Promise<string> {
  const rows = await t.database.db.query<{ status: string }>("SELECT status FROM push_requests WHERE id = $1", [requestId]);
  return rows[0]!.status;
}

describe("one instance, sweeper every 20 ms", () => {
  const clock = new ManualClock(new Date("2026-11-22T07:00:00.000Z"));
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ clock, env: { PUSH_SWEEP_INTERVAL_MS: "20" }, deps: { push: new RecordingPushSender() } });
    await t.app.ready();
  });
  afterAll(async () => t?.close());

  it("lives 120 s by default, or timeoutSeconds", async () => {
    await registerDevice(t, { userId: "ttl", fcmToken: "ttl-p" });
    const byDefault = (await api(t).send({ userId: "ttl" })).json().data;
    expect(byDefault.expiresAt).toBe(new Date(clock.now().getTime() + 120_000).toISOString());
    const custom = (await api(t).send({ userId: "ttl", timeoutSeconds: 600 })).json().data;
    expect(custom.expiresAt).toBe(new Date(clock.now().getTime() + 600_000).toISOString());
    expect((await api(t).send({ userId: "ttl", timeoutSeconds: 5 })).statusCode).toBe(400);
  });

  it("the sweeper expires a request past its time: status expired, push.expired once, then a late answer is 410", async () => {
    const device = await registerDevice(t, { userId: "sweep", fcmToken: "sweep-p" });
    const { requestId } = (await api(t).send({ userId: "sweep", timeoutSeconds: 30 })).json().data;
    clock.advance(29_000);
    await new Promise((r) => setTimeout(r, 100));
    expect(await statusInDb(t, requestId)).toBe("pending");

    clock.advance(1_000);
    await until("expiry", async () => (await statusInDb(t, requestId)) === "expired");
    await new Promise((r) => setTimeout(r, 100)); // more sweeps run: still one event
    expect((await eventsOf(t, "push.expired")).filter((e) => e.data.requestId === requestId)).toEqual([
      expect.objectContaining({ channel: "push", data: expect.objectContaining({ externalUserId: "sweep", requestId }) }),
    ]);
    expect((await eventsOf(t, "verification.failed")).filter((e) => e.data.requestId === requestId)).toEqual([
      expect.objectContaining({ data: expect.objectContaining({ reason: "expired" }) }),
    ]);

    const late = await api(t).respondAsDevice(device.deviceToken, { requestId, action: "approve" });
    expect(late.statusCode).toBe(410);
    expect(late.json()).toMatchObject({ success: false, code: "PUSH_EXPIRED" });
    expect((await api(t).verify({ requestId })).json().data).toMatchObject({ verified: false, status: "expired" });
    expect((await eventsOf(t, "push.approved")).filter((e) => e.data.requestId === requestId)).toEqual([]);
  });

  it("a long poll returns `expired` as soon as the request expires", async () => {
    await registerDevice(t, { userId: "poll", fcmToken: "poll-p" });
    const { requestId } = (await api(t).send({ userId: "poll", timeoutSeconds: 10 })).json().data;
    const polling = api(t).verify({ requestId, wait: 20 });
    await new Promise((r) => setTimeout(r, 200));
    const expiredAt = Date.now();
    clock.advance(10_000);
    const res = await polling;
    expect(res.json().data).toMatchObject({ status: "expired", verified: false });
    expect(Date.now() - expiredAt).toBeLessThan(1000);
  });
});

describe("noticed before the sweeper", () => {
  const clock = new ManualClock(new Date("2026-11-22T07:00:00.000Z"));
  let t: TestApp;
  beforeAll(async () => {
    // A sweeper that never runs during the test: verify and respond must expire on their own.
    t = await createTestApp({ clock, env: { PUSH_SWEEP_INTERVAL_MS: "60000" }, deps: { push: new RecordingPushSender() } });
  });
  afterAll(async () => t?.close());

  it("verify past the expiry answers expired and records push.expired once", async () => {
    await registerDevice(t, { userId: "v", fcmToken: "v-p" });
    const { requestId } = (await api(t).send({ userId: "v", timeoutSeconds: 10 })).json().data;
    clock.advance(10_000);
    expect((await api(t).verify({ requestId })).json().data).toMatchObject({ status: "expired", verified: false });
    expect((await api(t).call("GET", `/push/requests/${requestId}`)).json().data.status).toBe("expired");
    expect((await eventsOf(t, "push.expired")).filter((e) => e.data.requestId === requestId)).toHaveLength(1);
  });

  it("an answer past the expiry is 410 PUSH_EXPIRED, expires the request, and records nothing else", async () => {
    const device = await registerDevice(t, { userId: "r", fcmToken: "r-p" });
    const { requestId } = (await api(t).send({ userId: "r", timeoutSeconds: 10 })).json().data;
    clock.advance(10_001);
    const answers = await Promise.all([1, 2, 3].map(() => api(t).respondAsDevice(device.deviceToken, { requestId, action: "approve" })));
    expect(answers.map((a) => a.statusCode)).toEqual([410, 410, 410]);
    expect(await statusInDb(t, requestId)).toBe("expired");
    expect((await eventsOf(t, "push.expired")).filter((e) => e.data.requestId === requestId)).toHaveLength(1);
    expect((await eventsOf(t, "push.approved")).filter((e) => e.data.requestId === requestId)).toEqual([]);
  });

  it("an expired request no longer counts as pending for the fatigue limit", async () => {
    await registerDevice(t, { userId: "f", fcmToken: "f-p" });
    for (let i = 0; i < 3; i++) expect((await api(t).send({ userId: "f", timeoutSeconds: 10 })).statusCode).toBe(200);
    expect((await api(t).send({ userId: "f" })).statusCode).toBe(429);
    clock.advance(10_000);
    expect((await api(t).send({ userId: "f" })).statusCode).toBe(200);
  });
});

describe("three instances sweeping one database", () => {
  const clock = new ManualClock(new Date("2026-11-22T07:00:00.000Z"));
  let database: TestDatabase;
  const instances: TestApp[] = [];
  beforeAll(async () => {
    database = await createTestDatabase();
    for (let i = 0; i < 3; i++) {
      instances.push(await createTestApp({ database, clock, env: { PUSH_SWEEP_INTERVAL_MS: "50" }, deps: { push: new RecordingPushSender() } }));
    }
    await Promise.all(instances.map((i) => i.app.ready()));
  });
  afterAll(async () => {
    for (const instance of instances) await instance.close();
    await database?.close();
  });

  it("every request is expired exactly once: one push.expired per request", async () => {
    const t = instances[0]!;
    const ids: string[] = [];
    for (let u = 0; u < 5; u++) {
      await registerDevice(t, { userId: `multi_${u}`, fcmToken: `multi_${u}-p` });
      for (let i = 0; i < 3; i++) ids.push((await api(t).send({ userId: `multi_${u}`, timeoutSeconds: 10 + i })).json().data.requestId);
    }
    clock.advance(13_000);
    await until("all expired", async () => {
      const rows = await database.db.query<{ count: number }>("SELECT count(*)::int AS count FROM push_requests WHERE status = 'expired'");
      return rows[0]!.count === ids.length;
    }, 10_000);
    await new Promise((r) => setTimeout(r, 150));
    const events = await eventsOf(t, "push.expired");
    expect(events).toHaveLength(ids.length);
    expect(new Set(events.map((e) => e.data.requestId))).toEqual(new Set(ids));
  });
});
