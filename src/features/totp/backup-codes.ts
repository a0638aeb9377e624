/**
 * Backup codes: ten one-time codes shown once, kept only as keyed hashes.
 *
 * A code is 10 characters of Crockford's base32 (50 bits from the CSPRNG), shown as
 * `XXXXX-XXXXX`. Input is forgiving the way Crockford intends: case, spaces and hyphens are
 * ignored and O/I/L read as 0/1/1. Stored hashes are HMAC-SHA256 under a key derived from the
 * keyring and bound to the end user, so a database dump alone neither reveals codes nor allows
 * an offline guess, and a hash copied to another user's row matches nothing.
 */
import { randomBytes } from "node:crypto";
import { hmacSha256Hex, safeEqual, type Keyring } from "../../infra/crypto.ts";

export const BACKUP_CODE_COUNT = 10;
const CODE_LENGTH = 10;
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const KEY_LABEL = "totp-backup-codes";
const HASH_VERSION = "v1";

/** `count` distinct codes; each byte's low 5 bits pick a character (32 divides 256: no bias). */
export function generateBackupCodes(count = BACKUP_CODE_COUNT): string[] {
  const codes = new Set<string>();
  while (codes.size < count) {
    const chars = [...randomBytes(CODE_LENGTH)].map((byte) => ALPHABET[byte & 31]).join("");
    codes.add(`${chars.slice(0, 5)}-${chars.slice(5)}`);
  }
  return [...codes];
}

/** The canonical form of what a user typed, or null when it cannot be a backup code. */
export function normalizeBackupCode(input: string): string | null {
  const compact = input.toUpperCase().replace(/[\s-]/g, "").replace(/O/g, "0").replace(/[IL]/g, "1");
  if (compact.length !== CODE_LENGTH) return null;
  for (const char of compact) if (!ALPHABET.includes(char)) return null;
  return compact;
}

/** `v1$<keyId>$<hex HMAC>`: the key id keeps hashes checkable while ENCRYPTION_KEY rotates. */
export function hashBackupCode(keyring: Keyring, endUserId: string, normalized: string, keyId = keyring.currentKeyId): string {
  const mac = hmacSha256Hex(keyring.deriveKey(KEY_LABEL, keyId), `${endUserId}:${normalized}`);
  return `${HASH_VERSION}$${keyId}$${mac}`;
}

/** Constant-time check of `normalized` against one stored hash. */
export function backupCodeMatches(keyring: Keyring, endUserId: string, normalized: string, stored: string): boolean {
  const [version, keyId] = stored.split("$");
  if (version !== HASH_VERSION || !keyId) return false;
  let expected: string;
  try {
    expected = hashBackupCode(keyring, endUserId, normalized, keyId);
  } catch {
    return false; // hashed under a key no longer in the keyring
  }
  return safeEqual(expected, stored);
}
