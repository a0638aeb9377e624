/**
 * The delivery queue's statements against a real database (webhookQueueRepository): results are
 * fenced by the lease they were attempted under, every attempt is kept in its delivery (the
 * newest KEPT_ATTEMPTS of them), and on PostgreSQL every queue statement reaches its rows through
 * an index even while the tables are small — the plan a new install caches is the plan it keeps.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEPT_ATTEMPTS, webhookQueueRepository, type AttemptResult, type ClaimedRow, type LeaseRequest } from "../../../src/features/webhooks/webhooks.repository.ts";
import { createTestDatabase, onPostgres, type TestDatabase } from "../../helpers/databases.ts";

let database: TestDatabase;
let queue: ReturnType<typeof webhookQueueRepository>;
let sequence = 0;

const lease = (leaseMs = 60_000): LeaseRequest => ({ limit: 100, exclude: [], room: {}, defaultRoom: 100, leaseMs });

beforeAll(async () => {
  database = await createTestDatabase();
  queue = webhookQueueRepository(database.db);
  await database.db.exec(`
    INSERT INTO apps (id, name, updated_at) VALUES ('app_q', 'Q', now());
    INSERT INTO webhook_endpoints (id, app_id, url, secret_sealed, updated_at) VALUES ('whk_q', 'app_q', 'https://example.com/hook', 'sealed', now());
  `);
});
afterAll(async () => database?.close());

/** Records one event and fans it out, leased to the caller: the delivery as the worker holds it. */
async function leasedDelivery(): Promise<ClaimedRow> {
  const id = `evt_q${++sequence}`;
  await database.db.query(`INSERT INTO events (id, app_id, type, payload) VALUES ($1, 'app_q', 'webhook.test', $2)`, [id, JSON.stringify({ id })]);
  const { leased } = await queue.fanOut(10, lease());
  const row = leased.find((r) => r.event_id === id);
  expect(row, "the fan-out leased the new delivery").toBeDefined();
  return row!;
}

function result(row: ClaimedRow, outcome: AttemptResult["outcome"], statusCode: number, attemptId = `wha_${row.id}_${statusCode}`): AttemptResult {
  return {
    deliveryId: row.id,
    lease: row.lease,
    attempt: { id: attemptId, attemptedAt: new Date().toISOString(), statusCode, durationMs: 3, error: statusCode < 300 ? null : `HTTP ${statusCode}`, responseBody: "답" },
    outcome,
    retryDelayMs: outcome === "pending" ? 60_000 : 0,
    counts: true,
  };
}

async function stored(id: string) {
  const rows = await database.db.query<{ status: string; attempt_count: number; lease_until: Date | null; last_error: string | null; attempts: Array<{ id: string; statusCode: number }> }>(
    `SELECT status, attempt_count, lease_until, last_error, attempts FROM webhook_deliveries WHERE id = $1`,
    [id],
  );
  return rows[0]!;
}

describe("recording attempts", () => {
  it("applies a result under the lease it was attempted with and keeps the attempt in the delivery", async () => {
    const row = await leasedDelivery();
    await queue.complete([result(row, "succeeded", 200)]);
    const after = await stored(row.id);
    expect(after).toMatchObject({ status: "succeeded", attempt_count: 1, lease_until: null, last_error: null });
    expect(after.attempts).toEqual([expect.objectContaining({ id: `wha_${row.id}_200`, statusCode: 200, responseBody: "답" })]);
  });

  it("a result under a lapsed lease adds its attempt but leaves the new holder's state alone", async () => {
    const row = await leasedDelivery();
    // The lease lapsed and another instance claimed the delivery: its lease_until is newer.
    await database.db.query(`UPDATE webhook_deliveries SET lease_until = now() + interval '5 minutes' WHERE id = $1`, [row.id]);
    await queue.complete([result(row, "failed", 500)]);
    const after = await stored(row.id);
    expect(after.status).toBe("pending");
    expect(after.attempt_count).toBe(0);
    expect(after.lease_until).not.toBeNull();
    expect(after.attempts.map((a) => a.statusCode)).toEqual([500]);
  });

  it(`keeps the newest ${KEPT_ATTEMPTS} attempts of a delivery attempted more often`, async () => {
    const row = await leasedDelivery();
    for (let i = 1; i <= KEPT_ATTEMPTS + 5; i++) {
      // Each retry runs under a fresh lease, as a claim gives it.
      const [renewed] = await database.db.query<{ lease: string }>(
        `UPDATE webhook_deliveries SET lease_until = now() + interval '1 minute' + $2 * interval '1 millisecond' WHERE id = $1 RETURNING lease_until::text AS lease`,
        [row.id, i],
      );
      await queue.complete([result({ ...row, lease: renewed!.lease }, "pending", 503, `wha_${String(i).padStart(3, "0")}`)]);
    }
    const after = await stored(row.id);
    expect(after.attempt_count).toBe(KEPT_ATTEMPTS + 5);
    expect(after.attempts).toHaveLength(KEPT_ATTEMPTS);
    expect(after.attempts[0]!.id).toBe("wha_006");
    expect(after.attempts.at(-1)!.id).toBe(`wha_${KEPT_ATTEMPTS + 5}`);
  });

  it("a result for a delivery deleted meanwhile (with its endpoint) is dropped without an error", async () => {
    const row = await leasedDelivery();
    await database.db.query(`DELETE FROM webhook_deliveries WHERE id = $1`, [row.id]);
    await expect(queue.complete([result(row, "succeeded", 200)])).resolves.toBeUndefined();
  });
});

describe.runIf(onPostgres)("queue statements on a small table (PostgreSQL)", () => {
  /**
   * Every statement the queue sends, EXPLAINed as the queue pool plans it while the tables hold
   * a handful of rows — the size at which a planner left to its costs hashes a full scan, and
   * the plan a connection then keeps as the tables grow.
   */
  it("read webhook_deliveries and events only through index conditions or the partial queue indexes", async () => {
    const sent: Array<{ sql: string; params: unknown[] }> = [];
    const recording = { ...database.db, queueQuery: <Row>(sql: string, params: unknown[] = []) => {
      sent.push({ sql, params });
      return database.db.queueQuery<Row>(sql, params);
    } };
    const recorded = webhookQueueRepository(recording);
    const rows: ClaimedRow[] = [];
    for (let i = 0; i < 3; i++) {
      await database.db.query(`INSERT INTO events (id, app_id, type, payload) VALUES ($1, 'app_q', 'webhook.test', '{}')`, [`evt_plan${i}`]);
      rows.push(...(await recorded.fanOut(10, lease())).leased);
    }
    await recorded.complete([result(rows[0]!, "pending", 503)]);
    await database.db.query(`UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 second' WHERE id = $1`, [rows[0]!.id]);
    rows.push(...(await recorded.claimDue({ ...lease(), scanLimit: 100 })));
    await recorded.release([{ id: rows[1]!.id, lease: rows[1]!.lease }]);
    await recorded.makeRetriesDue(["whk_q"]);
    await recorded.backlog();
    expect(new Set(sent.map((s) => s.sql.trim().slice(0, 40))).size).toBe(6);

    const partialQueueIndexes = /events_undispatched_idx|webhook_deliveries_due_idx/;
    for (const { sql, params } of sent) {
      const plan = (await database.db.queueQuery<{ "QUERY PLAN": string }>(`EXPLAIN ${sql}`, params)).map((r) => r["QUERY PLAN"]);
      const text = plan.join("\n");
      expect(text, sql).not.toMatch(/Seq Scan on (webhook_deliveries|events)\b/);
      // A scan of a queue table's ordinary index must be bounded by an index condition: an
      // unbounded one reads the whole table, as a full scan would.
      plan.forEach((line, i) => {
        const scan = line.match(/(Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\S+) on (webhook_deliveries|events)\b|(Bitmap Index Scan) on (\S+)/);
        if (!scan || partialQueueIndexes.test(line)) return;
        const next = plan.slice(i + 1).find((l) => /->|Index Cond:/.test(l)) ?? "";
        expect(next, `${line.trim()} in\n${text}`).toMatch(/Index Cond:/);
      });
    }
    // The request pool plans as usual: the setting belongs to the queue's sessions only.
    const [requestSession] = await database.db.query<{ enable_seqscan: string }>(`SHOW enable_seqscan`);
    const [queueSession] = await database.db.queueQuery<{ enable_seqscan: string }>(`SHOW enable_seqscan`);
    expect([requestSession?.enable_seqscan, queueSession?.enable_seqscan]).toEqual(["on", "off"]);
  });
});
