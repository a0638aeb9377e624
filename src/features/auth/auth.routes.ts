/**
 * `POST /api/v1/auth/ephemeral` (API.md §7): a partner's server exchanges its secret key for a
 * short-lived browser key. Authenticated by the secret key in a header, or by the form fields
 * `app_id` + `secret_key` — never by the query string, where keys end up in access logs.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import { extractApiKey, resolveRequestKey, type AuthContext } from "../../infra/auth.ts";
import { AppError } from "../../infra/errors.ts";
import { failures } from "../../shared/envelope.ts";
import { ephemeralKeysRepository } from "./ephemeral.repository.ts";
import { ephemeralKeysService } from "./ephemeral.service.ts";
import { EphemeralKeyBody, EphemeralKeyResponse } from "./auth.schemas.ts";
import type { FeatureDeps } from "../feature-deps.ts";

/** Query parameters that would carry a credential: refused outright (API.md §7). */
const CREDENTIAL_QUERY_PARAMS = ["secret_key", "app_id", "api_key", "apiKey", "key", "token"];

/** `application/x-www-form-urlencoded` → an object of strings; a field given twice is refused. */
function parseForm(body: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(body)) {
    if (Object.hasOwn(fields, name)) {
      throw new AppError("VALIDATION_ERROR", { message: `form field ${name} is given more than once`, details: [{ field: `body.${name}`, message: "is given more than once" }] });
    }
    fields[name] = value;
  }
  return fields;
}

/** Whether the client asked for the bare key (`Accept: text/plain` before any JSON type). */
function wantsPlainText(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? "";
  const types = accept.split(",").map((part) => part.split(";")[0]!.trim().toLowerCase());
  const plain = types.indexOf("text/plain");
  const json = types.findIndex((t) => t === "application/json" || t === "*/*" || t === "application/*");
  return plain !== -1 && (json === -1 || plain < json);
}

export type AuthRoutesOptions = Pick<FeatureDeps, "db" | "clock" | "authenticator" | "audit">;

export const authRoutes: FastifyPluginAsyncTypebox<AuthRoutesOptions> = async (app, { db, clock, authenticator, audit }) => {
  const service = ephemeralKeysService({ repo: ephemeralKeysRepository(db.prisma), now: () => clock.now() });
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_request, body, done) => {
    try {
      done(null, parseForm(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  const refuse = (request: FastifyRequest, error: AppError, context: AuthContext | null, reason: string): never => {
    audit.record({
      actorType: context ? (context.keyKind === "secret" ? "api_key" : context.keyKind === "publishable" ? "publishable_key" : "ephemeral_key") : "anonymous",
      actorId: context?.keyId ?? null,
      appId: context?.appId ?? null,
      ip: request.ip,
      action: "auth.ephemeral_key.issue",
      target: "POST /api/v1/auth/ephemeral",
      outcome: error.code === "UNAUTHORIZED" ? "failure" : "denied",
      details: { reason },
    });
    throw error;
  };

  app.post("/auth/ephemeral", {
    config: { auth: "none" },
    schema: {
      tags: ["auth"],
      summary: "Issue an ephemeral key for a browser (form or JSON; secret key in a header or as app_id + secret_key form fields)",
      body: EphemeralKeyBody,
      response: { 200: EphemeralKeyResponse, ...failures("VALIDATION_ERROR", "UNAUTHORIZED", "FORBIDDEN", "RATE_LIMITED", "SERVICE_UNAVAILABLE", "UNSUPPORTED_MEDIA_TYPE") },
    },
    // Authenticates before the idempotency hook (preHandler), which needs the app.
    preValidation: async (request) => {
      const query = (request.query ?? {}) as Record<string, unknown>;
      const leaked = CREDENTIAL_QUERY_PARAMS.find((name) => Object.hasOwn(query, name));
      if (leaked) {
        throw new AppError("VALIDATION_ERROR", { message: `credentials are not accepted in the query string (${leaked}); send them in a header or the form body`, details: [{ field: `querystring.${leaked}`, message: "credentials are not accepted in the query string" }] });
      }
      const body = (request.body ?? {}) as { app_id?: unknown; secret_key?: unknown };
      let context: AuthContext | null;
      if (extractApiKey(request)) {
        context = await resolveRequestKey(request, authenticator);
        if (!context) refuse(request, new AppError("UNAUTHORIZED", { message: "invalid or revoked API key" }), null, "unknown or revoked key");
      } else if (typeof body.secret_key === "string" && typeof body.app_id === "string") {
        context = await authenticator.authenticate(body.secret_key);
        if (!context || context.appId !== body.app_id) refuse(request, new AppError("UNAUTHORIZED", { message: "app_id and secret_key do not match an active secret key" }), null, "form credentials rejected");
      } else {
        return refuse(request, new AppError("UNAUTHORIZED", { message: "send the secret key as X-API-Key / Authorization: Bearer, or as form fields app_id + secret_key" }), null, "missing key");
      }
      if (context!.keyKind !== "secret") {
        refuse(request, new AppError("FORBIDDEN", { message: "only a secret key may issue ephemeral keys" }), context!, `${context!.keyKind} key`);
      }
      request.auth = context;
    },
  }, async (request, reply) => {
    const { epi, ipa, user_id, userId, scopes } = request.body;
    if (user_id !== undefined && userId !== undefined && user_id !== userId) {
      throw new AppError("VALIDATION_ERROR", { message: "user_id and userId differ", details: [{ field: "body.userId", message: "must equal user_id when both are given" }] });
    }
    const issued = await service.issueEphemeralKey(request.auth!.appId, {
      lifetimeMs: epi === undefined ? undefined : Number(epi),
      allowedIps: ipa,
      userId: user_id ?? userId,
      scopes,
    });
    // The bare key as text: outside the JSON response schema by design (API.md §7).
    if (wantsPlainText(request)) return reply.type("text/plain; charset=utf-8").serializer(String).send(issued.key as never);
    const expiresAt = issued.expiresAt.toISOString();
    return {
      success: true as const,
      ephemeral_key: issued.key,
      ephemeral_key_expires_at: expiresAt,
      data: { ephemeralKey: issued.key, expiresAt, scopes: issued.scopes, userId: issued.userId, allowedIps: issued.allowedIps },
    };
  });
};
