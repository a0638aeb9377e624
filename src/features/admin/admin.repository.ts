/**
 * The admin API's own queries (API.md §9): operators and their sessions, apps and keys as
 * operators page through and change them, and the lookups that find which app a key, webhook
 * endpoint or delivery belongs to before the operator's role is checked against that app.
 */
import type { PrismaClient } from "../../infra/db.ts";
import { Prisma } from "../../infra/db.ts";
import type { AdminRole, ApiKeyKind, OtpChannel } from "../../generated/prisma/enums.ts";
import type { ApiKeyRecord } from "../keys/keys.repository.ts";

export interface AdminUserRecord {
  id: string;
  email: string;
  passwordHash: string;
  role: AdminRole;
  appId: string | null;
  createdAt: Date;
  lastLoginAt: Date | null;
}

export interface AdminSessionRecord {
  id: string;
  adminUserId: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
}

export interface AdminAppRecord {
  id: string;
  name: string;
  settings: unknown;
  createdAt: Date;
  updatedAt: Date;
}

/** A keyset page position: rows strictly after (createdAt, id) in ascending order. */
export interface PagePosition {
  createdAt: Date;
  id: string;
}

const APP_SELECT = { id: true, name: true, settings: true, createdAt: true, updatedAt: true } as const;

const after = (position: PagePosition | undefined) =>
  position ? { OR: [{ createdAt: { gt: position.createdAt } }, { createdAt: position.createdAt, id: { gt: position.id } }] } : {};

export function adminRepository(prisma: PrismaClient) {
  return {
    // ── operators ─────────────────────────────────────────────────────────────────────────

    findByEmail(email: string): Promise<AdminUserRecord | null> {
      return prisma.adminUser.findUnique({ where: { email } });
    },
    insert(data: { id: string; email: string; passwordHash: string; role: AdminRole; appId?: string | null }): Promise<AdminUserRecord> {
      return prisma.adminUser.create({ data });
    },
    listOperators(): Promise<AdminUserRecord[]> {
      return prisma.adminUser.findMany({ orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
    },
    async touchLogin(id: string, at: Date): Promise<void> {
      await prisma.adminUser.updateMany({ where: { id }, data: { lastLoginAt: at } });
    },

    // ── sessions (one row per token; the row is checked on every request) ─────────────────

    async insertSession(data: { id: string; adminUserId: string; createdAt: Date; expiresAt: Date }): Promise<void> {
      await prisma.adminSession.create({ data });
    },
    /** The session with its operator, whatever its state (the caller decides what is usable). */
    findSession(id: string): Promise<(AdminSessionRecord & { adminUser: AdminUserRecord }) | null> {
      return prisma.adminSession.findUnique({ where: { id }, include: { adminUser: true } });
    },
    /** Revokes a live session; false when it was already revoked (a second logout, a race). */
    async revokeSession(id: string, at: Date): Promise<boolean> {
      const { count } = await prisma.adminSession.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: at } });
      return count === 1;
    },
    /**
     * Refresh: revokes `oldId` and creates `next` in one transaction, and only if `oldId` was
     * still live, so two concurrent refreshes of one token yield one new session, not two.
     */
    async replaceSession(oldId: string, next: { id: string; adminUserId: string; createdAt: Date; expiresAt: Date }): Promise<boolean> {
      return prisma.$transaction(async (tx) => {
        const { count } = await tx.adminSession.updateMany({ where: { id: oldId, revokedAt: null }, data: { revokedAt: next.createdAt } });
        if (count !== 1) return false;
        await tx.adminSession.create({ data: next });
        return true;
      });
    },

    // ── apps ──────────────────────────────────────────────────────────────────────────────

    findApp(id: string): Promise<AdminAppRecord | null> {
      return prisma.app.findUnique({ where: { id }, select: APP_SELECT });
    },
    /** Oldest first; `only` limits the page to these apps (an `admin` operator's one app). */
    listApps(page: { after?: PagePosition; limit: number; only?: string[] }): Promise<AdminAppRecord[]> {
      return prisma.app.findMany({
        where: { AND: [page.only ? { id: { in: page.only } } : {}, after(page.after)] },
        orderBy: [{ createdAt: "asc" }, { id: "asc" }],
        take: page.limit,
        select: APP_SELECT,
      });
    },
    /**
     * Changes an app under a row lock: `change` sees the stored settings as they are now and
     * returns the new name/settings, so two concurrent settings patches both land (each merges
     * into what the other wrote) instead of the later one erasing the earlier.
     */
    async updateApp(
      id: string,
      change: (current: AdminAppRecord) => { name?: string; settings?: Record<string, unknown> },
    ): Promise<AdminAppRecord | null> {
      return prisma.$transaction(async (tx) => {
        const locked = await tx.$queryRaw<Array<{ id: string }>>`SELECT id FROM apps WHERE id = ${id} FOR UPDATE`;
        if (locked.length === 0) return null;
        const current = await tx.app.findUniqueOrThrow({ where: { id }, select: APP_SELECT });
        const next = change(current);
        return tx.app.update({
          where: { id },
          data: {
            ...(next.name !== undefined ? { name: next.name } : {}),
            ...(next.settings !== undefined ? { settings: next.settings as Prisma.InputJsonValue } : {}),
          },
          select: APP_SELECT,
        });
      });
    },

    // ── keys ──────────────────────────────────────────────────────────────────────────────

    findKey(id: string): Promise<ApiKeyRecord | null> {
      return prisma.apiKey.findUnique({ where: { id } });
    },
    /** The app's keys, oldest first, revoked ones included (operators see the history). */
    listKeys(appId: string, page: { after?: PagePosition; limit: number }): Promise<ApiKeyRecord[]> {
      return prisma.apiKey.findMany({
        where: { AND: [{ appId }, after(page.after)] },
        orderBy: [{ createdAt: "asc" }, { id: "asc" }],
        take: page.limit,
      });
    },
    /**
     * Rotation: revokes `oldId` and inserts its replacement in one transaction, and only while
     * `oldId` is still active, so a rotation never leaves the app without the key it had and
     * two concurrent rotations of one key cannot both mint a replacement.
     */
    async rotateKey(
      oldId: string,
      replacement: { id: string; appId: string; kind: ApiKeyKind; name: string | null; prefix: string; hash: string; createdAt: Date },
    ): Promise<ApiKeyRecord | null> {
      return prisma.$transaction(async (tx) => {
        const { count } = await tx.apiKey.updateMany({ where: { id: oldId, appId: replacement.appId, revokedAt: null }, data: { revokedAt: replacement.createdAt } });
        if (count !== 1) return null;
        return tx.apiKey.create({ data: replacement });
      });
    },

    // ── owners of things addressed by their own id ────────────────────────────────────────

    async appOfWebhook(endpointId: string): Promise<string | null> {
      const row = await prisma.webhookEndpoint.findUnique({ where: { id: endpointId }, select: { appId: true } });
      return row?.appId ?? null;
    },
    async appOfDelivery(deliveryId: string): Promise<string | null> {
      const row = await prisma.webhookDelivery.findUnique({ where: { id: deliveryId }, select: { endpoint: { select: { appId: true } } } });
      return row?.endpoint.appId ?? null;
    },

    // ── end users' factors the channels have no removal for ───────────────────────────────

    /** Deletes every backup code of the app's user `externalId`; how many were unused. */
    /** Forgets the devices this user passed MFA checks with: each counts as new again. */
    async deleteKnownDevices(appId: string, externalUserId: string): Promise<number> {
      const { count } = await prisma.mfaKnownDevice.deleteMany({ where: { appId, externalUserId } });
      return count;
    },
    async deleteBackupCodes(appId: string, externalId: string): Promise<{ found: boolean; unused: number }> {
      return prisma.$transaction(async (tx) => {
        const user = await tx.endUser.findUnique({ where: { appId_externalId: { appId, externalId } }, select: { id: true } });
        if (!user) return { found: false, unused: 0 };
        const unused = await tx.backupCode.count({ where: { endUserId: user.id, usedAt: null } });
        const { count } = await tx.backupCode.deleteMany({ where: { endUserId: user.id } });
        return { found: count > 0, unused };
      });
    },
    /**
     * Lifts a destination's lock and forgets its run of wrong codes (API.md §3: locked "for 24 h
     * or until an operator resets it"). False when it was neither locked nor counting failures.
     */
    async resetDestinationGuard(key: { appId: string; channel: OtpChannel; destination: string }, now: Date): Promise<boolean> {
      const { count } = await prisma.destinationGuard.updateMany({
        where: { appId: key.appId, channel: key.channel, destination: key.destination, OR: [{ consecutiveFailures: { gt: 0 } }, { lockedUntil: { gt: now } }] },
        data: { consecutiveFailures: 0, lockedUntil: null },
      });
      return count === 1;
    },
  };
}

export type AdminRepository = ReturnType<typeof adminRepository>;
