import type { PrismaClient } from "../../infra/db.ts";

/** Who did something: an operator, a key, the system, or nobody we could identify. */
export type AuditActorType = "admin" | "api_key" | "ephemeral_key" | "publishable_key" | "system" | "anonymous";
export type AuditOutcome = "success" | "failure" | "denied";

export interface AuditEntryInput {
  actorType: AuditActorType;
  actorId?: string | null;
  appId?: string | null;
  ip?: string | null;
  /** Dotted verb, e.g. `auth.api_key`, `admin.login`, `admin.keys.revoke`. */
  action: string;
  /** What was acted on (`key_…`, `app_…`, a user id, a route). */
  target?: string | null;
  outcome: AuditOutcome;
  details?: Record<string, unknown> | null;
}

export interface AuditEntry {
  id: string;
  createdAt: Date;
  actorType: string;
  actorId: string | null;
  appId: string | null;
  ip: string | null;
  action: string;
  target: string | null;
  outcome: string;
  details: unknown;
}

export interface AuditQuery {
  appId?: string;
  /** Limit to these apps (an `admin` operator sees only its own app's entries). */
  appIds?: string[];
  actor?: string;
  action?: string;
  from?: Date;
  to?: Date;
  /** Entries strictly older than this (createdAt, id) position. */
  before?: { createdAt: Date; id: string };
  limit: number;
}

export function auditRepository(prisma: PrismaClient) {
  return {
    async insertMany(rows: Array<AuditEntryInput & { id: string; createdAt: Date }>): Promise<void> {
      if (rows.length === 0) return;
      await prisma.auditLog.createMany({
        data: rows.map((r) => ({
          id: r.id,
          createdAt: r.createdAt,
          actorType: r.actorType,
          actorId: r.actorId ?? null,
          appId: r.appId ?? null,
          ip: r.ip ?? null,
          action: r.action,
          target: r.target ?? null,
          outcome: r.outcome,
          details: (r.details ?? undefined) as never,
        })),
      });
    },
    /** Newest first, keyset-paginated on (createdAt, id). */
    list(query: AuditQuery): Promise<AuditEntry[]> {
      const and: object[] = [];
      if (query.appId) and.push({ appId: query.appId });
      if (query.appIds) and.push({ appId: { in: query.appIds } });
      if (query.actor) and.push({ actorId: query.actor });
      if (query.action) and.push(query.action.endsWith("*") ? { action: { startsWith: query.action.slice(0, -1) } } : { action: query.action });
      if (query.from) and.push({ createdAt: { gte: query.from } });
      if (query.to) and.push({ createdAt: { lte: query.to } });
      if (query.before) {
        and.push({ OR: [{ createdAt: { lt: query.before.createdAt } }, { createdAt: query.before.createdAt, id: { lt: query.before.id } }] });
      }
      return prisma.auditLog.findMany({ where: { AND: and }, orderBy: [{ createdAt: "desc" }, { id: "desc" }], take: query.limit });
    },
  };
}

export type AuditRepository = ReturnType<typeof auditRepository>;
