/**
 * Ephemeral keys (API.md §7): short-lived keys a partner's server mints for one browser session,
 * scoped to channels, optionally to one end user and to a list of IPs. Stored only as a hash,
 * like every key; checked by the API-key hook (src/infra/auth.ts).
 */
import { randomToken, sha256Hex } from "../../infra/crypto.ts";
import { DEFAULT_EPHEMERAL_SCOPES, EPHEMERAL_KEY_PREFIX, KEY_SCOPES, type KeyScope } from "../../infra/auth.ts";
import { AppError } from "../../infra/errors.ts";
import { IpRangeError, parseIpAllowList } from "../../infra/ip-ranges.ts";
import { newId } from "../../shared/ids.ts";
import { EXPIRED_KEY_RETENTION_MS, type EphemeralKeysRepository } from "./ephemeral.repository.ts";

export const DEFAULT_LIFETIME_MS = 30_000;
export const MAX_LIFETIME_MS = 3_600_000;
const MIN_LIFETIME_MS = 1_000;
const KEY_ENTROPY_BYTES = 32;
/** One issue in this many also sweeps keys expired for longer than the retention. */
const SWEEP_ONE_IN = 100;

export interface EphemeralKeyRequest {
  /** Lifetime in ms (`epi`). */
  lifetimeMs?: number;
  /** `ipa`: comma-separated IPs/CIDRs, or the entries as an array. */
  allowedIps?: string | string[];
  userId?: string;
  scopes?: string | string[];
}

export interface IssuedEphemeralKey {
  key: string;
  expiresAt: Date;
  scopes: KeyScope[];
  userId: string | null;
  allowedIps: string[];
}

const invalid = (field: string, message: string) => new AppError("VALIDATION_ERROR", { message: `${field} ${message}`, details: [{ field, message }] });

function parseScopes(value: string | string[] | undefined): KeyScope[] {
  if (value === undefined) return [...DEFAULT_EPHEMERAL_SCOPES];
  const entries = (Array.isArray(value) ? value : value.split(",")).map((s) => s.trim()).filter(Boolean);
  if (entries.length === 0) throw invalid("scopes", "names no scope");
  for (const entry of entries) {
    if (!(KEY_SCOPES as readonly string[]).includes(entry)) throw invalid("scopes", `has an unknown scope "${entry}" (known: ${KEY_SCOPES.join(", ")})`);
  }
  return [...new Set(entries as KeyScope[])];
}

function parseAllowedIps(value: string | string[] | undefined): string[] {
  if (value === undefined || (typeof value === "string" && !value.trim())) return [];
  const entries = (Array.isArray(value) ? value : value.split(",")).map((s) => s.trim());
  try {
    parseIpAllowList(entries);
  } catch (err) {
    if (err instanceof IpRangeError) throw invalid("ipa", err.message);
    throw err;
  }
  return entries;
}

export function ephemeralKeysService(deps: { repo: EphemeralKeysRepository; now: () => Date }) {
  return {
    async issueEphemeralKey(appId: string, request: EphemeralKeyRequest): Promise<IssuedEphemeralKey> {
      const lifetimeMs = request.lifetimeMs ?? DEFAULT_LIFETIME_MS;
      if (!Number.isInteger(lifetimeMs) || lifetimeMs < MIN_LIFETIME_MS || lifetimeMs > MAX_LIFETIME_MS) {
        throw invalid("epi", `must be a whole number of milliseconds from ${MIN_LIFETIME_MS} to ${MAX_LIFETIME_MS}`);
      }
      const scopes = parseScopes(request.scopes);
      const allowedIps = parseAllowedIps(request.allowedIps);
      const now = deps.now();
      const key = `${EPHEMERAL_KEY_PREFIX}${randomToken(KEY_ENTROPY_BYTES)}`;
      const expiresAt = new Date(now.getTime() + lifetimeMs);
      const userId = request.userId ?? null;
      await deps.repo.insert({ id: newId("ek"), appId, hash: sha256Hex(key), externalUserId: userId, scopes, allowedIps, expiresAt });
      if (Math.random() * SWEEP_ONE_IN < 1) {
        // Off the request path; a failed sweep is retried by a later issue.
        deps.repo.deleteExpiredBefore(new Date(now.getTime() - EXPIRED_KEY_RETENTION_MS)).catch(() => undefined);
      }
      return { key, expiresAt, scopes, userId, allowedIps };
    },
  };
}

export type EphemeralKeysService = ReturnType<typeof ephemeralKeysService>;
