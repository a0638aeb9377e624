import type { PrismaClient } from "../../infra/db.ts";
import type { ApiKeyKind } from "../../generated/prisma/enums.ts";

export interface ApiKeyRecord {
  id: string;
  appId: string;
  kind: ApiKeyKind;
  name: string | null;
  prefix: string;
  hash: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export function keysRepository(prisma: PrismaClient) {
  return {
    insert(data: { id: string; appId: string; kind: ApiKeyKind; name: string | null; prefix: string; hash: string }): Promise<ApiKeyRecord> {
      return prisma.apiKey.create({ data });
    },
    /** Any key with this hash, revoked or not. */
    findByHash(hash: string): Promise<ApiKeyRecord | null> {
      return prisma.apiKey.findUnique({ where: { hash } });
    },
    findActiveByHash(hash: string): Promise<ApiKeyRecord | null> {
      return prisma.apiKey.findFirst({ where: { hash, revokedAt: null } });
    },
    listByApp(appId: string): Promise<ApiKeyRecord[]> {
      return prisma.apiKey.findMany({ where: { appId }, orderBy: { createdAt: "asc" } });
    },
    findByPrefix(prefix: string): Promise<ApiKeyRecord[]> {
      return prisma.apiKey.findMany({ where: { prefix: { startsWith: prefix } } });
    },
    async revoke(id: string, at: Date): Promise<boolean> {
      const { count } = await prisma.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: at } });
      return count === 1;
    },
    async touch(id: string, at: Date): Promise<void> {
      await prisma.apiKey.updateMany({ where: { id }, data: { lastUsedAt: at } });
    },
  };
}

export type KeysRepository = ReturnType<typeof keysRepository>;
