/**
 * TOTP factors and backup codes: this feature's queries, nothing else. Single-use and budget
 * rules live in the SQL itself (STYLE.md §6, §7): a time step is claimed and an attempt is
 * counted by one conditional UPDATE each, so concurrent requests cannot both pass.
 *
 * The verify hot path (read the factor; claim the step with its verification row and events)
 * is two statements through the driver (`db.query`), not Prisma: Prisma's per-query cost is
 * several times the round trip itself, and a verify is little else. Everything else uses
 * Prisma and interactive transactions.
 */
import type { Database, Tx } from "../../infra/db.ts";
import { announceRecordedEvents, buildEventPayload, type EventInput } from "../../infra/events.ts";
import { newId } from "../../shared/ids.ts";

export type FactorStatus = "pending" | "enabled";

export interface TotpFactorRecord {
  id: string;
  endUserId: string;
  secretSealed: string;
  algorithm: string;
  digits: number;
  periodSeconds: number;
  status: FactorStatus;
  /** Highest RFC 6238 time step accepted so far. */
  lastUsedStep: number | null;
  failedAttempts: number;
  lockedUntil: Date | null;
  createdAt: Date;
  lastUsedAt: Date | null;
}

interface FactorRow {
  id: string;
  end_user_id: string;
  secret_sealed: string;
  algorithm: string;
  digits: number;
  period_seconds: number;
  status: FactorStatus;
  /** int8: a string from pg, a bigint from PGlite. */
  last_used_step: bigint | number | string | null;
  failed_attempts: number;
  locked_until: Date | null;
  created_at: Date;
  last_used_at: Date | null;
}

const toRecord = (row: FactorRow): TotpFactorRecord => ({
  id: row.id,
  endUserId: row.end_user_id,
  secretSealed: row.secret_sealed,
  algorithm: row.algorithm,
  digits: row.digits,
  periodSeconds: row.period_seconds,
  status: row.status,
  lastUsedStep: row.last_used_step === null ? null : Number(row.last_used_step),
  failedAttempts: row.failed_attempts,
  lockedUntil: row.locked_until,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
});

export interface BackupCodeRecord {
  id: string;
  codeHash: string;
  usedAt: Date | null;
}

/** Interactive transactions wait this long for a pooled connection under load. */
const TRANSACTION_MAX_WAIT_MS = 10_000;
const TRANSACTION_TIMEOUT_MS = 15_000;

const FACTOR_COLUMNS = `f.id, f.end_user_id, f.secret_sealed, f.algorithm, f.digits, f.period_seconds, f.status::text AS status,
  f.last_used_step, f.failed_attempts, f.locked_until, f.created_at, f.last_used_at`;

/** What a successful claim records: a verification row and its events. */
export interface ClaimRecords {
  appId: string;
  externalUserId: string;
  purpose: string;
  /** `verification.succeeded` data; `activated: true` is added when the claim activates. */
  data: Record<string, unknown>;
  at: Date;
}

export function totpRepository(db: Database) {
  const prisma = db.prisma;
  return {
    /** Runs `fn` in one database transaction (the state change and its events commit together). */
    transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      return prisma.$transaction(fn, { maxWait: TRANSACTION_MAX_WAIT_MS, timeout: TRANSACTION_TIMEOUT_MS });
    },

    /** The factor of the app's user `externalId`: one indexed join, the verify hot path. */
    async findFactor(appId: string, externalId: string): Promise<TotpFactorRecord | null> {
      const rows = await db.query<FactorRow>(
        `SELECT ${FACTOR_COLUMNS} FROM end_users u JOIN totp_factors f ON f.end_user_id = u.id WHERE u.app_id = $1 AND u.external_id = $2`,
        [appId, externalId],
      );
      return rows[0] ? toRecord(rows[0]) : null;
    },

    /** The factor and how many unused backup codes the user has, for status. */
    async findStatus(appId: string, externalId: string): Promise<{ factor: TotpFactorRecord; backupCodesRemaining: number } | null> {
      const rows = await db.query<FactorRow & { backup_codes_remaining: number }>(
        `SELECT ${FACTOR_COLUMNS},
                (SELECT count(*) FROM backup_codes b WHERE b.end_user_id = u.id AND b.used_at IS NULL)::int AS backup_codes_remaining
         FROM end_users u JOIN totp_factors f ON f.end_user_id = u.id WHERE u.app_id = $1 AND u.external_id = $2`,
        [appId, externalId],
      );
      const row = rows[0];
      return row ? { factor: toRecord(row), backupCodesRemaining: Number(row.backup_codes_remaining) } : null;
    },

    /**
     * Claims time step `step` for the factor (RFC 6238 §5.2: each step is accepted at most
     * once) and, in the same statement — so atomically — writes the verification row, the
     * `verification.succeeded` event and, when this claim activated a pending factor,
     * `totp.enabled`. The claim succeeds only when `step` is later than every step accepted
     * before and the factor is not locked at `at`; it activates a pending factor, resets the
     * attempt budget and stores `resealed` (the secret under the current key) when given.
     *
     * `prior` reads the status under the row lock, so of two concurrent claims only the first
     * sees `pending`: exactly one reports the activation. Returns null when the claim failed
     * (a replay, a lock, or the factor was replaced or removed meanwhile).
     *
     * The events are the rows `recordEvent` (infra/events.ts) writes, payloads included; they
     * are inserted here rather than through it so that the whole success is one statement,
     * and announced to this process's listeners (the webhook dispatcher) once it committed.
     */
    async claimStep(input: { factorId: string; step: number; resealed: string | null; records: ClaimRecords }): Promise<{ activated: boolean } | null> {
      const { records } = input;
      const event = (id: string, type: EventInput["type"], data?: Record<string, unknown>) =>
        JSON.stringify(buildEventPayload(id, { appId: records.appId, type, channel: "totp", externalUserId: records.externalUserId, data, at: records.at }));
      const succeededId = newId("evt");
      const enabledId = newId("evt");
      const rows = await db.query<{ previous_status: FactorStatus }>(
        `WITH prior AS (SELECT id, status FROM totp_factors WHERE id = $1 FOR UPDATE),
         claimed AS (
           UPDATE totp_factors f SET
             last_used_step = $2, failed_attempts = 0, locked_until = NULL, last_used_at = $3,
             status = 'enabled', activated_at = COALESCE(f.activated_at, $3),
             secret_sealed = COALESCE($4::text, f.secret_sealed)
           FROM prior
           WHERE f.id = prior.id
             AND (f.last_used_step IS NULL OR f.last_used_step < $2)
             AND (f.locked_until IS NULL OR f.locked_until <= $3)
           RETURNING prior.status::text AS previous_status
         ),
         verification AS (
           INSERT INTO verifications (id, app_id, external_user_id, channel, purpose, reference, created_at)
           SELECT $5, $6, $7, 'totp', $8, $1, $3 FROM claimed
         ),
         succeeded AS (
           INSERT INTO events (id, app_id, type, channel, payload, created_at)
           SELECT $9, $6, 'verification.succeeded', 'totp', CASE WHEN previous_status = 'pending' THEN $10 ELSE $11 END, $3 FROM claimed
         ),
         enabled AS (
           INSERT INTO events (id, app_id, type, channel, payload, created_at)
           SELECT $12, $6, 'totp.enabled', 'totp', $13, $3 FROM claimed WHERE previous_status = 'pending'
         )
         SELECT previous_status FROM claimed`,
        [
          input.factorId, input.step, records.at, input.resealed,
          newId("ver"), records.appId, records.externalUserId, records.purpose,
          succeededId, event(succeededId, "verification.succeeded", { ...records.data, activated: true }), event(succeededId, "verification.succeeded", records.data),
          enabledId, event(enabledId, "totp.enabled"),
        ],
      );
      const row = rows[0];
      if (!row) return null;
      const activated = row.previous_status === "pending";
      announceRecordedEvents(activated ? [{ id: succeededId, appId: records.appId }, { id: enabledId, appId: records.appId }] : [{ id: succeededId, appId: records.appId }]);
      return { activated };
    },

    /** The user's factor, locked until the transaction ends (serializes setup, regenerate, delete). */
    async lockFactor(tx: Tx, endUserId: string): Promise<TotpFactorRecord | null> {
      const rows = await tx.$queryRaw<FactorRow[]>`
        SELECT id, end_user_id, secret_sealed, algorithm, digits, period_seconds, status::text AS status,
               last_used_step, failed_attempts, locked_until, created_at, last_used_at
        FROM totp_factors WHERE end_user_id = ${endUserId} FOR UPDATE`;
      return rows[0] ? toRecord(rows[0]) : null;
    },

    /**
     * Stores a new pending factor for the user, replacing whatever factor they had: a new id,
     * secret and parameters, with the replay marker and the attempt budget reset. One
     * statement, so two first-time setups racing cannot collide on the unique user.
     */
    async putPendingFactor(tx: Tx, input: { id: string; endUserId: string; secretSealed: string; algorithm: string; digits: number; periodSeconds: number; at: Date }): Promise<void> {
      await tx.$executeRaw`
        INSERT INTO totp_factors (id, end_user_id, secret_sealed, algorithm, digits, period_seconds, status, created_at)
        VALUES (${input.id}, ${input.endUserId}, ${input.secretSealed}, ${input.algorithm}, ${input.digits}, ${input.periodSeconds}, 'pending', ${input.at})
        ON CONFLICT (end_user_id) DO UPDATE SET
          id = EXCLUDED.id, secret_sealed = EXCLUDED.secret_sealed, algorithm = EXCLUDED.algorithm,
          digits = EXCLUDED.digits, period_seconds = EXCLUDED.period_seconds, status = 'pending',
          last_used_step = NULL, failed_attempts = 0, locked_until = NULL,
          created_at = EXCLUDED.created_at, activated_at = NULL, last_used_at = NULL`;
    },

    /**
     * Counts one wrong code, atomically: the increment and the decision to lock happen in one
     * UPDATE, so N concurrent wrong codes consume exactly N attempts and the lock starts at
     * exactly `maxFailures`. A factor already locked at `at` is left alone (null is returned).
     * The count is not reset when the lock starts: after it expires, the next wrong code locks
     * again at once, until a correct code resets it ("in a row", NIST SP 800-63B §5.2.2).
     */
    async recordFailure(tx: Tx, input: { factorId: string; at: Date; maxFailures: number; lockUntil: Date }): Promise<{ failedAttempts: number; lockedUntil: Date | null } | null> {
      const rows = await tx.$queryRaw<Array<{ failed_attempts: number; locked_until: Date | null }>>`
        UPDATE totp_factors SET
          failed_attempts = failed_attempts + 1,
          locked_until = CASE WHEN failed_attempts + 1 >= ${input.maxFailures} THEN ${input.lockUntil} ELSE locked_until END
        WHERE id = ${input.factorId} AND (locked_until IS NULL OR locked_until <= ${input.at})
        RETURNING failed_attempts, locked_until`;
      return rows[0] ? { failedAttempts: rows[0].failed_attempts, lockedUntil: rows[0].locked_until } : null;
    },

    /** A backup code was accepted: reset the attempt budget unless the factor got locked meanwhile. */
    async recordBackupCodeSuccess(tx: Tx, input: { factorId: string; at: Date }): Promise<boolean> {
      const count = await tx.$executeRaw`
        UPDATE totp_factors SET failed_attempts = 0, locked_until = NULL, last_used_at = ${input.at}
        WHERE id = ${input.factorId} AND status = 'enabled' AND (locked_until IS NULL OR locked_until <= ${input.at})`;
      return count === 1;
    },

    /** Removes the user's factor and backup codes; returns what was removed. */
    async deleteFactor(tx: Tx, endUserId: string): Promise<{ id: string; status: FactorStatus } | null> {
      const rows = await tx.$queryRaw<Array<{ id: string; status: FactorStatus }>>`
        DELETE FROM totp_factors WHERE end_user_id = ${endUserId} RETURNING id, status::text AS status`;
      await tx.backupCode.deleteMany({ where: { endUserId } });
      return rows[0] ?? null;
    },

    /** The user's current set (at most one set exists: regenerating deletes the old one). */
    listBackupCodes(tx: Tx, endUserId: string): Promise<BackupCodeRecord[]> {
      return tx.backupCode.findMany({ where: { endUserId }, select: { id: true, codeHash: true, usedAt: true } });
    },

    /** Uses one backup code: one conditional UPDATE that only an unused code passes. */
    async consumeBackupCode(tx: Tx, id: string, at: Date): Promise<boolean> {
      const { count } = await tx.backupCode.updateMany({ where: { id, usedAt: null }, data: { usedAt: at } });
      return count === 1;
    },

    countUnusedBackupCodes(tx: Tx, endUserId: string): Promise<number> {
      return tx.backupCode.count({ where: { endUserId, usedAt: null } });
    },

    /** Replaces the user's backup codes with `codes` (hashes only). */
    async replaceBackupCodes(tx: Tx, endUserId: string, codes: Array<{ id: string; codeHash: string }>, at: Date): Promise<void> {
      await tx.backupCode.deleteMany({ where: { endUserId } });
      await tx.backupCode.createMany({ data: codes.map((c) => ({ id: c.id, endUserId, codeHash: c.codeHash, createdAt: at })) });
    },

    /** The row MFA policies look back over (API.md §8). */
    async insertVerification(tx: Tx, input: { id: string; appId: string; externalUserId: string; purpose: string; reference: string; at: Date }): Promise<void> {
      await tx.verification.create({
        data: { id: input.id, appId: input.appId, externalUserId: input.externalUserId, channel: "totp", purpose: input.purpose, reference: input.reference, createdAt: input.at },
      });
    },
  };
}

export type TotpRepository = ReturnType<typeof totpRepository>;
