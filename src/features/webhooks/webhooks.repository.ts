/**
 * Webhook queries. `webhooksRepository` manages endpoints and reads deliveries through Prisma;
 * `webhookQueueRepository` is the delivery queue in raw SQL, because its claims need
 * `FOR UPDATE SKIP LOCKED` and its writes are batched: any number of instances run the same
 * statements against one database, and a row is only ever worked on by the instance that
 * holds its lease.
 *
 * The queue's invariants:
 * - an event is fanned out once: the statement that creates its deliveries marks it
 *   dispatched, with the event row locked (SKIP LOCKED) so no other instance sees it undone;
 * - a delivery is due when `status = 'pending' AND next_attempt_at <= now()`; claiming it sets
 *   `lease_until` and pushes `next_attempt_at` to the same time, so nobody else sees it due
 *   until the lease lapses (a crashed holder's deliveries come back by themselves);
 * - `lease_until` is the claim's fencing token: an attempt's result is applied only while the
 *   row still carries the lease it was claimed with (the attempt itself is always recorded);
 * - times come from the database clock (`now()`), so instances with skewed clocks agree;
 * - every queue statement reaches its rows through an index (`events_undispatched_idx`,
 *   `webhook_deliveries_due_idx`, primary keys), whatever the tables' size: they run on the
 *   database's queue pool (`db.queueQuery`), which never plans a sequential scan, and a batch
 *   joined to a table also names its keys (`id = ANY(…)`), so even a plan that hashes the batch
 *   reads only the batch's rows of the table.
 */
import { randomUUID } from "node:crypto";
import type { Database, Prisma, PrismaClient } from "../../infra/db.ts";

export interface EndpointRecord {
  id: string;
  appId: string;
  url: string;
  description: string | null;
  events: string[];
  enabled: boolean;
  secretSealed: string;
  previousSecretSealed: string | null;
  previousSecretExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface AttemptRecord {
  id: string;
  attemptedAt: Date;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  responseBody: string | null;
}

export interface DeliveryRecord {
  id: string;
  eventId: string;
  endpointId: string;
  status: "pending" | "succeeded" | "failed";
  attemptCount: number;
  nextAttemptAt: Date;
  leaseUntil: Date | null;
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
  event: { type: string };
  attempts: AttemptRecord[];
}

/** Position in a list ordered by (createdAt, id). */
export interface ListPosition {
  createdAt: Date;
  id: string;
}

const endpointFields = {
  id: true, appId: true, url: true, description: true, events: true, enabled: true, secretSealed: true,
  previousSecretSealed: true, previousSecretExpiresAt: true, createdAt: true, updatedAt: true,
} as const;

const deliveryFields = {
  id: true, eventId: true, endpointId: true, status: true, attemptCount: true, nextAttemptAt: true, leaseUntil: true,
  lastError: true, createdAt: true, updatedAt: true, attempts: true,
  event: { select: { type: true } },
} satisfies Prisma.WebhookDeliverySelect;

/** The most attempts a delivery keeps (the oldest go first); manual redeliveries are unbounded. */
export const KEPT_ATTEMPTS = 100;

/** An attempt as the delivery row keeps it (JSON), in the shape the API shows. */
export interface StoredAttempt {
  id: string;
  /** ISO 8601, UTC, milliseconds. */
  attemptedAt: string;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  responseBody: string | null;
}

type DeliveryRow = Omit<DeliveryRecord, "attempts"> & { attempts: Prisma.JsonValue };

function toDeliveryRecord(row: DeliveryRow): DeliveryRecord {
  const attempts = Array.isArray(row.attempts) ? (row.attempts as unknown as StoredAttempt[]) : [];
  return { ...row, attempts: attempts.map((a) => ({ ...a, attemptedAt: new Date(a.attemptedAt) })) };
}

const withEvents = <T extends { events: string[] | null }>(row: T) => ({ ...row, events: row.events ?? [] });

export function webhooksRepository(prisma: PrismaClient) {
  return {
    async insertEndpoint(data: { id: string; appId: string; url: string; description?: string | null; events: string[]; secretSealed: string; enabled?: boolean }): Promise<EndpointRecord> {
      return withEvents(await prisma.webhookEndpoint.create({ data, select: endpointFields }));
    },
    findByUrl(appId: string, url: string) {
      return prisma.webhookEndpoint.findFirst({ where: { appId, url } });
    },
    countEndpoints(appId: string): Promise<number> {
      return prisma.webhookEndpoint.count({ where: { appId } });
    },
    async findEndpoint(appId: string, id: string): Promise<EndpointRecord | null> {
      const row = await prisma.webhookEndpoint.findFirst({ where: { id, appId }, select: endpointFields });
      return row ? withEvents(row) : null;
    },
    /** Oldest first; `after` continues a previous page. */
    async listEndpoints(appId: string, options: { after?: ListPosition; limit: number }): Promise<EndpointRecord[]> {
      const { after } = options;
      const rows = await prisma.webhookEndpoint.findMany({
        where: {
          appId,
          ...(after ? { OR: [{ createdAt: { gt: after.createdAt } }, { createdAt: after.createdAt, id: { gt: after.id } }] } : {}),
        },
        orderBy: [{ createdAt: "asc" }, { id: "asc" }],
        take: options.limit,
        select: endpointFields,
      });
      return rows.map(withEvents);
    },
    /** Applies `data` to the app's endpoint; null when it does not exist (in this app). */
    async updateEndpoint(
      appId: string,
      id: string,
      data: { url?: string; description?: string | null; events?: string[]; enabled?: boolean },
    ): Promise<EndpointRecord | null> {
      const { count } = await prisma.webhookEndpoint.updateMany({ where: { id, appId }, data });
      if (count !== 1) return null;
      const row = await prisma.webhookEndpoint.findFirst({ where: { id, appId }, select: endpointFields });
      return row ? withEvents(row) : null;
    },
    /**
     * Replaces the secret only if it is still `expectedSealed` (the one the caller read), so
     * two rotations at once cannot both succeed and leave one caller with a dead secret.
     */
    async rotateSecret(
      appId: string,
      id: string,
      change: { expectedSealed: string; secretSealed: string; previousSecretSealed: string; previousSecretExpiresAt: Date },
    ): Promise<EndpointRecord | null> {
      const { count } = await prisma.webhookEndpoint.updateMany({
        where: { id, appId, secretSealed: change.expectedSealed },
        data: { secretSealed: change.secretSealed, previousSecretSealed: change.previousSecretSealed, previousSecretExpiresAt: change.previousSecretExpiresAt },
      });
      if (count !== 1) return null;
      const row = await prisma.webhookEndpoint.findFirst({ where: { id, appId }, select: endpointFields });
      return row ? withEvents(row) : null;
    },
    /** Deletes the endpoint with its deliveries and attempts; false when it does not exist. */
    async deleteEndpoint(appId: string, id: string): Promise<boolean> {
      const { count } = await prisma.webhookEndpoint.deleteMany({ where: { id, appId } });
      return count === 1;
    },
    /**
     * A test event for one endpoint: the event row is born dispatched (it must not fan out to
     * the app's other endpoints) together with its one delivery, in one transaction.
     */
    async insertTestDelivery(input: { appId: string; endpointId: string; eventId: string; type: string; payload: string; createdAt: Date; deliveryId: string }): Promise<DeliveryRecord> {
      return toDeliveryRecord(await prisma.$transaction(async (tx) => {
        await tx.event.create({
          data: { id: input.eventId, appId: input.appId, type: input.type, channel: null, payload: input.payload, createdAt: input.createdAt, dispatchedAt: input.createdAt },
        });
        return tx.webhookDelivery.create({ data: { id: input.deliveryId, eventId: input.eventId, endpointId: input.endpointId }, select: deliveryFields });
      }));
    },
    /** Newest first; `before` continues a previous page. */
    async listDeliveries(
      appId: string,
      endpointId: string,
      options: { before?: ListPosition; limit: number; status?: "pending" | "succeeded" | "failed" },
    ): Promise<DeliveryRecord[]> {
      const { before } = options;
      const rows = await prisma.webhookDelivery.findMany({
        where: {
          endpointId,
          endpoint: { appId },
          ...(options.status ? { status: options.status } : {}),
          ...(before ? { OR: [{ createdAt: { lt: before.createdAt } }, { createdAt: before.createdAt, id: { lt: before.id } }] } : {}),
        },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        take: options.limit,
        select: deliveryFields,
      });
      return rows.map(toDeliveryRecord);
    },
    async findDelivery(appId: string, deliveryId: string): Promise<DeliveryRecord | null> {
      const row = await prisma.webhookDelivery.findFirst({ where: { id: deliveryId, endpoint: { appId } }, select: deliveryFields });
      return row ? toDeliveryRecord(row) : null;
    },
  };
}

export type WebhooksRepository = ReturnType<typeof webhooksRepository>;

// ─────────────────────────────────────── the queue ───────────────────────────────────────

/** A delivery id as the fan-out statement makes them (`whd_` + 32 hex digits, 122 random bits). */
export function newDeliveryId(): string {
  return `whd_${randomUUID().replaceAll("-", "")}`;
}

/** A delivery this instance holds the lease of, with what it needs to attempt it. */
export interface ClaimedRow {
  id: string;
  endpoint_id: string;
  event_id: string;
  /** Attempts made before this one. */
  attempt_count: number;
  /** The lease this instance holds (`lease_until` as the database wrote it): the fencing token. */
  lease: string;
  event_type: string;
  payload: string;
  url: string;
  secret_sealed: string;
  /** Set only while the previous secret still signs. */
  previous_secret_sealed: string | null;
}

/** How many deliveries a worker may lease now, and for how long. */
export interface LeaseRequest {
  /** At most this many in all. */
  limit: number;
  /** Endpoints that get none (the worker holds their share already). */
  exclude: string[];
  /** What endpoints the worker holds some of may still take. */
  room: Record<string, number>;
  /** What any other endpoint may take. */
  defaultRoom: number;
  leaseMs: number;
}

/** The result of one attempt, to be written back. */
export interface AttemptResult {
  deliveryId: string;
  /** The lease the attempt was made under (fencing token). */
  lease: string;
  attempt: StoredAttempt;
  /** What the delivery becomes: done, given up, or pending again after `retryDelayMs`. */
  outcome: "succeeded" | "failed" | "pending";
  retryDelayMs: number;
  /** false: the attempt was interrupted (shutdown) and does not count against the schedule. */
  counts: boolean;
}

export interface BacklogCounts {
  due: number;
  scheduled: number;
  undispatchedEvents: number;
}

export function webhookQueueRepository(db: Database) {
  return {
    /**
     * Fans out up to `limit` undispatched events: one delivery per enabled endpoint of the
     * event's app that subscribes to its type (no subscriptions = every type), and marks them
     * dispatched — one statement, so all of it happens or none. Up to `lease.limit` of the new
     * deliveries (within each endpoint's room) are born leased to the caller and returned ready
     * to attempt, which spares them a separate claim; the others are due at once for whoever
     * claims them.
     */
    async fanOut(limit: number, lease?: LeaseRequest): Promise<{ events: number; deliveries: number; leased: ClaimedRow[] }> {
      const rows = await db.queueQuery<{ events: number; deliveries: number } & ({ id: null } | ClaimedRow)>(
        `WITH claimed AS (
           SELECT id, app_id, type, payload, created_at FROM events
           WHERE dispatched_at IS NULL
           ORDER BY created_at
           LIMIT $1
           FOR UPDATE SKIP LOCKED
         ), targets AS (
           SELECT c.id AS event_id, c.type, c.payload, w.id AS endpoint_id, w.url, w.secret_sealed,
                  CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret_sealed END AS previous_secret_sealed,
                  row_number() OVER (PARTITION BY w.id ORDER BY c.created_at, c.id) AS endpoint_rank,
                  row_number() OVER (ORDER BY c.created_at, c.id, w.id) AS overall_rank
           FROM claimed c
           JOIN webhook_endpoints w ON w.app_id = c.app_id AND w.enabled
             AND (coalesce(cardinality(w.events), 0) = 0 OR c.type = ANY(w.events))
         ), planned AS (
           SELECT t.*, (t.overall_rank <= $5::int AND NOT (t.endpoint_id = ANY($2::text[]))
                        AND t.endpoint_rank <= coalesce(($3::jsonb ->> t.endpoint_id)::int, $4::int)) AS leased
           FROM targets t
         ), fanned AS (
           INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempt_count, next_attempt_at, lease_until, created_at, updated_at)
           SELECT 'whd_' || replace(gen_random_uuid()::text, '-', ''), p.event_id, p.endpoint_id, 'pending', 0,
                  CASE WHEN p.leased THEN now() + $6::int * interval '1 millisecond' ELSE now() END,
                  CASE WHEN p.leased THEN now() + $6::int * interval '1 millisecond' END,
                  now(), now()
           FROM planned p
           ON CONFLICT (event_id, endpoint_id) DO NOTHING
           RETURNING id, event_id, endpoint_id, lease_until
         ), marked AS (
           UPDATE events e SET dispatched_at = now() WHERE e.id = ANY(ARRAY(SELECT id FROM claimed)) RETURNING 1
         )
         SELECT counts.events, counts.deliveries, l.*
         FROM (SELECT (SELECT count(*) FROM marked)::int AS events, (SELECT count(*) FROM fanned)::int AS deliveries) counts
         LEFT JOIN LATERAL (
           SELECT f.id, f.endpoint_id, f.event_id, 0 AS attempt_count, f.lease_until::text AS lease, p.type AS event_type, p.payload, p.url,
                  p.secret_sealed, p.previous_secret_sealed
           FROM fanned f JOIN planned p ON p.event_id = f.event_id AND p.endpoint_id = f.endpoint_id
           WHERE f.lease_until IS NOT NULL
         ) l ON true`,
        [limit, lease?.exclude ?? [], JSON.stringify(lease?.room ?? {}), lease?.defaultRoom ?? 0, lease?.limit ?? 0, Math.round(lease?.leaseMs ?? 0)],
      );
      const first = rows[0];
      return {
        events: first?.events ?? 0,
        deliveries: first?.deliveries ?? 0,
        leased: rows.filter((r): r is typeof r & ClaimedRow => r.id !== null).map(({ events: _e, deliveries: _d, ...row }) => row as ClaimedRow),
      };
    },

    /**
     * Claims due deliveries for `leaseMs`: at most `limit`, at most `room[endpoint]` (or
     * `defaultRoom`) per endpoint, none of `exclude`, oldest due first, only of enabled
     * endpoints. Rows another instance is claiming right now are skipped, not waited for.
     * Only the oldest `scanLimit` due rows are considered, so a claim stays cheap however
     * long the backlog is.
     */
    async claimDue(options: LeaseRequest & { scanLimit: number }): Promise<ClaimedRow[]> {
      return db.queueQuery<ClaimedRow>(
        `WITH candidates AS (
           SELECT d.id, d.endpoint_id, d.next_attempt_at
           FROM webhook_deliveries d
           JOIN webhook_endpoints w ON w.id = d.endpoint_id AND w.enabled
           WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND NOT (d.endpoint_id = ANY($1::text[]))
           ORDER BY d.next_attempt_at
           LIMIT $2
         ), ranked AS (
           SELECT c.id, c.next_attempt_at,
                  row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at, c.id) AS rank,
                  coalesce(($3::jsonb ->> c.endpoint_id)::int, $4::int) AS room
           FROM candidates c
         ), picked AS (
           SELECT id FROM ranked WHERE rank <= room ORDER BY next_attempt_at LIMIT $5
         ), locked AS (
           SELECT d.id FROM webhook_deliveries d
           WHERE d.id = ANY(ARRAY(SELECT id FROM picked)) AND d.status = 'pending' AND d.next_attempt_at <= now()
           FOR UPDATE OF d SKIP LOCKED
         ), claimed AS (
           UPDATE webhook_deliveries d
           SET lease_until = now() + $6::int * interval '1 millisecond',
               next_attempt_at = now() + $6::int * interval '1 millisecond',
               updated_at = now()
           WHERE d.id = ANY(ARRAY(SELECT id FROM locked))
           RETURNING d.id, d.endpoint_id, d.event_id, d.attempt_count, d.lease_until
         )
         SELECT c.id, c.endpoint_id, c.event_id, c.attempt_count, c.lease_until::text AS lease, e.type AS event_type, e.payload, w.url, w.secret_sealed,
                CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret_sealed END AS previous_secret_sealed
         FROM claimed c
         JOIN events e ON e.id = c.event_id AND e.id = ANY(ARRAY(SELECT event_id FROM claimed))
         JOIN webhook_endpoints w ON w.id = c.endpoint_id`,
        [options.exclude, options.scanLimit, JSON.stringify(options.room), options.defaultRoom, options.limit, Math.round(options.leaseMs)],
      );
    },

    /**
     * Writes attempt results in one statement: each attempt is appended to its delivery, and
     * the delivery's new state applied where the row still carries the lease the attempt was
     * made under (otherwise another instance holds it now, and only the attempt is added).
     */
    async complete(results: AttemptResult[]): Promise<void> {
      if (results.length === 0) return;
      const match = "d.lease_until = r.lease::timestamptz";
      await db.queueQuery(
        `UPDATE webhook_deliveries d
         SET status = CASE WHEN ${match} THEN r.outcome::delivery_status ELSE d.status END,
             attempt_count = d.attempt_count + CASE WHEN ${match} AND r.counts THEN 1 ELSE 0 END,
             next_attempt_at = CASE WHEN ${match} AND r.outcome = 'pending' THEN now() + r.retry_delay_ms * interval '1 millisecond' ELSE d.next_attempt_at END,
             last_error = CASE WHEN ${match} THEN r.attempt ->> 'error' ELSE d.last_error END,
             lease_until = CASE WHEN ${match} THEN NULL ELSE d.lease_until END,
             attempts = CASE WHEN jsonb_array_length(d.attempts) >= $2::int THEN d.attempts - 0 ELSE d.attempts END || jsonb_build_array(r.attempt),
             updated_at = now()
         FROM jsonb_to_recordset($1::jsonb) AS r(delivery_id text, lease text, attempt jsonb, outcome text, retry_delay_ms int, counts boolean)
         WHERE d.id = r.delivery_id AND d.id = ANY($3::text[])`,
        // One JSON parameter (one native JSON.stringify) rather than an array per field.
        [JSON.stringify(results.map((r) => ({
          delivery_id: r.deliveryId,
          lease: r.lease,
          attempt: r.attempt,
          outcome: r.outcome,
          retry_delay_ms: Math.round(r.retryDelayMs),
          counts: r.counts,
        }))), KEPT_ATTEMPTS, results.map((r) => r.deliveryId)],
      );
    },

    /** Gives leased deliveries back unattempted (shutdown, or a lease too short to use). */
    async release(leases: Array<{ id: string; lease: string }>): Promise<void> {
      if (leases.length === 0) return;
      await db.queueQuery(
        `UPDATE webhook_deliveries d SET next_attempt_at = now(), lease_until = NULL, updated_at = now()
         FROM unnest($1::text[], $2::timestamptz[]) AS r(id, lease_until)
         WHERE d.id = r.id AND d.id = ANY($1::text[]) AND d.lease_until = r.lease_until AND d.status = 'pending'`,
        [leases.map((l) => l.id), leases.map((l) => l.lease)],
      );
    },

    /**
     * Makes the waiting retries of endpoints that answer again due now — those whose last
     * attempt found the receiver unavailable (no answer, or 502/503/504): once it is back there
     * is no reason to keep its backlog waiting out a backoff meant to spare it. Deliveries the
     * receiver itself refused (other statuses) keep their schedule.
     */
    async makeRetriesDue(endpointIds: string[]): Promise<number> {
      if (endpointIds.length === 0) return 0;
      const rows = await db.queueQuery<{ n: number }>(
        `WITH moved AS (
           UPDATE webhook_deliveries SET next_attempt_at = now(), updated_at = now()
           WHERE endpoint_id = ANY($1::text[]) AND status = 'pending' AND attempt_count > 0
             AND lease_until IS NULL AND next_attempt_at > now()
             AND (last_error !~ '^HTTP [0-9]{3}' OR last_error ~ '^HTTP 50[234]')
           RETURNING 1
         ) SELECT count(*)::int AS n FROM moved`,
        [endpointIds],
      );
      return rows[0]?.n ?? 0;
    },

    /**
     * Makes a delivery due now for one more attempt (manual redelivery). Refused (`busy`)
     * while an attempt holds its lease; `missing` when it is not this app's.
     */
    async redeliver(appId: string, deliveryId: string): Promise<"queued" | "busy" | "missing"> {
      const rows = await db.query<{ id: string }>(
        `UPDATE webhook_deliveries d
         SET status = 'pending', next_attempt_at = now(), lease_until = NULL, updated_at = now()
         FROM webhook_endpoints w
         WHERE d.id = $1 AND w.id = d.endpoint_id AND w.app_id = $2
           AND NOT (d.status = 'pending' AND d.lease_until IS NOT NULL AND d.lease_until > now())
         RETURNING d.id`,
        [deliveryId, appId],
      );
      if (rows.length === 1) return "queued";
      const exists = await db.query(
        `SELECT 1 FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id WHERE d.id = $1 AND w.app_id = $2`,
        [deliveryId, appId],
      );
      return exists.length === 1 ? "busy" : "missing";
    },

    async backlog(): Promise<BacklogCounts> {
      const rows = await db.queueQuery<BacklogCounts>(
        `SELECT
           (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now())::int AS due,
           (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at > now())::int AS scheduled,
           (SELECT count(*) FROM events WHERE dispatched_at IS NULL)::int AS "undispatchedEvents"`,
      );
      return rows[0] ?? { due: 0, scheduled: 0, undispatchedEvents: 0 };
    },
  };
}

export type WebhookQueueRepository = ReturnType<typeof webhookQueueRepository>;
