import type { PrismaClient } from "../../infra/db.ts";
import { Prisma } from "../../infra/db.ts";

export interface AppRecord {
  id: string;
  name: string;
  settings: unknown;
  createdAt: Date;
}

export function appsRepository(prisma: PrismaClient) {
  return {
    insert(data: { id: string; name: string; settings: Record<string, unknown> }): Promise<AppRecord> {
      return prisma.app.create({ data: { ...data, settings: data.settings as Prisma.InputJsonValue } });
    },
    findById(id: string): Promise<AppRecord | null> {
      return prisma.app.findUnique({ where: { id }, select: { id: true, name: true, settings: true, createdAt: true } });
    },
    /** Case-sensitive exact id, or name when no id matches (for the CLI). */
    async findByIdOrName(idOrName: string): Promise<AppRecord[]> {
      const byId = await prisma.app.findUnique({ where: { id: idOrName } });
      return byId ? [byId] : prisma.app.findMany({ where: { name: idOrName } });
    },
    list(): Promise<AppRecord[]> {
      return prisma.app.findMany({ orderBy: { createdAt: "asc" } });
    },
    count(): Promise<number> {
      return prisma.app.count();
    },
  };
}

export type AppsRepository = ReturnType<typeof appsRepository>;
