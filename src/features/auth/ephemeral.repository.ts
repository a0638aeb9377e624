import type { PrismaClient } from "../../infra/db.ts";

export interface EphemeralKeyRecord {
  id: string;
  appId: string;
  hash: string;
  externalUserId: string | null;
  scopes: string[];
  allowedIps: string[];
  expiresAt: Date;
}

/** Expired ephemeral keys are kept this long so that using one answers 419, not 401. */
export const EXPIRED_KEY_RETENTION_MS = 24 * 60 * 60 * 1000;

export function ephemeralKeysRepository(prisma: PrismaClient) {
  return {
    async insert(row: EphemeralKeyRecord): Promise<void> {
      await prisma.ephemeralKey.create({ data: row });
    },
    findByHash(hash: string): Promise<EphemeralKeyRecord | null> {
      return prisma.ephemeralKey.findUnique({
        where: { hash },
        select: { id: true, appId: true, hash: true, externalUserId: true, scopes: true, allowedIps: true, expiresAt: true },
      });
    },
    /** Forgets keys that expired before `before`; returns how many. */
    async deleteExpiredBefore(before: Date): Promise<number> {
      const { count } = await prisma.ephemeralKey.deleteMany({ where: { expiresAt: { lt: before } } });
      return count;
    },
  };
}

export type EphemeralKeysRepository = ReturnType<typeof ephemeralKeysRepository>;
