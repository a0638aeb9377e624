/**
 * API keys: random (256 bits), shown once, stored only as a SHA-256 hash (API.md §1).
 */
import { randomToken, sha256Hex } from "../../infra/crypto.ts";
import { newId } from "../../shared/ids.ts";
import type { ApiKeyKind } from "../../generated/prisma/enums.ts";
import type { ApiKeyRecord, KeysRepository } from "./keys.repository.ts";

export const KEY_PREFIXES: Record<ApiKeyKind, string> = { secret: "2fa_", publishable: "pk_" };
/** Characters of a key kept in clear so operators can tell keys apart (prefix + 8 random chars). */
const DISPLAY_RANDOM_CHARS = 8;
const KEY_ENTROPY_BYTES = 32;

export function generateApiKey(kind: ApiKeyKind): string {
  return `${KEY_PREFIXES[kind]}${randomToken(KEY_ENTROPY_BYTES)}`;
}

export function hashApiKey(key: string): string {
  return sha256Hex(key);
}

export function displayPrefix(key: string): string {
  const kindPrefix = key.startsWith("pk_") ? 3 : 4;
  return key.slice(0, kindPrefix + DISPLAY_RANDOM_CHARS);
}

export interface CreatedApiKey {
  id: string;
  kind: ApiKeyKind;
  name: string | null;
  prefix: string;
  /** The key itself: returned once, never stored. */
  key: string;
  createdAt: Date;
}

export async function createApiKey(
  repo: KeysRepository,
  input: { appId: string; kind: ApiKeyKind; name?: string | null; key?: string },
): Promise<CreatedApiKey> {
  const key = input.key ?? generateApiKey(input.kind);
  const record = await repo.insert({
    id: newId("key"),
    appId: input.appId,
    kind: input.kind,
    name: input.name ?? null,
    prefix: displayPrefix(key),
    hash: hashApiKey(key),
  });
  return { id: record.id, kind: record.kind, name: record.name, prefix: record.prefix, key, createdAt: record.createdAt };
}

/** A key as operators see it: never the key or its hash. */
export function publicKeyView(record: ApiKeyRecord) {
  return {
    id: record.id,
    kind: record.kind,
    name: record.name,
    prefix: record.prefix,
    createdAt: record.createdAt.toISOString(),
    lastUsedAt: record.lastUsedAt?.toISOString() ?? null,
    revokedAt: record.revokedAt?.toISOString() ?? null,
  };
}

export class KeyPrefixError extends Error {
  override name = "KeyPrefixError";
}

/** Revokes the one active key whose display prefix starts with `prefix`. */
export async function revokeApiKeyByPrefix(repo: KeysRepository, prefix: string, now: Date): Promise<ApiKeyRecord> {
  if (prefix.length < 6) throw new KeyPrefixError("give at least 6 characters of the key prefix");
  const matches = (await repo.findByPrefix(prefix)).filter((k) => !k.revokedAt);
  if (matches.length === 0) throw new KeyPrefixError(`no active key starts with ${prefix}`);
  if (matches.length > 1) throw new KeyPrefixError(`${matches.length} active keys start with ${prefix}; give more characters`);
  const key = matches[0]!;
  await repo.revoke(key.id, now);
  return { ...key, revokedAt: now };
}
