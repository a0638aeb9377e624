/**
 * WebAuthn queries: credentials (webauthn_credentials) and server-side challenges
 * (webauthn_challenges), always scoped to one app.
 *
 * The sign-in hot path is three statements through the driver (`db.query`), not Prisma:
 * issue the challenge (with the user's credential descriptors), claim it (with the
 * credential), and record the success (counter, verification row and event). Prisma's
 * per-query cost is several times the round trip itself, and a sign-in is little else.
 * Registration, failures and credential management use Prisma and interactive transactions.
 */
import type { Database, Tx } from "../../infra/db.ts";
import { announceRecordedEvents, buildEventPayload, type EventInput } from "../../infra/events.ts";
import { newId } from "../../shared/ids.ts";
import { ensureEndUser, findEndUser, type EndUserRecord } from "../users/users.repository.ts";

export type Ceremony = "registration" | "authentication";

export interface CredentialRecord {
  id: string;
  endUserId: string;
  /** The owner's `userId` in the API. */
  externalUserId: string;
  /** base64url WebAuthn credential id. */
  credentialId: string;
  publicKey: Uint8Array;
  counter: number;
  transports: string[];
  aaguid: string | null;
  backupEligible: boolean;
  backupState: boolean;
  deviceName: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export interface ChallengeRecord {
  ceremony: Ceremony;
  externalUserId: string | null;
  expiresAt: Date;
  consumedAt: Date | null;
}

const CREDENTIAL_SELECT = {
  id: true,
  endUserId: true,
  credentialId: true,
  publicKey: true,
  counter: true,
  transports: true,
  aaguid: true,
  backupEligible: true,
  backupState: true,
  deviceName: true,
  createdAt: true,
  lastUsedAt: true,
  endUser: { select: { externalId: true } },
} as const;

type CredentialRow = {
  id: string;
  endUserId: string;
  credentialId: string;
  publicKey: Uint8Array;
  counter: bigint;
  transports: string[];
  aaguid: string | null;
  backupEligible: boolean;
  backupState: boolean;
  deviceName: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  endUser: { externalId: string };
};

function toRecord(row: CredentialRow): CredentialRecord {
  const { endUser, counter, ...rest } = row;
  return { ...rest, externalUserId: endUser.externalId, counter: Number(counter) };
}

/** A credential row as the driver returns it (snake_case, counter as text). */
interface CredentialSqlRow {
  id: string;
  end_user_id: string;
  external_id: string;
  credential_id: string;
  public_key: Uint8Array;
  counter: string;
  transports: string[];
  aaguid: string | null;
  backup_eligible: boolean;
  backup_state: boolean;
  device_name: string | null;
  created_at: Date;
  last_used_at: Date | null;
}

const CREDENTIAL_COLUMNS = `c.id, c.end_user_id, u.external_id, c.credential_id, c.public_key, c.counter::text AS counter,
  c.transports, c.aaguid, c.backup_eligible, c.backup_state, c.device_name, c.created_at, c.last_used_at`;

function fromSql(row: CredentialSqlRow): CredentialRecord {
  return {
    id: row.id,
    endUserId: row.end_user_id,
    externalUserId: row.external_id,
    credentialId: row.credential_id,
    publicKey: new Uint8Array(row.public_key),
    counter: Number(row.counter),
    transports: row.transports,
    aaguid: row.aaguid,
    backupEligible: row.backup_eligible,
    backupState: row.backup_state,
    deviceName: row.device_name,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
  };
}

export function webauthnRepository(db: Database) {
  const prisma = db.prisma;
  return {
    transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      return prisma.$transaction(fn);
    },

    ensureUser(appId: string, externalUserId: string): Promise<EndUserRecord> {
      return ensureEndUser(prisma, appId, externalUserId);
    },

    findUser(appId: string, externalUserId: string): Promise<EndUserRecord | null> {
      return findEndUser(prisma, appId, externalUserId);
    },

    /** A user's credentials, oldest first. */
    async listForUser(appId: string, externalUserId: string): Promise<CredentialRecord[]> {
      const rows = await prisma.webauthnCredential.findMany({
        where: { appId, endUser: { appId, externalId: externalUserId } },
        orderBy: [{ createdAt: "asc" }, { id: "asc" }],
        select: CREDENTIAL_SELECT,
      });
      return rows.map(toRecord);
    },

    /** Descriptors only (options), without reading public keys. */
    listDescriptors(appId: string, endUserId: string): Promise<Array<{ credentialId: string; transports: string[] }>> {
      return prisma.webauthnCredential.findMany({
        where: { appId, endUserId },
        orderBy: [{ createdAt: "asc" }, { id: "asc" }],
        select: { credentialId: true, transports: true },
      });
    },

    async createChallenge(input: { appId: string; ceremony: Ceremony; challenge: string; externalUserId: string | null; createdAt: Date; expiresAt: Date }): Promise<void> {
      await prisma.webauthnChallenge.create({ data: { id: newId("wch"), ...input } });
    },

    /**
     * Consumes a live challenge: one conditional UPDATE that succeeds for exactly one caller
     * (STYLE.md §6). Null when no unconsumed, unexpired challenge of this app and ceremony has
     * this value.
     */
    async consumeChallenge(input: { appId: string; ceremony: Ceremony; challenge: string; now: Date }): Promise<{ externalUserId: string | null } | null> {
      const rows = await prisma.$queryRaw<Array<{ externalUserId: string | null }>>`
        UPDATE webauthn_challenges SET consumed_at = ${input.now}
        WHERE app_id = ${input.appId} AND challenge = ${input.challenge}
          AND ceremony = ${input.ceremony}::webauthn_ceremony
          AND consumed_at IS NULL AND expires_at > ${input.now}
        RETURNING external_user_id AS "externalUserId"`;
      return rows[0] ?? null;
    },

    /** The challenge in whatever state, to tell "expired" from "already used" from "unknown". */
    findChallenge(appId: string, challenge: string): Promise<ChallengeRecord | null> {
      return prisma.webauthnChallenge.findUnique({
        where: { appId_challenge: { appId, challenge } },
        select: { ceremony: true, externalUserId: true, expiresAt: true, consumedAt: true },
      });
    },

    /** Deletes up to `limit` challenges that expired before `before`. */
    async purgeChallenges(before: Date, limit: number): Promise<number> {
      return prisma.$executeRaw`
        DELETE FROM webauthn_challenges WHERE id IN (
          SELECT id FROM webauthn_challenges WHERE expires_at < ${before} LIMIT ${limit})`;
    },

    /**
     * Issues an authentication challenge for a named user in one statement: returns the user's
     * credential descriptors, and stores the challenge only when there is at least one.
     */
    async issueAuthenticationChallenge(input: { appId: string; externalUserId: string; challenge: string; createdAt: Date; expiresAt: Date }): Promise<Array<{ credentialId: string; transports: string[] }>> {
      const rows = await db.query<{ credential_id: string; transports: string[] }>(
        // From the user (unique per app) to their credentials (end_user_id index): never through
        // the app's credentials, whatever the planner believes about the tables' sizes. A
        // credential always carries its user's app (both come from ensureUser in one app).
        `WITH creds AS (
           SELECT c.id, c.credential_id, c.transports, c.created_at
           FROM end_users u JOIN webauthn_credentials c ON c.end_user_id = u.id
           WHERE u.app_id = $1 AND u.external_id = $2
         ),
         issued AS (
           INSERT INTO webauthn_challenges (id, app_id, ceremony, challenge, external_user_id, created_at, expires_at)
           SELECT $3, $1, 'authentication', $4, $2, $5, $6 WHERE EXISTS (SELECT 1 FROM creds)
         )
         SELECT credential_id, transports FROM creds ORDER BY created_at, id`,
        [input.appId, input.externalUserId, newId("wch"), input.challenge, input.createdAt, input.expiresAt],
      );
      return rows.map((r) => ({ credentialId: r.credential_id, transports: r.transports }));
    },

    /**
     * Consumes a live authentication challenge (STYLE.md §6) and, in the same statement, reads
     * the credential the assertion names. Null when no unconsumed, unexpired authentication
     * challenge of this app has this value; `credential` null when the app has no such credential.
     */
    async claimAuthentication(input: { appId: string; challenge: string; credentialId: string; now: Date }): Promise<{ challengeUserId: string | null; credential: CredentialRecord | null } | null> {
      const rows = await db.query<{ challenge_user_id: string | null } & Partial<CredentialSqlRow>>(
        `WITH claimed AS (
           UPDATE webauthn_challenges SET consumed_at = $4
           WHERE app_id = $1 AND challenge = $2 AND ceremony = 'authentication' AND consumed_at IS NULL AND expires_at > $4
           RETURNING external_user_id
         )
         SELECT claimed.external_user_id AS challenge_user_id, ${CREDENTIAL_COLUMNS}
         FROM claimed
         LEFT JOIN (webauthn_credentials c JOIN end_users u ON u.id = c.end_user_id) ON c.app_id = $1 AND c.credential_id = $3`,
        [input.appId, input.challenge, input.credentialId, input.now],
      );
      const row = rows[0];
      if (!row) return null;
      return { challengeUserId: row.challenge_user_id, credential: row.id ? fromSql(row as CredentialSqlRow) : null };
    },

    /**
     * Records a verified assertion in one statement: the counter moves forward only if it
     * increased (WebAuthn §6.1.1, §7.2: new > stored unless both are 0 — so two concurrent
     * assertions cannot both pass with one value), with the verification row and the
     * `verification.succeeded` event. The event is the row `recordEvent` (infra/events.ts)
     * writes, payload included; it is announced to this process's listeners once committed.
     * False when the counter did not move forward (nothing written).
     */
    async completeAuthentication(input: {
      credentialRowId: string;
      newCounter: number;
      backupState: boolean;
      at: Date;
      purpose: string;
      event: Omit<EventInput, "type" | "at" | "channel">;
    }): Promise<boolean> {
      const eventId = newId("evt");
      const payload = buildEventPayload(eventId, { ...input.event, type: "verification.succeeded", channel: "webauthn", at: input.at });
      const rows = await db.query<{ id: string }>(
        `WITH advanced AS (
           UPDATE webauthn_credentials SET counter = $2, backup_state = $3, last_used_at = $4
           WHERE id = $1 AND (counter < $2 OR (counter = 0 AND $2 = 0))
           RETURNING id, app_id, credential_id
         ),
         verification AS (
           INSERT INTO verifications (id, app_id, external_user_id, channel, purpose, reference, created_at)
           SELECT $5, app_id, $6, 'webauthn', $7, credential_id, $4 FROM advanced
         ),
         succeeded AS (
           INSERT INTO events (id, app_id, type, channel, payload, created_at)
           SELECT $8, app_id, 'verification.succeeded', 'webauthn', $9, $4 FROM advanced
         )
         SELECT id FROM advanced`,
        [input.credentialRowId, input.newCounter, input.backupState, input.at, newId("ver"), input.event.externalUserId, input.purpose, eventId, JSON.stringify(payload)],
      );
      if (rows.length !== 1) return false;
      announceRecordedEvents([{ id: eventId, appId: input.event.appId }]);
      return true;
    },

    /** Stores a new credential; false when the app already has one with this credential id. */
    async insertCredential(tx: Tx, input: {
      appId: string;
      endUserId: string;
      credentialId: string;
      publicKey: Uint8Array;
      counter: number;
      transports: string[];
      aaguid: string;
      backupEligible: boolean;
      backupState: boolean;
      deviceName: string | null;
      createdAt: Date;
    }): Promise<boolean> {
      // ON CONFLICT DO NOTHING: a duplicate leaves the transaction usable, unlike a failed INSERT.
      const { count } = await tx.webauthnCredential.createMany({
        data: [{ id: newId("wac"), ...input, publicKey: new Uint8Array(input.publicKey), counter: BigInt(input.counter) }],
        skipDuplicates: true,
      });
      return count === 1;
    },

    async renameCredential(input: { appId: string; credentialId: string; externalUserId?: string; deviceName: string | null }): Promise<CredentialRecord | null> {
      const { count } = await prisma.webauthnCredential.updateMany({
        where: { appId: input.appId, credentialId: input.credentialId, ...(input.externalUserId !== undefined ? { endUser: { externalId: input.externalUserId } } : {}) },
        data: { deviceName: input.deviceName },
      });
      if (count !== 1) return null;
      const row = await prisma.webauthnCredential.findUnique({ where: { appId_credentialId: { appId: input.appId, credentialId: input.credentialId } }, select: CREDENTIAL_SELECT });
      return row ? toRecord(row) : null;
    },

    /** Deletes one credential of the app (of that user, when named); the deleted row, or null. */
    async deleteCredential(tx: Tx, input: { appId: string; credentialId: string; externalUserId?: string }): Promise<CredentialRecord | null> {
      const row = await tx.webauthnCredential.findUnique({ where: { appId_credentialId: { appId: input.appId, credentialId: input.credentialId } }, select: CREDENTIAL_SELECT });
      if (!row || (input.externalUserId !== undefined && row.endUser.externalId !== input.externalUserId)) return null;
      const { count } = await tx.webauthnCredential.deleteMany({ where: { id: row.id } });
      return count === 1 ? toRecord(row) : null;
    },
  };
}

export type WebauthnRepository = ReturnType<typeof webauthnRepository>;
