/**
 * src/infra/signals.ts, the transport of long-poll wake-ups: in-process (PGlite), PostgreSQL
 * LISTEN/NOTIFY and Redis pub/sub. A publish reaches subscribers on every instance once, also
 * on the publishing one (delivered locally, its broker echo skipped), and after a lost broker
 * connection comes back every subscriber is told to look again. The PostgreSQL and Redis parts
 * run when TEST_DATABASE_URL / REDIS_URL are set.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../../src/infra/db.ts";
import { createSignals, inProcessSignals, postgresSignals, redisSignals, type Signals } from "../../../src/infra/signals.ts";
import { createTestDatabase, type TestDatabase } from "../../helpers/databases.ts";

function collector(signals: Signals, channel: string) {
  const received: string[] = [];
  const unsubscribe = signals.subscribe(channel, (payload) => received.push(payload));
  return { received, unsubscribe };
}

async function until(probe: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("in process", () => {
  it("delivers to the channel's subscribers only, until they unsubscribe", async () => {
    const signals = inProcessSignals();
    const a = collector(signals, "push:a");
    const b = collector(signals, "push:b");
    await signals.publish("push:a", "approved");
    expect(a.received).toEqual(["approved"]);
    expect(b.received).toEqual([]);
    a.unsubscribe();
    await signals.publish("push:a", "denied");
    expect(a.received).toEqual(["approved"]);
  });

  it("createSignals picks it for PGlite (a database without LISTEN)", () => {
    expect(createSignals({ db: { kind: "pglite" } as Database }).name).toBe("memory");
  });
});

describe.runIf(Boolean(process.env.TEST_DATABASE_URL))("PostgreSQL LISTEN/NOTIFY", () => {
  let database: TestDatabase;
  let otherConnection: Database;
  let a: Signals;
  let b: Signals;
  beforeAll(async () => {
    database = await createTestDatabase();
    otherConnection = await openDatabase({ url: database.url!, poolSize: 2 });
    a = postgresSignals(database.db as Database & Required<Pick<Database, "listen">>);
    b = postgresSignals(otherConnection as Database & Required<Pick<Database, "listen">>);
    await Promise.all([a.ready(), b.ready()]);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await otherConnection?.close();
    await database?.close();
  });

  it("a publish on one instance reaches the other, and the publisher's own subscribers exactly once", async () => {
    const there = collector(b, "push:x");
    const here = collector(a, "push:x");
    await a.publish("push:x", "approved");
    await until(() => there.received.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(there.received).toEqual(["approved"]);
    expect(here.received).toEqual(["approved"]);
    there.unsubscribe();
    here.unsubscribe();
  });

  it("after its LISTEN connection is killed, an instance reconnects, tells its subscribers to look again, and hears new signals", async () => {
    const there = collector(b, "push:y");
    const listeners = await database.db.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()");
    expect(listeners.length).toBeGreaterThanOrEqual(2);
    for (const { pid } of listeners) await database.db.query("SELECT pg_terminate_backend($1)", [pid]);
    await until(() => there.received.includes(""), 10_000);
    await until(() => {
      void a.publish("push:y", "denied");
      return there.received.includes("denied");
    }, 10_000);
    there.unsubscribe();
  });
});

describe.runIf(Boolean(process.env.REDIS_URL))("Redis pub/sub", () => {
  let clientA: Redis;
  let clientB: Redis;
  let a: Signals;
  let b: Signals;
  beforeAll(async () => {
    clientA = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: 1 });
    clientB = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: 1 });
    a = redisSignals(clientA);
    b = redisSignals(clientB);
    await Promise.all([a.ready(), b.ready()]);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    clientA?.disconnect();
    clientB?.disconnect();
  });

  it("a publish on one instance reaches the other, and the publisher's own subscribers exactly once", async () => {
    const channel = `push:redis-${Date.now()}`;
    const there = collector(b, channel);
    const here = collector(a, channel);
    await a.publish(channel, "approved");
    await until(() => there.received.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(there.received).toEqual(["approved"]);
    expect(here.received).toEqual(["approved"]);
  });

  it("createSignals prefers Redis when there is one", () => {
    const signals = createSignals({ db: { kind: "postgres" } as Database, redis: clientA });
    expect(signals.name).toBe("redis");
    void signals.close();
  });
});
