/**
 * Push devices (`push_devices`) and approval requests (`push_requests`). Every state change two
 * requests could race on is one conditional statement: answering (`status = 'pending' AND
 * expires_at > now`), expiring (`status = 'pending' AND expires_at <= now`) and failing, so the
 * database decides who wins and the winner alone records the event.
 *
 * Lock order, everywhere: the end user's row first (sends and registrations take it), then
 * that user's requests or devices. Times come from the caller's clock (injected), never the
 * database's `now()`.
 */
import type { PushPlatform, PushStatus } from "../../generated/prisma/enums.ts";
import type { PrismaClient, Tx } from "../../infra/db.ts";
import { newId } from "../../shared/ids.ts";
import { findEndUser, type EndUserRecord } from "../users/users.repository.ts";

export type { PushPlatform, PushStatus };

type Client = PrismaClient | Tx;

export interface DeviceRecord {
  id: string;
  appId: string;
  endUserId: string;
  externalUserId: string;
  fcmToken: string;
  platform: PushPlatform;
  deviceName: string | null;
  /** base64 SPKI (DER) of the device's P-256 key, when it signs its answers. */
  publicKey: string | null;
  active: boolean;
  createdAt: Date;
  lastSeenAt: Date | null;
}

export interface RequestRecord {
  id: string;
  appId: string;
  endUserId: string;
  externalUserId: string;
  purpose: string;
  status: PushStatus;
  matchNumber: string | null;
  reason: string | null;
  expiresAt: Date;
  respondedAt: Date | null;
  respondedByDeviceId: string | null;
  createdAt: Date;
}

/** A request that just changed state, with what its events need. */
export interface TransitionedRequest {
  id: string;
  appId: string;
  externalUserId: string;
  purpose: string;
  status: PushStatus;
  reason: string | null;
  respondedAt: Date | null;
}

interface DeviceRow {
  id: string;
  app_id: string;
  end_user_id: string;
  external_id: string;
  fcm_token: string;
  platform: PushPlatform;
  device_name: string | null;
  public_key: string | null;
  active: boolean;
  created_at: Date;
  last_seen_at: Date | null;
}

const toDevice = (r: DeviceRow): DeviceRecord => ({
  id: r.id,
  appId: r.app_id,
  endUserId: r.end_user_id,
  externalUserId: r.external_id,
  fcmToken: r.fcm_token,
  platform: r.platform,
  deviceName: r.device_name,
  publicKey: r.public_key,
  active: r.active,
  createdAt: r.created_at,
  lastSeenAt: r.last_seen_at,
});

interface RequestRow {
  id: string;
  app_id: string;
  end_user_id: string;
  external_id: string;
  purpose: string;
  status: PushStatus;
  match_number: string | null;
  reason: string | null;
  expires_at: Date;
  responded_at: Date | null;
  responded_by_device_id: string | null;
  created_at: Date;
}

const toRequest = (r: RequestRow): RequestRecord => ({
  id: r.id,
  appId: r.app_id,
  endUserId: r.end_user_id,
  externalUserId: r.external_id,
  purpose: r.purpose,
  status: r.status,
  matchNumber: r.match_number,
  reason: r.reason,
  expiresAt: r.expires_at,
  respondedAt: r.responded_at,
  respondedByDeviceId: r.responded_by_device_id,
  createdAt: r.created_at,
});

interface TransitionRow {
  id: string;
  app_id: string;
  external_id: string;
  purpose: string;
  status: PushStatus;
  reason: string | null;
  responded_at: Date | null;
}

const toTransitioned = (r: TransitionRow): TransitionedRequest => ({
  id: r.id,
  appId: r.app_id,
  externalUserId: r.external_id,
  purpose: r.purpose,
  status: r.status,
  reason: r.reason,
  respondedAt: r.responded_at,
});

export interface NewDevice {
  appId: string;
  endUserId: string;
  fcmToken: string;
  platform: PushPlatform;
  deviceName: string | null;
  publicKey: string | null;
  deviceTokenHash: string;
  at: Date;
}

export interface NewRequest {
  id: string;
  appId: string;
  endUserId: string;
  title: string;
  body: string;
  data: Record<string, string> | null;
  context: Record<string, unknown> | null;
  purpose: string;
  matchNumber: string | null;
  expiresAt: Date;
  createdAt: Date;
}

export interface FatigueCounts {
  /** Requests still pending (and not past their expiry) for the user. */
  pending: number;
  earliestPendingExpiry: Date | null;
  /** Denials answered since the window start. */
  denials: number;
  oldestDenialAt: Date | null;
}

export function pushRepository(prisma: PrismaClient) {
  return {
    transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      return prisma.$transaction(fn, { timeout: 15_000, maxWait: 15_000 });
    },

    findUser(appId: string, externalId: string): Promise<EndUserRecord | null> {
      return findEndUser(prisma, appId, externalId);
    },

    /**
     * Locks the end user's row until the transaction ends, so concurrent sends (and
     * registrations) for one user run one at a time and each sees what the previous committed.
     */
    async lockUser(tx: Tx, endUserId: string): Promise<boolean> {
      const rows = await tx.$queryRaw<Array<{ id: string }>>`SELECT id FROM end_users WHERE id = ${endUserId} FOR UPDATE`;
      return rows.length === 1;
    },

    // ── devices ──────────────────────────────────────────────────────────────────────────────

    /**
     * Registers a device, or, for an FCM token this app already knows, takes that row over:
     * it moves to this user, gets the new name/platform/key and a new device token (the old one
     * stops working), and is active again.
     */
    async upsertDevice(tx: Tx, input: NewDevice): Promise<{ id: string; created: boolean }> {
      const rows = await tx.$queryRaw<Array<{ id: string; created: boolean }>>`
        INSERT INTO push_devices (id, app_id, end_user_id, fcm_token, platform, device_name, public_key, device_token_hash, active, created_at, last_seen_at)
        VALUES (${newId("pdv")}, ${input.appId}, ${input.endUserId}, ${input.fcmToken}, ${input.platform}::push_platform, ${input.deviceName},
                ${input.publicKey}, ${input.deviceTokenHash}, true, ${input.at}, ${input.at})
        ON CONFLICT (app_id, fcm_token) DO UPDATE SET
          end_user_id = EXCLUDED.end_user_id, platform = EXCLUDED.platform, device_name = EXCLUDED.device_name,
          public_key = EXCLUDED.public_key, device_token_hash = EXCLUDED.device_token_hash, active = true,
          last_seen_at = EXCLUDED.last_seen_at
        RETURNING id, (xmax = 0) AS created`;
      return rows[0]!;
    },

    /** The app's device with this FCM token, if any (which user holds it now). */
    async findDeviceByFcmToken(tx: Tx, appId: string, fcmToken: string): Promise<{ id: string; endUserId: string } | null> {
      return tx.pushDevice.findUnique({ where: { appId_fcmToken: { appId, fcmToken } }, select: { id: true, endUserId: true } });
    },

    countActiveDevices(tx: Tx, endUserId: string): Promise<number> {
      return tx.pushDevice.count({ where: { endUserId, active: true } });
    },

    async listDevices(appId: string, externalId: string): Promise<DeviceRecord[]> {
      const rows = await prisma.$queryRaw<DeviceRow[]>`
        SELECT d.id, d.app_id, d.end_user_id, u.external_id, d.fcm_token, d.platform, d.device_name, d.public_key, d.active, d.created_at, d.last_seen_at
          FROM push_devices d JOIN end_users u ON u.id = d.end_user_id
         WHERE u.app_id = ${appId} AND u.external_id = ${externalId}
         ORDER BY d.created_at, d.id`;
      return rows.map(toDevice);
    },

    async activeDevices(client: Client, endUserId: string): Promise<DeviceRecord[]> {
      const rows = await client.$queryRaw<DeviceRow[]>`
        SELECT d.id, d.app_id, d.end_user_id, u.external_id, d.fcm_token, d.platform, d.device_name, d.public_key, d.active, d.created_at, d.last_seen_at
          FROM push_devices d JOIN end_users u ON u.id = d.end_user_id
         WHERE d.end_user_id = ${endUserId} AND d.active
         ORDER BY d.created_at, d.id`;
      return rows.map(toDevice);
    },

    async findDevice(appId: string, deviceId: string): Promise<DeviceRecord | null> {
      const rows = await prisma.$queryRaw<DeviceRow[]>`
        SELECT d.id, d.app_id, d.end_user_id, u.external_id, d.fcm_token, d.platform, d.device_name, d.public_key, d.active, d.created_at, d.last_seen_at
          FROM push_devices d JOIN end_users u ON u.id = d.end_user_id
         WHERE d.id = ${deviceId} AND d.app_id = ${appId}`;
      return rows[0] ? toDevice(rows[0]) : null;
    },

    /** The device a device token belongs to (by the token's SHA-256; the column is unique). */
    async findDeviceByTokenHash(hash: string): Promise<DeviceRecord | null> {
      const rows = await prisma.$queryRaw<DeviceRow[]>`
        SELECT d.id, d.app_id, d.end_user_id, u.external_id, d.fcm_token, d.platform, d.device_name, d.public_key, d.active, d.created_at, d.last_seen_at
          FROM push_devices d JOIN end_users u ON u.id = d.end_user_id
         WHERE d.device_token_hash = ${hash}`;
      return rows[0] ? toDevice(rows[0]) : null;
    },

    async deleteDevice(appId: string, deviceId: string): Promise<boolean> {
      const { count } = await prisma.pushDevice.deleteMany({ where: { id: deviceId, appId } });
      return count === 1;
    },

    /**
     * Deactivates a device FCM refused, unless it was registered again meanwhile (the token we
     * sent to is no longer its token).
     */
    async deactivateDevice(deviceId: string, fcmToken: string): Promise<boolean> {
      const { count } = await prisma.pushDevice.updateMany({ where: { id: deviceId, fcmToken, active: true }, data: { active: false } });
      return count === 1;
    },

    async touchDevice(deviceId: string, at: Date): Promise<void> {
      await prisma.pushDevice.updateMany({ where: { id: deviceId }, data: { lastSeenAt: at } });
    },

    // ── requests ─────────────────────────────────────────────────────────────────────────────

    /** Pending requests and recent denials of a user, for the fatigue limits. */
    async fatigueCounts(tx: Tx, endUserId: string, now: Date, denialWindowStart: Date): Promise<FatigueCounts> {
      const rows = await tx.$queryRaw<Array<{ pending: number; earliest_expiry: Date | null; denials: number; oldest_denial: Date | null }>>`
        SELECT count(*) FILTER (WHERE status = 'pending' AND expires_at > ${now})::int AS pending,
               min(expires_at) FILTER (WHERE status = 'pending' AND expires_at > ${now}) AS earliest_expiry,
               count(*) FILTER (WHERE status = 'denied' AND responded_at > ${denialWindowStart})::int AS denials,
               min(responded_at) FILTER (WHERE status = 'denied' AND responded_at > ${denialWindowStart}) AS oldest_denial
          FROM push_requests
         WHERE end_user_id = ${endUserId} AND status IN ('pending', 'denied')`;
      const row = rows[0]!;
      return { pending: row.pending, earliestPendingExpiry: row.earliest_expiry, denials: row.denials, oldestDenialAt: row.oldest_denial };
    },

    async insertRequest(tx: Tx, input: NewRequest): Promise<void> {
      await tx.pushRequest.create({
        data: {
          id: input.id,
          appId: input.appId,
          endUserId: input.endUserId,
          title: input.title,
          body: input.body,
          ...(input.data ? { data: input.data } : {}),
          ...(input.context ? { context: input.context as object } : {}),
          purpose: input.purpose,
          status: "pending",
          matchNumber: input.matchNumber,
          expiresAt: input.expiresAt,
          createdAt: input.createdAt,
        },
      });
    },

    async findRequest(requestId: string): Promise<RequestRecord | null> {
      const rows = await prisma.$queryRaw<RequestRow[]>`
        SELECT r.id, r.app_id, r.end_user_id, u.external_id, r.purpose, r.status, r.match_number, r.reason,
               r.expires_at, r.responded_at, r.responded_by_device_id, r.created_at
          FROM push_requests r JOIN end_users u ON u.id = r.end_user_id
         WHERE r.id = ${requestId}`;
      return rows[0] ? toRequest(rows[0]) : null;
    },

    /**
     * Answers a request: exactly one of any number of concurrent answers finds it still
     * pending and unexpired. Null when this answer lost (answered, expired, or failed).
     */
    async answer(tx: Tx, input: { requestId: string; appId: string; status: "approved" | "denied"; reason: string | null; deviceId: string | null; at: Date }): Promise<TransitionedRequest | null> {
      const rows = await tx.$queryRaw<TransitionRow[]>`
        UPDATE push_requests r
           SET status = ${input.status}::push_status, reason = ${input.reason}, responded_at = ${input.at}, responded_by_device_id = ${input.deviceId}
          FROM end_users u
         WHERE r.id = ${input.requestId} AND r.app_id = ${input.appId} AND r.status = 'pending' AND r.expires_at > ${input.at}
           AND u.id = r.end_user_id
        RETURNING r.id, r.app_id, u.external_id, r.purpose, r.status, r.reason, r.responded_at`;
      return rows[0] ? toTransitioned(rows[0]) : null;
    },

    /** Expires one request whose time is up (verify/respond noticed it before the sweeper). */
    async expireOne(tx: Tx, requestId: string, now: Date): Promise<TransitionedRequest | null> {
      const rows = await tx.$queryRaw<TransitionRow[]>`
        UPDATE push_requests r
           SET status = 'expired', reason = 'expired'
          FROM end_users u
         WHERE r.id = ${requestId} AND r.status = 'pending' AND r.expires_at <= ${now} AND u.id = r.end_user_id
        RETURNING r.id, r.app_id, u.external_id, r.purpose, r.status, r.reason, r.responded_at`;
      return rows[0] ? toTransitioned(rows[0]) : null;
    },

    /**
     * Expires up to `limit` requests whose time is up, oldest first. Rows another instance is
     * expiring right now are skipped (SKIP LOCKED), and the `status = 'pending'` re-check on
     * the locked rows means each request is expired, and reported, exactly once.
     */
    async expireDue(tx: Tx, now: Date, limit: number): Promise<TransitionedRequest[]> {
      const rows = await tx.$queryRaw<TransitionRow[]>`
        WITH due AS (
          SELECT id FROM push_requests
           WHERE status = 'pending' AND expires_at <= ${now}
           ORDER BY expires_at
           LIMIT ${limit}
           FOR UPDATE SKIP LOCKED
        )
        UPDATE push_requests r
           SET status = 'expired', reason = 'expired'
          FROM due, end_users u
         WHERE r.id = due.id AND r.status = 'pending' AND u.id = r.end_user_id
        RETURNING r.id, r.app_id, u.external_id, r.purpose, r.status, r.reason, r.responded_at`;
      return rows.map(toTransitioned);
    },

    /** A request no device could be reached for: failed, unless something answered it already. */
    async markFailed(tx: Tx, requestId: string): Promise<TransitionedRequest | null> {
      const rows = await tx.$queryRaw<TransitionRow[]>`
        UPDATE push_requests r
           SET status = 'failed', reason = 'delivery_failed'
          FROM end_users u
         WHERE r.id = ${requestId} AND r.status = 'pending' AND u.id = r.end_user_id
        RETURNING r.id, r.app_id, u.external_id, r.purpose, r.status, r.reason, r.responded_at`;
      return rows[0] ? toTransitioned(rows[0]) : null;
    },

    /** The row MFA policies look back over (one per successful verification). */
    async insertVerification(tx: Tx, input: { appId: string; externalUserId: string; purpose: string; reference: string; at: Date }): Promise<string> {
      const id = newId("ver");
      await tx.verification.create({
        data: { id, appId: input.appId, externalUserId: input.externalUserId, channel: "push", purpose: input.purpose, reference: input.reference, createdAt: input.at },
      });
      return id;
    },
  };
}

export type PushRepository = ReturnType<typeof pushRepository>;
