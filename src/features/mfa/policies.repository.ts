import type { PrismaClient } from "../../infra/db.ts";
import type { PolicyMatch } from "./policies.schemas.ts";

export interface PolicyRecord {
  id: string;
  appId: string;
  name: string;
  enabled: boolean;
  priority: number;
  match: PolicyMatch;
  requiredChannels: string[];
  withinSeconds: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface PolicyChanges {
  name?: string;
  enabled?: boolean;
  priority?: number;
  match?: PolicyMatch;
  requiredChannels?: string[];
  withinSeconds?: number;
}

const asRecord = (row: { match: unknown } & Omit<PolicyRecord, "match">): PolicyRecord => ({
  ...row,
  match: (row.match && typeof row.match === "object" ? row.match : {}) as PolicyMatch,
});

/** Every query is scoped by appId: a policy id from another app finds nothing. */
export function policiesRepository(prisma: PrismaClient) {
  return {
    async insert(data: { id: string; appId: string } & Required<Omit<PolicyChanges, "match">> & { match: PolicyMatch }): Promise<PolicyRecord> {
      return asRecord(await prisma.policy.create({ data: { ...data, match: data.match as object } }));
    },
    /** Highest priority first, then oldest first (a stable order for matchedPolicies). */
    async listByApp(appId: string, options: { enabledOnly?: boolean } = {}): Promise<PolicyRecord[]> {
      const rows = await prisma.policy.findMany({
        where: { appId, ...(options.enabledOnly ? { enabled: true } : {}) },
        orderBy: [{ priority: "desc" }, { createdAt: "asc" }, { id: "asc" }],
      });
      return rows.map(asRecord);
    },
    async findById(appId: string, id: string): Promise<PolicyRecord | null> {
      const row = await prisma.policy.findFirst({ where: { id, appId } });
      return row ? asRecord(row) : null;
    },
    /** Any app's policy by id (the admin API resolves the app from it, then checks the role). */
    async findAnyById(id: string): Promise<PolicyRecord | null> {
      const row = await prisma.policy.findUnique({ where: { id } });
      return row ? asRecord(row) : null;
    },
    async update(appId: string, id: string, changes: PolicyChanges): Promise<PolicyRecord | null> {
      const { match, ...rest } = changes;
      const { count } = await prisma.policy.updateMany({ where: { id, appId }, data: { ...rest, ...(match ? { match: match as object } : {}) } });
      if (count === 0) return null;
      const row = await prisma.policy.findFirst({ where: { id, appId } });
      return row ? asRecord(row) : null;
    },
    async delete(appId: string, id: string): Promise<boolean> {
      const { count } = await prisma.policy.deleteMany({ where: { id, appId } });
      return count === 1;
    },
  };
}

export type PoliciesRepository = ReturnType<typeof policiesRepository>;

/** The policy as the admin API shows it. */
export function policyView(p: PolicyRecord) {
  return {
    id: p.id,
    appId: p.appId,
    name: p.name,
    enabled: p.enabled,
    priority: p.priority,
    match: p.match,
    requiredChannels: p.requiredChannels,
    withinSeconds: p.withinSeconds,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}
