import { randomFillSync } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** 24 base62 characters ≈ 142 bits: unguessable, so ids can double as capability references. */
const ID_LENGTH = 24;
/**
 * Random bytes are drawn from the CSPRNG a pool at a time (as node:crypto's randomUUID does):
 * one call into OpenSSL per ~80 ids instead of one per id, on paths that make several ids per
 * request. Each byte is used once.
 */
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let poolOffset = POOL_BYTES;

function nextRandomByte(): number {
  if (poolOffset === POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  return pool[poolOffset++]!;
}

/** A new random id with a readable prefix, e.g. `evt_3kQ…`. */
export function newId(prefix: string): string {
  // Rejection sampling keeps every character uniformly distributed (no modulo bias).
  let out = "";
  while (out.length < ID_LENGTH) {
    const byte = nextRandomByte();
    if (byte < 248) out += ALPHABET[byte % 62];
  }
  return `${prefix}_${out}`;
}
