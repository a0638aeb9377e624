import type { PrismaClient } from "./db.ts";

export interface IdempotencyRecordRow {
  requestHash: string;
  responseStatus: number | null;
  responseBody: string | null;
  createdAt: Date;
  expiresAt: Date;
}

export function idempotencyRepository(prisma: PrismaClient) {
  return {
    /** Claims the key (INSERT … ON CONFLICT DO NOTHING); true when this request holds it now. */
    async claim(row: { appId: string; key: string; requestHash: string; createdAt: Date; expiresAt: Date }): Promise<boolean> {
      const { count } = await prisma.idempotencyRecord.createMany({ data: [row], skipDuplicates: true });
      return count === 1;
    },
    find(appId: string, key: string): Promise<IdempotencyRecordRow | null> {
      return prisma.idempotencyRecord.findUnique({
        where: { appId_key: { appId, key } },
        select: { requestHash: true, responseStatus: true, responseBody: true, createdAt: true, expiresAt: true },
      });
    },
    /** Deletes the record only if it is still the one observed (expired or abandoned), so racers take over once. */
    async releaseIfUnchanged(appId: string, key: string, createdAt: Date): Promise<void> {
      await prisma.idempotencyRecord.deleteMany({ where: { appId, key, createdAt } });
    },
    async complete(appId: string, key: string, status: number, body: string): Promise<void> {
      await prisma.idempotencyRecord.updateMany({ where: { appId, key, responseStatus: null }, data: { responseStatus: status, responseBody: body } });
    },
    async release(appId: string, key: string): Promise<void> {
      await prisma.idempotencyRecord.deleteMany({ where: { appId, key, responseStatus: null } });
    },
    async purgeExpired(now: Date): Promise<number> {
      return (await prisma.idempotencyRecord.deleteMany({ where: { expiresAt: { lt: now } } })).count;
    },
  };
}

export type IdempotencyRepository = ReturnType<typeof idempotencyRepository>;
