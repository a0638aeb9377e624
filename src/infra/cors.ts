/**
 * CORS for browser callers (API.md §7): pages on the listed origins may call the API with a
 * publishable or ephemeral key in `X-API-Key` / `Authorization`. Keys travel in headers, never
 * cookies, so no credentialed CORS is offered; what a key may do is still decided by the key.
 * A page on any other origin gets no CORS headers and its browser refuses to read the answer.
 */
import cors from "@fastify/cors";
import type { FastifyInstance } from "fastify";
import type { Config } from "../config.ts";

/** Request headers a browser may send (the preflight answers with these). */
const ALLOWED_HEADERS = ["X-API-Key", "Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id", "X-Device-Token"];
/** Response headers a page's script may read. */
const EXPOSED_HEADERS = ["Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Request-Id", "Idempotent-Replayed"];
/** How long a browser may reuse a preflight answer. */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

export async function registerCors(app: FastifyInstance, config: Pick<Config, "CORS_ORIGINS" | "WEBAUTHN_ORIGINS">): Promise<void> {
  const origins = config.CORS_ORIGINS.length > 0 ? config.CORS_ORIGINS : config.WEBAUTHN_ORIGINS;
  const anyOrigin = origins.includes("*");
  const allowed = new Set(origins);
  await app.register(cors, {
    origin: anyOrigin ? "*" : (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
    methods: ["GET", "POST", "PATCH", "DELETE"],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    credentials: false,
    maxAge: PREFLIGHT_MAX_AGE_SECONDS,
    strictPreflight: true,
  });
}
