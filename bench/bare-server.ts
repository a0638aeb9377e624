/**
 * The floor for the benchmark: a bare Fastify 5 server answering `GET /api/v1/app` with the
 * same JSON shape Latchkey returns — no auth, no database, no hooks, logger off. It uses a
 * response schema (fast-json-stringify), as Latchkey's routes do, so the comparison isolates
 * what Latchkey adds on top of Fastify (rate limit, hooks, metrics, key check, one query).
 *
 * Started by bench/run.ts as `tsx bench/bare-server.ts` with PORT (and HOST) in the environment.
 */
import Fastify from "fastify";

const port = Number(process.env.PORT ?? 3999);
const host = process.env.HOST ?? "127.0.0.1";

const AppView = {
  type: "object",
  properties: {
    appId: { type: "string" },
    name: { type: "string" },
    settings: { type: "object", additionalProperties: true },
    createdAt: { type: "string", format: "date-time" },
  },
  required: ["appId", "name", "settings", "createdAt"],
} as const;

const createdAt = new Date();
const app = Fastify({ logger: false });

app.get("/api/v1/app", {
  schema: {
    response: {
      200: {
        type: "object",
        properties: { success: { type: "boolean" }, data: AppView },
        required: ["success", "data"],
      },
    },
  },
}, async () => ({
  success: true,
  data: { appId: "app_x", name: "Bench", settings: {}, createdAt: createdAt.toISOString() },
}));

const shutdown = () => void app.close().finally(() => process.exit(0));
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);

await app.listen({ port, host });
