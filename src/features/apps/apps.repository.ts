import type { Database, PrismaClient } from "../../infra/db.ts";
import { Prisma } from "../../infra/db.ts";

export interface AppRecord {
  id: string;
  name: string;
  settings: unknown;
  createdAt: Date;
}

/**
 * `sql`, when given, serves the per-request read (`findById`, behind every `GET /app` and every
 * settings refresh) as one plain SQL statement: Prisma's client runtime costs several times the
 * query itself on this path (bench/README.md).
 */
export function appsRepository(prisma: PrismaClient, sql?: Pick<Database, "query">) {
  return {
    insert(data: { id: string; name: string; settings: Record<string, unknown> }): Promise<AppRecord> {
      return prisma.app.create({ data: { ...data, settings: data.settings as Prisma.InputJsonValue } });
    },
    async findById(id: string): Promise<AppRecord | null> {
      if (!sql) return prisma.app.findUnique({ where: { id }, select: { id: true, name: true, settings: true, createdAt: true } });
      const rows = await sql.query<AppRecord>('SELECT id, name, settings, created_at AS "createdAt" FROM apps WHERE id = $1', [id]);
      return rows[0] ?? null;
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
