/**
 * API-key authentication for `/api/v1` (API.md §1). A checked key is cached for at most
 * API_KEY_CACHE_TTL_MS (≤ 5 s), so most requests cost no database round trip and a revoked
 * key stops working on every instance within that time without any cross-instance signal.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ApiKeyKind } from "../generated/prisma/enums.ts";
import type { AuditLog } from "../features/audit/audit.service.ts";
import type { AuditActorType } from "../features/audit/audit.repository.ts";
import type { EphemeralKeysRepository } from "../features/auth/ephemeral.repository.ts";
import type { KeysRepository } from "../features/keys/keys.repository.ts";
import { hashApiKey } from "../features/keys/keys.service.ts";
import type { Clock } from "./clock.ts";
import { safeEqual } from "./crypto.ts";
import { AppError } from "./errors.ts";
import { ipInRanges, parseIpRange, type IpRange } from "./ip-ranges.ts";

export type KeyKind = ApiKeyKind | "ephemeral";

export interface AuthContext {
  appId: string;
  keyId: string;
  keyKind: KeyKind;
  /** Ephemeral keys only: what the key may do, for whom, from where, until when. */
  scopes?: readonly KeyScope[];
  userId?: string | null;
  allowedIps?: IpRange[];
  expiresAt?: number;
}

/**
 * Which credentials a route accepts: secret keys (default; ephemeral keys too when the route
 * names a `scope` the key holds), browser-safe publishable keys as well ("browser"), an operator
 * session ("admin": the admin API checks its own tokens), or none.
 */
export type RouteAuth = "secret" | "browser" | "admin" | "none";

/**
 * What an ephemeral key may be scoped to (API.md §7). `sms`/`email` cover sending and
 * verifying codes; `push_verify` covers answering and polling push requests, `push` also
 * sending them and registering devices.
 */
export const KEY_SCOPES = ["webauthn", "totp", "push_verify", "push", "sms", "email"] as const;
export type KeyScope = (typeof KEY_SCOPES)[number];
export const DEFAULT_EPHEMERAL_SCOPES: KeyScope[] = ["webauthn", "totp", "push_verify"];

declare module "fastify" {
  interface FastifyRequest {
    auth: AuthContext | null;
  }
  interface FastifyContextConfig {
    auth?: RouteAuth;
    /** The ephemeral-key scope that grants this route; without one, ephemeral keys are refused. */
    scope?: KeyScope;
  }
}

interface CacheEntry {
  context: AuthContext;
  hash: string;
  expiresAt: number;
}

const MAX_CACHE_ENTRIES = 10_000;
export const EPHEMERAL_KEY_PREFIX = "ek_";
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

  constructor(
    private readonly repo: KeysRepository,
    private readonly options: ApiKeyAuthenticatorOptions,
    private readonly ephemeral?: EphemeralKeysRepository,
  ) {}

  /**
   * The key's app and kind, or null when the key is unknown or revoked. An ephemeral key is
   * returned even after it expired (its `expiresAt` tells): the caller answers 419, not 401.
   */
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
      pending = this.lookup(hash, now, key.startsWith(EPHEMERAL_KEY_PREFIX)).finally(() => this.inflight.delete(hash));
      this.inflight.set(hash, pending);
    }
    return pending;
  }

  private async lookup(hash: string, now: number, ephemeral: boolean): Promise<AuthContext | null> {
    const context = ephemeral ? await this.lookupEphemeral(hash) : await this.lookupStored(hash);
    if (!context) {
      this.cache.delete(hash);
      return null;
    }
    if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(hash, { context, hash, expiresAt: now + this.options.ttlMs });
    if (!ephemeral) this.touch(context.keyId, now);
    return context;
  }

  private async lookupStored(hash: string): Promise<AuthContext | null> {
    const record = await this.repo.findActiveByHash(hash);
    // The index found the row by hash; compare again in constant time before trusting it.
    if (!record || !safeEqual(record.hash, hash)) return null;
    return { appId: record.appId, keyId: record.id, keyKind: record.kind };
  }

  private async lookupEphemeral(hash: string): Promise<AuthContext | null> {
    const record = await this.ephemeral?.findByHash(hash);
    if (!record || !safeEqual(record.hash, hash)) return null;
    return {
      appId: record.appId,
      keyId: record.id,
      keyKind: "ephemeral",
      scopes: record.scopes.filter((s): s is KeyScope => (KEY_SCOPES as readonly string[]).includes(s)),
      userId: record.externalUserId,
      // Stored lists were validated when the key was issued.
      allowedIps: record.allowedIps.map(parseIpRange),
      expiresAt: record.expiresAt.getTime(),
    };
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

const resolved = new WeakMap<FastifyRequest, Promise<AuthContext | null>>();

/**
 * The request's key, looked up once per request however many hooks ask (the rate limiter asks
 * for the app's budget before the auth hook runs). Null when the request carries no key.
 */
export function resolveRequestKey(request: FastifyRequest, authenticator: ApiKeyAuthenticator): Promise<AuthContext | null> {
  let pending = resolved.get(request);
  if (!pending) {
    const key = extractApiKey(request);
    pending = key ? authenticator.authenticate(key) : Promise.resolve(null);
    resolved.set(request, pending);
  }
  return pending;
}

const ACTOR_TYPES: Record<KeyKind, AuditActorType> = { secret: "api_key", publishable: "publishable_key", ephemeral: "ephemeral_key" };

export interface ApiKeyHookOptions {
  authenticator: ApiKeyAuthenticator;
  clock: Clock;
  audit: AuditLog;
}

/** Whether an ephemeral key's scopes grant a route's scope (`push` includes `push_verify`). */
export function scopeGrants(scopes: readonly KeyScope[], needed: KeyScope): boolean {
  return scopes.includes(needed) || (needed === "push_verify" && scopes.includes("push"));
}

/**
 * onRequest hook for `/api/v1`: resolves the key before the body is even read, and refuses
 * what the key may not do (API.md §1, §7). Every refusal is written to the audit log.
 */
export function apiKeyHook({ authenticator, clock, audit }: ApiKeyHookOptions) {
  return async function requireApiKey(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const config = request.routeOptions.config;
    const mode = config?.auth ?? "secret";
    request.auth = null;
    if (mode === "none" || mode === "admin") return;
    const refuse = (error: AppError, context: AuthContext | null, reason: string): never => {
      audit.record({
        actorType: context ? ACTOR_TYPES[context.keyKind] : "anonymous",
        actorId: context?.keyId ?? null,
        appId: context?.appId ?? null,
        ip: request.ip,
        action: "auth.api_key",
        target: `${request.method} ${request.routeOptions.url ?? request.url}`,
        outcome: error.code === "UNAUTHORIZED" || error.code === "TOKEN_EXPIRED" ? "failure" : "denied",
        details: { reason },
      });
      throw error;
    };
    if (!extractApiKey(request)) refuse(new AppError("UNAUTHORIZED", { message: "missing API key: send X-API-Key or Authorization: Bearer" }), null, "missing key");
    const context = await resolveRequestKey(request, authenticator);
    if (!context) return refuse(new AppError("UNAUTHORIZED", { message: "invalid or revoked API key" }), null, "unknown or revoked key");
    if (context.keyKind === "ephemeral") {
      if (context.expiresAt! <= clock.now().getTime()) refuse(new AppError("TOKEN_EXPIRED", { message: "the ephemeral key has expired; ask your server for a new one" }), context, "expired");
      if (context.allowedIps!.length > 0 && !ipInRanges(request.ip, context.allowedIps!)) {
        refuse(new AppError("IP_NOT_ALLOWED", { message: "this ephemeral key may not be used from this IP address" }), context, "ip not allowed");
      }
      if (!config?.scope || !scopeGrants(context.scopes!, config.scope)) {
        refuse(new AppError("FORBIDDEN", { message: config?.scope ? `this ephemeral key is not scoped for ${config.scope}` : "an ephemeral key may not call this route" }), context, "out of scope");
      }
    } else if (context.keyKind === "publishable" && mode !== "browser") {
      refuse(new AppError("FORBIDDEN", { message: "a publishable key may not call this route; use the secret key from your server" }), context, "publishable key");
    }
    request.auth = context;
  };
}

type SchemaWithProperties = { properties?: Record<string, unknown> } | undefined;
const takesUserId = (schema: unknown): boolean => Boolean((schema as SchemaWithProperties)?.properties?.userId);

/**
 * preValidation hook for `/api/v1`: an ephemeral key issued for one end user (`user_id`) acts
 * only for that user. A request naming another userId (path, query or body) is refused; one
 * naming none gets the key's user filled in wherever the route takes a userId, so the services'
 * "when given, the resource must be this user's" checks apply.
 */
export function ephemeralUserBindingHook() {
  return async function bindEphemeralUser(request: FastifyRequest): Promise<void> {
    const bound = request.auth?.userId;
    if (!bound) return;
    const schema = request.routeOptions.schema;
    const places: Array<[unknown, unknown]> = [[request.params, schema?.params], [request.query, schema?.querystring], [request.body, schema?.body]];
    for (const [values, placeSchema] of places) {
      if (!values || typeof values !== "object" || Array.isArray(values)) continue;
      const record = values as Record<string, unknown>;
      if (record.userId !== undefined && record.userId !== null) {
        if (record.userId !== bound) throw new AppError("FORBIDDEN", { message: "this ephemeral key acts for another user" });
      } else if (takesUserId(placeSchema)) {
        record.userId = bound;
      }
    }
  };
}

/** The authenticated app of a request on a route that requires a key. */
export function authOf(request: FastifyRequest): AuthContext {
  if (!request.auth) throw new AppError("UNAUTHORIZED");
  return request.auth;
}

/**
 * Gives every route registered after this call in `app`'s scope the ephemeral-key scope
 * `scope`, unless the route names its own (API.md §7: a key scoped to `totp` may call the
 * /totp routes). Called once at the top of a channel's route plugin.
 */
export function grantScope(app: FastifyInstance, scope: KeyScope): void {
  app.addHook("onRoute", (route) => {
    route.config = { scope, ...(route.config as object) } as typeof route.config;
  });
}
