/**
 * Per-IP rate limits (API.md §3) on @fastify/rate-limit: the deployment's budgets, overridden per
 * app (settings.rateLimits), counted in Redis when REDIS_URL is set so every instance shares them.
 *
 * Redis going away must not turn into 5xx nor into "no limits at all": the store below counts in
 * this instance's memory while Redis fails (logging one warning when that starts and a note when
 * it ends), and tries Redis again after a short pause. Per-instance counters are weaker than
 * shared ones (N instances allow N× the budget) but keep every limit in force.
 */
import type { FastifyRequest } from "fastify";
import type { FastifyRateLimitOptions, FastifyRateLimitStore } from "@fastify/rate-limit";
import type { Redis } from "ioredis";
import LocalStore from "@fastify/rate-limit/store/LocalStore.js";
import RedisStore from "@fastify/rate-limit/store/RedisStore.js";
import type { Config } from "../config.ts";
import type { AppSettingsProvider, RateLimitSettings } from "../features/apps/app-settings.ts";
import { resolveRequestKey, type ApiKeyAuthenticator } from "./auth.ts";

/** How long the store stays on memory counters after a Redis failure before trying Redis again. */
const REDIS_RETRY_AFTER_MS = 5_000;
const WINDOW_MS = 60_000;

type Store = FastifyRateLimitStore;
type IncrCallback = Parameters<Store["incr"]>[1];

export interface RateLimitStoreOptions {
  redis: Redis;
  nameSpace: string;
  onDegraded: (err: unknown) => void;
  onRecovered: () => void;
  now?: () => number;
}

/** Shared state of one root store and every route's child: one outage, one warning. */
interface Health {
  degradedUntil: number;
  degraded: boolean;
}

class FallbackStore implements Store {
  constructor(
    private readonly shared: Store,
    private readonly local: Store,
    private readonly health: Health,
    private readonly options: RateLimitStoreOptions,
  ) {}

  incr(key: string, cb: IncrCallback, timeWindow: number, max: number): void {
    const now = (this.options.now ?? Date.now)();
    if (this.health.degraded && now < this.health.degradedUntil) {
      this.local.incr(key, cb, timeWindow, max);
      return;
    }
    this.shared.incr(key, (err, result) => {
      if (err) {
        if (!this.health.degraded) this.options.onDegraded(err);
        this.health.degraded = true;
        this.health.degradedUntil = now + REDIS_RETRY_AFTER_MS;
        this.local.incr(key, cb, timeWindow, max);
        return;
      }
      if (this.health.degraded) {
        this.health.degraded = false;
        this.options.onRecovered();
      }
      cb(null, result);
    }, timeWindow, max);
  }

  child(routeOptions: Parameters<Store["child"]>[0]): Store {
    return new FallbackStore(this.shared.child(routeOptions), this.local.child(routeOptions), this.health, this.options);
  }
}

/** A store class for @fastify/rate-limit's `store` option: Redis, falling back to memory. */
export function redisWithMemoryFallback(options: RateLimitStoreOptions) {
  const health: Health = { degraded: false, degradedUntil: 0 };
  return class RedisWithMemoryFallback extends FallbackStore {
    constructor(params: FastifyRateLimitOptions & { continueExceeding?: boolean; exponentialBackoff?: boolean }) {
      const continueExceeding = params.continueExceeding ?? false;
      const exponentialBackoff = params.exponentialBackoff ?? false;
      super(
        new RedisStore(continueExceeding, exponentialBackoff, options.redis, options.nameSpace) as Store,
        new LocalStore(continueExceeding, exponentialBackoff) as Store,
        health,
        options,
      );
    }
  };
}

/**
 * The budget of the calling key's app, or the deployment default when the request carries no
 * usable key (its 401 still counts against the deployment's global budget).
 */
export function perAppMax(
  deps: { authenticator: ApiKeyAuthenticator; settings: AppSettingsProvider },
  pick: (limits: RateLimitSettings) => number,
  fallback: number,
) {
  return async (request: FastifyRequest): Promise<number> => {
    const context = await resolveRequestKey(request, deps.authenticator).catch(() => null);
    if (!context) return fallback;
    try {
      return pick((await deps.settings.get(context.appId)).rateLimits);
    } catch {
      return fallback;
    }
  };
}

/** Route-level limits (`config.rateLimit`) for OTP sends and verify attempts. */
export interface RouteLimits {
  send: { rateLimit: { max: (request: FastifyRequest) => Promise<number>; timeWindow: number } };
  verify: { rateLimit: { max: (request: FastifyRequest) => Promise<number>; timeWindow: number } };
}

export function routeLimits(deps: { authenticator: ApiKeyAuthenticator; settings: AppSettingsProvider; config: Config }): RouteLimits {
  return {
    send: { rateLimit: { max: perAppMax(deps, (l) => l.sendPerMin, deps.config.RATE_LIMIT_SEND_PER_MIN), timeWindow: WINDOW_MS } },
    verify: { rateLimit: { max: perAppMax(deps, (l) => l.verifyPerMin, deps.config.RATE_LIMIT_VERIFY_PER_MIN), timeWindow: WINDOW_MS } },
  };
}

export const RATE_LIMIT_WINDOW_MS = WINDOW_MS;
