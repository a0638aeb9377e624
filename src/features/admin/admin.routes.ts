/**
 * `/api/v1/admin` (API.md §9): the operator API. Every route is `config.auth: "admin"`, so the
 * API-key hook leaves it alone; this plugin authenticates operator sessions itself (a JWT in
 * `Authorization: Bearer`, its session row checked on every request) and writes the audit log:
 * every refused credential, and every write (login, logout and refresh included) with actor,
 * app, IP, action, target and outcome.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Signals } from "../../infra/signals.ts";
import { appsRepository } from "../apps/apps.repository.ts";
import { auditRepository } from "../audit/audit.repository.ts";
import { keysRepository } from "../keys/keys.repository.ts";
import { policiesRepository } from "../mfa/policies.repository.ts";
import { pushRepository } from "../push/push.repository.ts";
import { totpRepository } from "../totp/totp.repository.ts";
import { TotpService } from "../totp/totp.service.ts";
import { webauthnRepository } from "../webauthn/webauthn.repository.ts";
import { WebauthnService } from "../webauthn/webauthn.service.ts";
import { DELIVERIES_DUE_SIGNAL, webhookSettings, type WebhookDeps } from "../webhooks/webhooks.delivery.ts";
import { webhookQueueRepository, webhooksRepository } from "../webhooks/webhooks.repository.ts";
import { WebhooksService } from "../webhooks/webhooks.service.ts";
import { adminAppsRoutes } from "./admin.apps.routes.ts";
import { adminAuditRoutes } from "./admin.audit.routes.ts";
import { adminConfigRoutes } from "./admin.config.routes.ts";
import { ADMIN_ERRORS } from "./admin.errors.ts";
import { adminRepository } from "./admin.repository.ts";
import { AdminService } from "./admin.service.ts";
import { AdminSessions, type SessionFailureReason } from "./admin.session.ts";
import { adminSessionRoutes } from "./admin.session.routes.ts";
import { adminUsersRoutes } from "./admin.users.routes.ts";
import type { FeatureDeps } from "../feature-deps.ts";

export interface AdminRouteOptions extends Pick<FeatureDeps, "config" | "db" | "clock" | "metrics" | "keyring" | "settings" | "authenticator" | "audit"> {
  signals: Pick<Signals, "publish">;
  /** Webhook overrides (DNS for the SSRF guard, …), the same the webhooks feature gets; default WEBHOOK_* config. */
  webhooks?: WebhookDeps;
}

export const adminRoutes: FastifyPluginAsyncTypebox<AdminRouteOptions> = async (api, options) => {
  const { config, db, clock, keyring, settings, audit } = options;
  const repo = adminRepository(db.prisma);
  const sessions = new AdminSessions({ repo, keyring, clock, lifetimeSeconds: config.TOKEN_EXPIRATION });
  const delivery = webhookSettings(config, options.webhooks);
  const service = new AdminService({
    config,
    clock,
    repo,
    apps: appsRepository(db.prisma),
    keys: keysRepository(db.prisma),
    policies: policiesRepository(db.prisma),
    push: pushRepository(db.prisma),
    auditRepo: auditRepository(db.prisma),
    audit,
    settings,
    authenticator: options.authenticator,
    webhooks: new WebhooksService({
      repo: webhooksRepository(db.prisma),
      queue: webhookQueueRepository(db),
      keyring,
      clock,
      addressPolicy: delivery.addressPolicy,
      onDeliveryQueued: () => void options.signals.publish(DELIVERIES_DUE_SIGNAL).catch(() => undefined),
    }),
    totp: new TotpService({ repo: totpRepository(db), keyring, clock, settings, metrics: options.metrics }),
    webauthn: new WebauthnService({ repo: webauthnRepository(db), settings, clock, metrics: options.metrics }),
  });

  await api.register(async (app) => {
    app.decorateRequest("adminContext", null);

    app.addHook("onRequest", async (request: FastifyRequest) => {
      const routeConfig = request.routeOptions.config?.admin;
      request.adminContext = { operator: null, note: {}, recorded: false };
      // Fail closed: only a route that says it is public (login) skips the session check.
      if (routeConfig?.public) return;
      const checked = await sessions.authenticate(request.headers.authorization);
      if (checked.ok) {
        request.adminContext.operator = checked.operator;
        return;
      }
      recordRefusedCredential(request, checked.reason, checked.actorId);
      throw checked.reason === "expired" ? ADMIN_ERRORS.tokenExpired()
        : checked.reason === "missing" ? ADMIN_ERRORS.missingToken()
        : checked.reason === "api_key" ? ADMIN_ERRORS.apiKeyNotAccepted()
        : ADMIN_ERRORS.invalidToken();
    });

    // Writes are audited once answered, whatever the answer (a 400, 403, 404 or 429 included).
    app.addHook("onResponse", async (request: FastifyRequest, reply: FastifyReply) => {
      const context = request.adminContext;
      const action = request.routeOptions.config?.admin?.action;
      // Reads are not audited (HEAD is Fastify's automatic twin of a GET route).
      if (!context || context.recorded || !action || request.method === "GET" || request.method === "HEAD") return;
      const { operator, note } = context;
      const status = reply.statusCode;
      audit.record({
        // A refused login that named an existing operator keeps that id (to filter by) but stays anonymous.
        actorType: operator || (note.actorId && status < 400) ? "admin" : "anonymous",
        actorId: operator?.id ?? note.actorId ?? null,
        appId: note.appId ?? null,
        ip: request.ip,
        action,
        target: note.target ?? null,
        outcome: status < 400 ? "success" : note.denied || status === 403 ? "denied" : "failure",
        details: { ...note.details, ...(status >= 400 ? { status } : {}) },
      });
    });

    /** A request whose credentials were refused: one entry, whatever the route (API.md §9). */
    function recordRefusedCredential(request: FastifyRequest, reason: SessionFailureReason, actorId?: string): void {
      request.adminContext!.recorded = true;
      audit.record({
        actorType: actorId ? "admin" : "anonymous",
        actorId: actorId ?? null,
        ip: request.ip,
        action: "admin.auth",
        target: `${request.method} ${request.routeOptions.url ?? request.url.split("?")[0]}`,
        outcome: "failure",
        details: { reason },
      });
    }

    await app.register(adminSessionRoutes, { sessions });
    await app.register(adminAppsRoutes, { service });
    await app.register(adminConfigRoutes, { service });
    await app.register(adminUsersRoutes, { service });
    await app.register(adminAuditRoutes, { service });
  }, { prefix: "/admin" });
};
