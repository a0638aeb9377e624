/**
 * `Idempotency-Key` on every POST (API.md §6, IETF draft-ietf-httpapi-idempotency-key-header):
 * the same key with the same request within 24 h replays the first response with
 * `Idempotent-Replayed: true` and does nothing again; with another request → 422
 * IDEMPOTENCY_KEY_REUSED; while the first is still running → 409 CONFLICT. Keys are per app.
 *
 * The key is claimed with an atomic insert before the handler runs, so two concurrent
 * requests can never both perform. 5xx answers are not stored: the client may retry them.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { sha256Hex, type Keyring } from "./crypto.ts";
import type { Clock } from "./clock.ts";
import { AppError } from "./errors.ts";
import type { IdempotencyRepository } from "./idempotency.repository.ts";

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** A claim whose request never finished (the instance died) may be taken over after this. */
export const ABANDONED_CLAIM_MS = 60_000;
const MAX_KEY_LENGTH = 255;

declare module "fastify" {
  interface FastifyRequest {
    idempotency: { appId: string; key: string } | null;
  }
}

/** Stable JSON: object keys sorted, so `{a,b}` and `{b,a}` are the same request. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.keys(value as Record<string, unknown>).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** What makes two requests "the same": method, URL and body (key order ignored). */
export function fingerprintOf(method: string, url: string, body: unknown): string {
  return sha256Hex(`${method} ${url}\n${canonicalJson(body ?? null)}`);
}

/**
 * Stored answers are sealed with the keyring (AES-256-GCM, bound to the app and key): some
 * carry secrets shown only once (TOTP secrets, backup codes, device tokens, API keys), which
 * must not sit in the database in clear text for 24 h.
 */
const claimBinding = (appId: string, key: string) => `idempotency:${appId}:${key}`;

/** buildApp always decorates the keyring; a bare instance (unit tests) stores answers as they are. */
const keyringOf = (request: FastifyRequest): Keyring | undefined => (request.server as { keyring?: Keyring }).keyring;

function sealBody(request: FastifyRequest, body: string, binding: string): string {
  return keyringOf(request)?.seal(body, binding) ?? body;
}

/** The stored answer in clear; answers stored unsealed are JSON and pass as they are. */
function openStoredBody(request: FastifyRequest, stored: string, binding: string): string {
  const keyring = keyringOf(request);
  return keyring && stored.startsWith("v1.") ? keyring.open(stored, binding) : stored;
}

/** Installs the hooks on the `/api/v1` scope (after authentication, which supplies the app). */
export function installIdempotency(api: FastifyInstance, repo: IdempotencyRepository, clock: Clock): void {
  api.decorateRequest("idempotency", null);

  api.addHook("preHandler", async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method !== "POST") return;
    const header = request.headers["idempotency-key"];
    if (header === undefined) return;
    const key = Array.isArray(header) ? header[0] : header;
    if (!key || key.length > MAX_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(key)) {
      throw new AppError("VALIDATION_ERROR", { message: "Idempotency-Key must be 1 to 255 visible ASCII characters", details: [{ field: "headers.idempotency-key", message: "must be 1 to 255 visible ASCII characters" }] });
    }
    const appId = request.auth?.appId;
    if (!appId) return;
    const requestHash = fingerprintOf(request.method, request.url, request.body);

    for (let attempt = 0; attempt < 3; attempt++) {
      const now = clock.now();
      if (await repo.claim({ appId, key, requestHash, createdAt: now, expiresAt: new Date(now.getTime() + IDEMPOTENCY_TTL_MS) })) {
        request.idempotency = { appId, key };
        return;
      }
      const existing = await repo.find(appId, key);
      if (!existing) continue; // released between our insert and read: try again
      const expired = existing.expiresAt.getTime() <= now.getTime();
      const abandoned = existing.responseStatus === null && now.getTime() - existing.createdAt.getTime() > ABANDONED_CLAIM_MS;
      if (expired || abandoned) {
        await repo.releaseIfUnchanged(appId, key, existing.createdAt);
        continue;
      }
      if (existing.requestHash !== requestHash) {
        throw new AppError("IDEMPOTENCY_KEY_REUSED", { message: "this Idempotency-Key was used with a different request" });
      }
      if (existing.responseStatus === null) {
        throw new AppError("CONFLICT", { message: "a request with this Idempotency-Key is still being processed" });
      }
      reply.header("idempotent-replayed", "true");
      const body = openStoredBody(request, existing.responseBody ?? "", claimBinding(appId, key));
      return reply.code(existing.responseStatus).type("application/json; charset=utf-8").serializer((x: unknown) => String(x)).send(body);
    }
    throw new AppError("CONFLICT", { message: "a request with this Idempotency-Key is still being processed" });
  });

  api.addHook("onSend", async (request, reply, payload) => {
    const claim = request.idempotency;
    if (!claim) return payload;
    request.idempotency = null;
    if (reply.statusCode >= 500) {
      await repo.release(claim.appId, claim.key);
    } else {
      const body = typeof payload === "string" ? payload : String(payload ?? "");
      await repo.complete(claim.appId, claim.key, reply.statusCode, sealBody(request, body, claimBinding(claim.appId, claim.key)));
    }
    return payload;
  });
}
