/**
 * Operations endpoints (API.md §10): liveness, readiness, Prometheus metrics.
 * They sit outside `/api/v1`, need no key and are not rate limited.
 */
import { Type } from "typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { Database } from "../../infra/db.ts";
import type { Metrics } from "../../infra/metrics.ts";
import { pendingMigrations } from "../../infra/migrate.ts";
import { failures } from "../../shared/envelope.ts";

const Health = Type.Object({ status: Type.Literal("ok") });
const Ready = Type.Object({
  status: Type.Union([Type.Literal("ready"), Type.Literal("not_ready")]),
  checks: Type.Object({
    database: Type.Union([Type.Literal("ok"), Type.Literal("unreachable")]),
    migrations: Type.Union([Type.Literal("ok"), Type.Literal("pending"), Type.Literal("unknown")]),
  }),
  pendingMigrations: Type.Optional(Type.Array(Type.String())),
});

export interface HealthRoutesOptions {
  db: Database;
  metrics: Metrics;
}

export const healthRoutes: FastifyPluginAsyncTypebox<HealthRoutesOptions> = async (app, { db, metrics }) => {
  const ops = { tags: ["operations"], security: [] as Array<Record<string, string[]>> };

  app.get("/health", {
    config: { rateLimit: false },
    schema: { ...ops, summary: "Liveness: the process is up", response: { 200: Health } },
  }, async () => ({ status: "ok" as const }));

  app.get("/ready", {
    config: { rateLimit: false },
    schema: { ...ops, summary: "Readiness: database reachable and migrations applied", response: { 200: Ready, 503: Ready } },
  }, async (_request, reply) => {
    let database: "ok" | "unreachable" = "ok";
    let migrations: "ok" | "pending" | "unknown" = "unknown";
    let pending: string[] | undefined;
    try {
      await db.ping();
      pending = await pendingMigrations(db);
      migrations = pending.length === 0 ? "ok" : "pending";
    } catch {
      database = "unreachable";
    }
    const ready = database === "ok" && migrations === "ok";
    reply.code(ready ? 200 : 503);
    return { status: ready ? ("ready" as const) : ("not_ready" as const), checks: { database, migrations }, ...(pending?.length ? { pendingMigrations: pending } : {}) };
  });

  app.get("/metrics", {
    config: { rateLimit: false },
    schema: {
      ...ops,
      summary: "Prometheus metrics",
      produces: ["text/plain"],
      response: { 200: { type: "string", description: "Prometheus text exposition format" }, ...failures() },
    },
  }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
};
