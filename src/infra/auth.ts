/**
 * API-key authentication for `/api/v1` (API.md §1). A checked key is cached for at most
 * API_KEY_CACHE_TTL_MS (≤ 5 s), so most requests cost no database round trip and a revoked
 * key stops working on every instance within that time without any cross-instance signal.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { ApiKeyKind } from "../generated/prisma/enums.ts";
import type { KeysRepository } from "../features/keys/keys.repository.ts";
import { hashApiKey } from "../features/keys/keys.service.ts";
import type { Clock } from "./clock.ts";
import { safeEqual } from "./crypto.ts";
import { AppError } from "./errors.ts";

export interface AuthContext {
  appId: string;
  keyId: string;
  keyKind: ApiKeyKind;
}

/** Which credentials a route accepts: secret keys only (default), browser-safe keys too, or none. */
export type RouteAuth = "secret" | "browser" | "none";

declare module "fastify" {
  interface FastifyRequest {
    auth: AuthContext | null;
  }
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
}

interface CacheEntry {
  context: AuthContext;
  hash: string;
  expiresAt: number;
}

const MAX_CACHE_ENTRIES = 10_000;
/** lastUsedAt is written at most this often per key, off the request path. */
const TOUCH_INTERVAL_MS = 60_000;

export interface ApiKeyAuthenticatorOptions {
  ttlMs: number;
  clock: Clock;
  onTouchError?: (err: unknown) => void;
}

export class ApiKeyAuthenticator {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<AuthContext | null>>();
  private readonly lastTouched = new Map<string, number>();

  constructor(private readonly repo: KeysRepository, private readonly options: ApiKeyAuthenticatorOptions) {}

  /** The key's app and kind, or null when the key is unknown or revoked. */
  async authenticate(key: string): Promise<AuthContext | null> {
    if (key.length < 16 || key.length > 256) return null;
    const hash = hashApiKey(key);
    const now = this.options.clock.now().getTime();
    const cached = this.cache.get(hash);
    if (cached && cached.expiresAt > now && safeEqual(cached.hash, hash)) {
      this.touch(cached.context.keyId, now);
      return cached.context;
    }
    // Concurrent requests with one uncached key share a single lookup.
    let pending = this.inflight.get(hash);
    if (!pending) {
      pending = this.lookup(hash, now).finally(() => this.inflight.delete(hash));
      this.inflight.set(hash, pending);
    }
    return pending;
  }

  private async lookup(hash: string, now: number): Promise<AuthContext | null> {
    const record = await this.repo.findActiveByHash(hash);
    // The index found the row by hash; compare again in constant time before trusting it.
    if (!record || !safeEqual(record.hash, hash)) {
      this.cache.delete(hash);
      return null;
    }
    const context: AuthContext = { appId: record.appId, keyId: record.id, keyKind: record.kind };
    if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(hash, { context, hash, expiresAt: now + this.options.ttlMs });
    this.touch(record.id, now);
    return context;
  }

  private touch(keyId: string, now: number): void {
    const last = this.lastTouched.get(keyId) ?? 0;
    if (now - last < TOUCH_INTERVAL_MS) return;
    if (this.lastTouched.size >= MAX_CACHE_ENTRIES) this.lastTouched.clear();
    this.lastTouched.set(keyId, now);
    this.repo.touch(keyId, new Date(now)).catch((err) => this.options.onTouchError?.(err));
  }

  /** Forgets every cached key on this instance (after a revoke here, for immediate effect). */
  clear(): void {
    this.cache.clear();
  }
}

/** The key from `X-API-Key`, or from `Authorization: Bearer …`. */
export function extractApiKey(request: FastifyRequest): string | undefined {
  const header = request.headers["x-api-key"];
  const direct = Array.isArray(header) ? header[0] : header;
  if (direct && direct.trim()) return direct.trim();
  const authorization = request.headers.authorization;
  if (authorization) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1];
  }
  return undefined;
}

/** onRequest hook for `/api/v1`: resolves the key before the body is even read. */
export function apiKeyHook(authenticator: ApiKeyAuthenticator) {
  return async function requireApiKey(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const mode = request.routeOptions.config?.auth ?? "secret";
    request.auth = null;
    if (mode === "none") return;
    const key = extractApiKey(request);
    if (!key) throw new AppError("UNAUTHORIZED", { message: "missing API key: send X-API-Key or Authorization: Bearer" });
    const context = await authenticator.authenticate(key);
    if (!context) throw new AppError("UNAUTHORIZED", { message: "invalid or revoked API key" });
    if (context.keyKind !== "secret" && mode !== "browser") {
      throw new AppError("FORBIDDEN", { message: "a publishable key may not call this route; use the secret key from your server" });
    }
    request.auth = context;
  };
}

/** The authenticated app of a request on a route that requires a key. */
export function authOf(request: FastifyRequest): AuthContext {
  if (!request.auth) throw new AppError("UNAUTHORIZED");
  return request.auth;
}
