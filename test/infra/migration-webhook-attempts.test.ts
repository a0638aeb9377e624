/**
 * The migration that moves webhook attempts into their delivery's row
 * (20261205144431_webhook_queue_in_place) keeps every recorded attempt: a database migrated up to
 * the migration before it, holding deliveries with attempts, shows the same attempts after it,
 * oldest first, in the API's shape, and keeps the newest 100 of a delivery that had more.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/infra/db.ts";
import { applyMigrations, readMigrations } from "../../src/infra/migrate.ts";
import { KEPT_ATTEMPTS } from "../../src/features/webhooks/webhooks.repository.ts";

const MIGRATION = "20261205144431_webhook_queue_in_place";

describe(`migration ${MIGRATION}`, () => {
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase({ pgliteDir: "memory://" });
    const all = readMigrations();
    const before = all.slice(0, all.findIndex((m) => m.name === MIGRATION));
    expect(before.length).toBeGreaterThan(0);
    await applyMigrations(db, { migrations: before });
    await db.exec(`
      INSERT INTO apps (id, name, updated_at) VALUES ('app_m', 'M', now());
      INSERT INTO webhook_endpoints (id, app_id, url, secret_sealed, updated_at) VALUES ('whk_m', 'app_m', 'https://example.com/h', 'sealed', now());
      INSERT INTO events (id, app_id, type, payload) VALUES ('evt_1', 'app_m', 'webhook.test', '{}'), ('evt_2', 'app_m', 'webhook.test', '{}'), ('evt_3', 'app_m', 'webhook.test', '{}');
      INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempt_count, updated_at) VALUES
        ('whd_two', 'evt_1', 'whk_m', 'succeeded', 2, now()),
        ('whd_none', 'evt_2', 'whk_m', 'pending', 0, now()),
        ('whd_many', 'evt_3', 'whk_m', 'failed', 105, now());
      INSERT INTO webhook_attempts (id, delivery_id, attempted_at, status_code, duration_ms, error, response_body) VALUES
        ('wha_b', 'whd_two', '2026-11-30T10:00:05.250Z', 200, 12, NULL, 'ok 한국어'),
        ('wha_a', 'whd_two', '2026-11-30T10:00:00.000Z', NULL, 10000, 'timed out: no complete answer within 10000 ms', NULL);
      INSERT INTO webhook_attempts (id, delivery_id, attempted_at, status_code, duration_ms, error, response_body)
        SELECT 'wha_m' || lpad(i::text, 3, '0'), 'whd_many', timestamptz '2026-11-30T00:00:00Z' + i * interval '1 minute', 500, i, 'HTTP 500', NULL
        FROM generate_series(1, 105) AS i;
    `);
    await applyMigrations(db);
  });
  afterAll(async () => db?.close());

  async function attemptsOf(id: string): Promise<unknown[]> {
    const rows = await db.query<{ attempts: unknown[] }>(`SELECT attempts FROM webhook_deliveries WHERE id = $1`, [id]);
    return rows[0]!.attempts;
  }

  it("moves each delivery's attempts into its row, oldest first, in the API's shape", async () => {
    expect(await attemptsOf("whd_two")).toEqual([
      { id: "wha_a", attemptedAt: "2026-11-30T10:00:00.000Z", statusCode: null, durationMs: 10000, error: "timed out: no complete answer within 10000 ms", responseBody: null },
      { id: "wha_b", attemptedAt: "2026-11-30T10:00:05.250Z", statusCode: 200, durationMs: 12, error: null, responseBody: "ok 한국어" },
    ]);
    expect(await attemptsOf("whd_none")).toEqual([]);
  });

  it(`keeps the newest ${KEPT_ATTEMPTS} of a delivery that had more`, async () => {
    const attempts = (await attemptsOf("whd_many")) as Array<{ id: string }>;
    expect(attempts).toHaveLength(KEPT_ATTEMPTS);
    expect(attempts[0]!.id).toBe("wha_m006");
    expect(attempts.at(-1)!.id).toBe("wha_m105");
  });

  it("drops the attempts table and swaps the queue indexes for partial ones", async () => {
    expect(await db.query(`SELECT 1 FROM information_schema.tables WHERE table_name = 'webhook_attempts'`)).toHaveLength(0);
    const indexes = await db.query<{ indexname: string; indexdef: string }>(
      `SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('events', 'webhook_deliveries') ORDER BY indexname`,
    );
    const names = indexes.map((i) => i.indexname);
    expect(names).not.toContain("events_dispatched_at_created_at_idx");
    expect(names).not.toContain("webhook_deliveries_status_next_attempt_at_idx");
    expect(indexes.find((i) => i.indexname === "events_undispatched_idx")?.indexdef).toMatch(/WHERE \(dispatched_at IS NULL\)/);
    expect(indexes.find((i) => i.indexname === "webhook_deliveries_due_idx")?.indexdef).toMatch(/WHERE \(status = 'pending'::delivery_status\)/);
  });
});
