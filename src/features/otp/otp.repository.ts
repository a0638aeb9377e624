/**
 * SMS and email code challenges (`otp_challenges`) and the per-destination attempt budget
 * (`destination_guards`). Every state change that two requests could race on is one
 * conditional statement: the database decides who wins, never a read followed by a write.
 *
 * Lock order, everywhere: the destination's guard row first, then its challenge rows, so a
 * send (guard → replace challenges) and a verify (guard → consume challenge) never deadlock.
 * Times come from the caller's clock (injected), never the database's `now()`.
 *
 * The hot paths — read the newest challenge; consume it with its Verification row and event;
 * mark it delivered with its event — are single statements through the driver (`db.query`),
 * not Prisma: Prisma's per-query cost is several times the round trip itself, and a verify is
 * little else. A single statement is its own transaction, so the event still commits exactly
 * with its state change. Everything else runs in Prisma interactive transactions.
 */
import type { Database, PrismaClient, Tx } from "../../infra/db.ts";
import { buildEventPayload, type EventInput } from "../../infra/events.ts";
import { newId } from "../../shared/ids.ts";
import type { OtpChannel, OtpStatus } from "../../generated/prisma/enums.ts";

export type { OtpChannel, OtpStatus };

type Client = PrismaClient | Tx;

/** One destination of one app on one channel. */
export interface DestinationKey {
  appId: string;
  channel: OtpChannel;
  /** Normalized: E.164 phone or lower-case email. */
  destination: string;
}

export interface ChallengeRecord {
  id: string;
  appId: string;
  channel: OtpChannel;
  destination: string;
  purpose: string;
  externalUserId: string | null;
  codeHash: string;
  status: OtpStatus;
  attempts: number;
  maxAttempts: number;
  test: boolean;
  expiresAt: Date;
  verifiedAt: Date | null;
  createdAt: Date;
}

export interface GuardState {
  consecutiveFailures: number;
  lockedUntil: Date | null;
}

/** Statuses in which a challenge can still be verified (`sending`: delivery not yet confirmed). */
export const LIVE_STATUSES: readonly OtpStatus[] = ["sending", "pending"];

interface ChallengeRow {
  id: string;
  app_id: string;
  channel: OtpChannel;
  destination: string;
  purpose: string;
  external_user_id: string | null;
  code_hash: string;
  status: OtpStatus;
  attempts: number;
  max_attempts: number;
  test: boolean;
  expires_at: Date;
  verified_at: Date | null;
  created_at: Date;
}

const toChallenge = (r: ChallengeRow): ChallengeRecord => ({
  id: r.id,
  appId: r.app_id,
  channel: r.channel,
  destination: r.destination,
  purpose: r.purpose,
  externalUserId: r.external_user_id,
  codeHash: r.code_hash,
  status: r.status,
  attempts: r.attempts,
  maxAttempts: r.max_attempts,
  test: r.test,
  expiresAt: r.expires_at,
  verifiedAt: r.verified_at,
  createdAt: r.created_at,
});

/** This feature's queries over `client` (the pool, or a transaction). */
export function otpRepository(client: Client) {
  return {
    /**
     * Creates the destination's guard row if missing and locks it until the transaction ends
     * (an upsert takes the row lock), so concurrent sends to one destination run one at a time
     * and each sees the challenges the previous one committed.
     */
    async lockDestination(key: DestinationKey, now: Date): Promise<GuardState> {
      const rows = await client.$queryRaw<Array<{ consecutive_failures: number; locked_until: Date | null }>>`
        INSERT INTO destination_guards (app_id, channel, destination, consecutive_failures, updated_at)
        VALUES (${key.appId}, ${key.channel}::otp_channel, ${key.destination}, 0, ${now})
        ON CONFLICT (app_id, channel, destination) DO UPDATE SET updated_at = EXCLUDED.updated_at
        RETURNING consecutive_failures, locked_until`;
      const row = rows[0]!;
      return { consecutiveFailures: row.consecutive_failures, lockedUntil: row.locked_until };
    },

    /**
     * After lockDestination, in one statement (so on a snapshot taken after the lock): the
     * destination's send history within the window, and — only if `limits` allow another send
     * (test sends are always allowed and never counted) — the live code for the same purpose
     * replaced by `challenge` (API.md §4.1). `count`/`oldest` cover sends since `windowStart`;
     * `lastLive` is the newest of those not refused by the provider.
     */
    async admitChallenge(
      challenge: Omit<ChallengeRecord, "attempts" | "verifiedAt">,
      limits: { windowStart: Date; resendBefore: Date; maxInWindow: number },
    ): Promise<{ admitted: boolean; count: number; oldest: Date | null; lastLive: Date | null }> {
      const c = challenge;
      const rows = await client.$queryRaw<Array<{ admitted: boolean; count: number; oldest: Date | null; last_live: Date | null }>>`
        WITH history AS (
          SELECT count(*)::int AS count,
                 min(created_at) AS oldest,
                 max(created_at) FILTER (WHERE status <> 'failed') AS last_live
            FROM otp_challenges
           WHERE app_id = ${c.appId} AND channel = ${c.channel}::otp_channel AND destination = ${c.destination}
             AND created_at > ${limits.windowStart}::timestamptz AND NOT test
        ), verdict AS (
          SELECT count, oldest, last_live,
                 (${c.test}::boolean OR ((last_live IS NULL OR last_live <= ${limits.resendBefore}::timestamptz) AND count < ${limits.maxInWindow}::int)) AS admitted
            FROM history
        ), replaced AS (
          UPDATE otp_challenges SET status = 'replaced'
           WHERE app_id = ${c.appId} AND channel = ${c.channel}::otp_channel AND destination = ${c.destination}
             AND purpose = ${c.purpose} AND status IN ('sending', 'pending')
             AND (SELECT admitted FROM verdict)
        ), inserted AS (
          INSERT INTO otp_challenges (id, app_id, channel, destination, purpose, external_user_id, code_hash, status, attempts, max_attempts, test, expires_at, created_at)
          SELECT ${c.id}, ${c.appId}, ${c.channel}::otp_channel, ${c.destination}, ${c.purpose}, ${c.externalUserId}::text, ${c.codeHash},
                 ${c.status}::otp_status, 0, ${c.maxAttempts}::int, ${c.test}::boolean, ${c.expiresAt}::timestamptz, ${c.createdAt}::timestamptz
            FROM verdict WHERE admitted
        )
        SELECT admitted, count, oldest, last_live FROM verdict`;
      const row = rows[0]!;
      return { admitted: row.admitted, count: row.count, oldest: row.oldest, lastLive: row.last_live };
    },

    /**
     * The right code: takes an attempt and marks the challenge verified in one statement, only
     * if it is still live, unexpired and within its attempt budget. Null when another request
     * got there first (or the budget or the time ran out): exactly one success per challenge.
     */
    async consumeVerified(id: string, now: Date): Promise<ChallengeRecord | null> {
      const rows = await client.$queryRaw<ChallengeRow[]>`
        UPDATE otp_challenges
           SET attempts = attempts + 1, status = 'verified', verified_at = ${now}
         WHERE id = ${id} AND status IN ('sending', 'pending') AND attempts < max_attempts AND expires_at > ${now}
        RETURNING *`;
      return rows[0] ? toChallenge(rows[0]) : null;
    },

    /**
     * A wrong code: takes one attempt, only if one is left; the attempt that spends the last
     * one also kills the challenge (`exhausted`). Null when no attempt was left to take, so N
     * concurrent wrong codes consume exactly the budget and no more.
     */
    async consumeFailedAttempt(id: string, now: Date): Promise<{ attempts: number; maxAttempts: number; status: OtpStatus } | null> {
      const rows = await client.$queryRaw<Array<{ attempts: number; max_attempts: number; status: OtpStatus }>>`
        UPDATE otp_challenges
           SET attempts = attempts + 1,
               status = CASE WHEN attempts + 1 >= max_attempts THEN 'exhausted'::otp_status ELSE status END
         WHERE id = ${id} AND status IN ('sending', 'pending') AND attempts < max_attempts AND expires_at > ${now}
        RETURNING attempts, max_attempts, status`;
      const row = rows[0];
      return row ? { attempts: row.attempts, maxAttempts: row.max_attempts, status: row.status } : null;
    },

    /**
     * Counts one more consecutive wrong code for the destination (NIST SP 800-63B §5.2.2: at
     * most 100 consecutive failures). Reaching `threshold` locks it until `lockUntil` and
     * starts the count again. Returns the state after the change.
     */
    async recordFailure(key: DestinationKey, now: Date, policy: { threshold: number; lockUntil: Date }): Promise<GuardState & { lockedNow: boolean }> {
      const rows = await client.$queryRaw<Array<{ consecutive_failures: number; locked_until: Date | null; locked_now: boolean }>>`
        INSERT INTO destination_guards AS g (app_id, channel, destination, consecutive_failures, locked_until, updated_at)
        VALUES (${key.appId}, ${key.channel}::otp_channel, ${key.destination},
                CASE WHEN 1 >= ${policy.threshold}::int THEN 0 ELSE 1 END,
                CASE WHEN 1 >= ${policy.threshold}::int THEN ${policy.lockUntil}::timestamptz END,
                ${now})
        ON CONFLICT (app_id, channel, destination) DO UPDATE SET
          consecutive_failures = CASE WHEN g.consecutive_failures + 1 >= ${policy.threshold}::int THEN 0 ELSE g.consecutive_failures + 1 END,
          locked_until = CASE WHEN g.consecutive_failures + 1 >= ${policy.threshold}::int THEN ${policy.lockUntil}::timestamptz ELSE g.locked_until END,
          updated_at = EXCLUDED.updated_at
        RETURNING consecutive_failures, locked_until, locked_until = ${policy.lockUntil}::timestamptz AND consecutive_failures = 0 AS locked_now`;
      const row = rows[0]!;
      return { consecutiveFailures: row.consecutive_failures, lockedUntil: row.locked_until, lockedNow: row.locked_now };
    },

    /** A right code ends the run of failures. */
    async resetFailures(key: DestinationKey, now: Date): Promise<void> {
      await client.$executeRaw`
        UPDATE destination_guards SET consecutive_failures = 0, updated_at = ${now}
         WHERE app_id = ${key.appId} AND channel = ${key.channel}::otp_channel AND destination = ${key.destination}
           AND consecutive_failures > 0`;
    },

    /** One row per successful verification, for MFA policies (API.md §8). */
    async insertVerification(row: { id: string; appId: string; externalUserId: string | null; channel: string; purpose: string; reference: string; createdAt: Date }): Promise<void> {
      await client.verification.create({ data: row });
    },
  };
}

export type OtpRepository = ReturnType<typeof otpRepository>;

/** Interactive transactions wait this long for a pooled connection under load (Prisma's default is 2 s). */
const TRANSACTION_MAX_WAIT_MS = 10_000;
const TRANSACTION_TIMEOUT_MS = 15_000;

/** The row of an event to insert in the same statement as its state change (what recordEvent writes). */
function eventRow(input: EventInput): { id: string; type: string; channel: string | null; payload: string } {
  const id = newId("evt");
  return { id, type: input.type, channel: input.channel ?? null, payload: JSON.stringify(buildEventPayload(id, input)) };
}

/** What a verified challenge leaves behind, in the statement that consumes it. */
export interface VerificationRecords {
  verificationId: string;
  appId: string;
  externalUserId: string | null;
  channel: OtpChannel;
  purpose: string;
  event: EventInput;
}

/**
 * The feature's store: the single-statement hot paths over the driver, and interactive
 * transactions that hand out the repository (and `tx`, for recordEvent) over the transaction.
 */
export function otpStore(db: Database) {
  const prisma = db.prisma;
  /**
   * Sets the status of a challenge still in one of `from`, and records `event` in the same
   * statement either way (the message was sent, or refused, whatever became of the challenge).
   */
  const transition = async (id: string, from: OtpStatus[], to: OtpStatus, event: EventInput): Promise<boolean> => {
    const row = eventRow(event);
    const rows = await db.query<{ id: string }>(
      `WITH changed AS (
         UPDATE otp_challenges SET status = $3::otp_status WHERE id = $1 AND status = ANY($2::otp_status[]) RETURNING id
       ), recorded AS (
         INSERT INTO events (id, app_id, type, channel, payload, created_at) VALUES ($4, $5, $6, $7, $8, $9::timestamptz)
       )
       SELECT id FROM changed`,
      [id, from, to, row.id, event.appId, row.type, row.channel, row.payload, event.at],
    );
    return rows.length === 1;
  };

  return {
    /** Runs `fn` in one transaction; `repo` for this feature's statements, `tx` for recordEvent. */
    transaction<T>(fn: (repo: OtpRepository, tx: Tx) => Promise<T>): Promise<T> {
      return prisma.$transaction((tx) => fn(otpRepository(tx), tx), { maxWait: TRANSACTION_MAX_WAIT_MS, timeout: TRANSACTION_TIMEOUT_MS });
    },

    /** The newest challenge for destination + purpose, and the destination's guard, in one round trip. */
    async findLatest(key: DestinationKey, purpose: string): Promise<{ challenge: ChallengeRecord | null; guard: GuardState | null }> {
      const rows = await db.query<Partial<ChallengeRow> & { g_failures: number | null; g_locked_until: Date | null }>(
        `SELECT c.*, g.consecutive_failures AS g_failures, g.locked_until AS g_locked_until
           FROM (SELECT 1) AS one
           LEFT JOIN destination_guards g ON g.app_id = $1 AND g.channel = $2::otp_channel AND g.destination = $3
           LEFT JOIN LATERAL (
                 SELECT * FROM otp_challenges
                  WHERE app_id = $1 AND channel = $2::otp_channel AND destination = $3 AND purpose = $4
                  -- Sends within one millisecond (test destinations have no send limits) tie on
                  -- created_at; of those, at most one is live, and it is the newest.
                  ORDER BY created_at DESC, (status IN ('sending', 'pending')) DESC
                  LIMIT 1) c ON true`,
        [key.appId, key.channel, key.destination, purpose],
      );
      const row = rows[0]!;
      return {
        challenge: row.id ? toChallenge(row as ChallengeRow) : null,
        guard: row.g_failures === null || row.g_failures === undefined ? null : { consecutiveFailures: row.g_failures, lockedUntil: row.g_locked_until ?? null },
      };
    },

    async findById(id: string): Promise<ChallengeRecord | null> {
      const rows = await db.query<ChallengeRow>("SELECT * FROM otp_challenges WHERE id = $1", [id]);
      return rows[0] ? toChallenge(rows[0]) : null;
    },

    /**
     * The right code, in one statement: takes an attempt and marks the challenge verified only
     * if it is still live, unexpired and within its attempt budget, and only then inserts the
     * Verification row and the `verification.succeeded` event. False when another request got
     * there first (or the budget or the time ran out): exactly one success per challenge.
     */
    async consumeVerified(challengeId: string, now: Date, records: VerificationRecords): Promise<boolean> {
      const event = eventRow(records.event);
      const rows = await db.query<{ id: string }>(
        `WITH consumed AS (
           UPDATE otp_challenges SET attempts = attempts + 1, status = 'verified', verified_at = $2
            WHERE id = $1 AND status IN ('sending', 'pending') AND attempts < max_attempts AND expires_at > $2
           RETURNING id
         ), verification AS (
           INSERT INTO verifications (id, app_id, external_user_id, channel, purpose, reference, created_at)
           SELECT $3::text, $4::text, $5::text, $6::text, $7::text, id, $2::timestamptz FROM consumed
         ), recorded AS (
           INSERT INTO events (id, app_id, type, channel, payload, created_at)
           SELECT $8::text, $4::text, $9::text, $6::text, $10::text, $11::timestamptz FROM consumed
         )
         SELECT id FROM consumed`,
        [challengeId, now, records.verificationId, records.appId, records.externalUserId, records.channel, records.purpose, event.id, event.type, event.payload, records.event.at],
      );
      return rows.length === 1;
    },

    /** After the provider accepted it: `pending`, with `otp.sent`. False when it changed meanwhile. */
    markDelivered: (id: string, event: EventInput) => transition(id, ["sending"], "pending", event),

    /** After the provider refused it: it can never be verified; with `verification.failed`. */
    markFailed: (id: string, event: EventInput) => transition(id, ["sending", "pending"], "failed", event),
  };
}

export type OtpStore = ReturnType<typeof otpStore>;
