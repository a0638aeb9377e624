/**
 * buildApp(config, deps) → a ready Fastify instance: infrastructure, then features, then the
 * error handler. It never listens; server.ts does, and tests inject requests or listen on port 0.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import rateLimit from "@fastify/rate-limit";
import { registerCors } from "./infra/cors.ts";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { Redis } from "ioredis";
import pino, { type Logger } from "pino";
import type { Config } from "./config.ts";
import { AppSettingsProvider } from "./features/apps/app-settings.ts";
import { adminRoutes } from "./features/admin/admin.routes.ts";
import { appsRepository } from "./features/apps/apps.repository.ts";
import { appsRoutes } from "./features/apps/apps.routes.ts";
import { auditRepository } from "./features/audit/audit.repository.ts";
import { AuditLog } from "./features/audit/audit.service.ts";
import type { FeatureDeps } from "./features/feature-deps.ts";
import { emailRoutes } from "./features/email/email.routes.ts";
import { healthRoutes } from "./features/health/health.routes.ts";
import { keysRepository } from "./features/keys/keys.repository.ts";
import { installMfa } from "./features/mfa/mfa.routes.ts";
import { pushRoutes } from "./features/push/push.routes.ts";
import { smsRoutes } from "./features/sms/sms.routes.ts";
import { totpRoutes } from "./features/totp/totp.routes.ts";
import { webauthnRoutes } from "./features/webauthn/webauthn.routes.ts";
import type { WebhookDeps } from "./features/webhooks/webhooks.delivery.ts";
import { webhooksRoutes } from "./features/webhooks/webhooks.routes.ts";
import { authRoutes } from "./features/auth/auth.routes.ts";
import { ephemeralKeysRepository } from "./features/auth/ephemeral.repository.ts";
import { ApiKeyAuthenticator, apiKeyHook, ephemeralUserBindingHook } from "./infra/auth.ts";
import { perAppMax, RATE_LIMIT_WINDOW_MS, redisWithMemoryFallback, routeLimits } from "./infra/rate-limits.ts";
import { systemClock, type Clock } from "./infra/clock.ts";
import { loadKeyring, type Keyring } from "./infra/crypto.ts";
import type { Database } from "./infra/db.ts";
import { AppError, installErrorHandling } from "./infra/errors.ts";
import { installIdempotency } from "./infra/idempotency.ts";
import { idempotencyRepository } from "./infra/idempotency.repository.ts";
import { loggerOptions } from "./infra/logger.ts";
import { createMailer, type Mailer } from "./infra/mailer.ts";
import { createValidatorCompiler } from "./infra/validation.ts";
import { createMetrics, instrumentRequests, type Metrics } from "./infra/metrics.ts";
import { registerDocs, registerOpenApi } from "./infra/openapi.ts";
import type { PushSender } from "./infra/push.ts";
import { createSignals, type Signals } from "./infra/signals.ts";
import { createSmsSender, type SmsSender } from "./infra/sms.ts";

export interface AppDeps {
  db: Database;
  clock?: Clock;
  logger?: Logger;
  keyring?: Keyring;
  metrics?: Metrics;
  /** Shared Redis (rate-limit counters), when REDIS_URL is set. */
  redis?: Redis;
  /** Prefix of rate-limit keys in Redis (tests isolate themselves with their own). */
  rateLimitNamespace?: string;
  /** How push approval requests leave; default: PUSH_PROVIDER from config. */
  push?: PushSender;
  /** Cross-instance "look again" signals (long polls); default: Redis, else PostgreSQL LISTEN/NOTIFY, else in-process. */
  signals?: Signals;
  /** How SMS codes leave; default: the SMS_PROVIDER from config. */
  sms?: SmsSender;
  /** How email codes leave; default: SMTP_URL from config, else printed. */
  mailer?: Mailer;
  /** Webhook delivery overrides (worker on/off, retry schedule, timeouts, DNS); default: WEBHOOK_* from config. */
  webhooks?: WebhookDeps;
}

/** Request bodies over this size answer 413 (API.md: bodies over 64 KiB). */
export const BODY_LIMIT_BYTES = 64 * 1024;
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

const packageVersion = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;

export async function buildApp(config: Config, deps: AppDeps): Promise<FastifyInstance> {
  const logger = deps.logger ?? pino(loggerOptions(config.LOG_LEVEL));
  const clock = deps.clock ?? systemClock;
  const metrics = deps.metrics ?? createMetrics();
  const keyring = deps.keyring ?? loadKeyring(config, (message) => logger.warn(message));
  const { db } = deps;

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // A hop count is accepted at runtime (Fastify passes it to proxy-addr) though the type omits it.
    trustProxy: config.TRUST_PROXY as boolean | string[],
    requestIdHeader: "x-request-id",
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(createValidatorCompiler());
  await registerCors(app, config);
  app.decorate("keyring", keyring);
  app.decorateRequest("auth", null);
  app.addHook("onSend", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });
  installErrorHandling(app);
  instrumentRequests(app, metrics);
  await registerOpenApi(app, packageVersion);

  const keys = keysRepository(db.prisma);
  const authenticator = new ApiKeyAuthenticator(keys, {
    ttlMs: config.API_KEY_CACHE_TTL_MS,
    clock,
    onTouchError: (err) => logger.warn({ err }, "could not record key use"),
  }, ephemeralKeysRepository(db.prisma));
  const apps = appsRepository(db.prisma, db);
  const settings = new AppSettingsProvider(apps, config, clock);

  await app.register(rateLimit, {
    global: true,
    max: perAppMax({ authenticator, settings }, (limits) => limits.globalPerMin, config.RATE_LIMIT_GLOBAL_PER_MIN),
    timeWindow: RATE_LIMIT_WINDOW_MS,
    keyGenerator: (request) => request.ip,
    ...(deps.redis
      ? {
          store: redisWithMemoryFallback({
            redis: deps.redis,
            nameSpace: `${deps.rateLimitNamespace ?? "latchkey:rl:"}global:`,
            onDegraded: (err) => logger.warn({ err }, "Redis is unreachable: rate limits now count in this instance's memory until it is back"),
            onRecovered: () => logger.info("Redis is back: rate limits are shared again"),
          }),
        }
      : {}),
    errorResponseBuilder: (_request, context) =>
      new AppError("RATE_LIMITED", { message: `rate limit exceeded: at most ${context.max} requests per minute`, retryAfterSeconds: context.ttl / 1000 }),
  });

  await app.register(healthRoutes, { db, metrics });
  await registerDocs(app);
  /** What every feature's routes receive. */
  const signals = deps.signals ?? createSignals({ db, redis: deps.redis, onError: (err) => logger.warn({ err }, "cross-instance signals unavailable") });
  if (!deps.signals) app.addHook("onClose", async () => signals.close());
  // Serve only once this instance hears the others' signals (bounded: a broker that is down does not hold the start).
  app.addHook("onReady", async () => signals.ready());
  const audit = new AuditLog(auditRepository(db.prisma), {
    clock,
    onError: (err, dropped) => logger.error({ err, dropped }, "audit entries could not be written"),
  });
  app.addHook("onClose", async () => audit.flush());
  const limits = routeLimits({ authenticator, settings, config });
  const features: FeatureDeps = { config, db, clock, metrics, keyring, settings, signals, authenticator, audit, limits };

  await app.register(async (api) => {
    api.addHook("onRequest", apiKeyHook({ authenticator, clock, audit }));
    api.addHook("preValidation", ephemeralUserBindingHook());
    installIdempotency(api, idempotencyRepository(db.prisma), clock);
    await api.register(appsRoutes, { apps });
    await api.register(authRoutes, features);
    // Before the channel routes: their verifies inherit the MFA hook (data.mfa, API.md §8).
    await installMfa(api, features);
    // Channel routes register below, one line each.
    await api.register(webauthnRoutes, features);
    await api.register(totpRoutes, features);
    await api.register(smsRoutes, { ...features, sms: deps.sms ?? createSmsSender(config, { logger }) });
    await api.register(emailRoutes, { ...features, mailer: deps.mailer ?? createMailer(config, { logger }) });
    await api.register(pushRoutes, { ...features, push: deps.push });
    await api.register(webhooksRoutes, { ...features, webhooks: deps.webhooks });
    await api.register(adminRoutes, { ...features, webhooks: deps.webhooks });
  }, { prefix: "/api/v1" });

  return app;
}

declare module "fastify" {
  interface FastifyInstance {
    keyring: Keyring;
  }
}
