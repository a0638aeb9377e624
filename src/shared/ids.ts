import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** 24 base62 characters ≈ 142 bits: unguessable, so ids can double as capability references. */
const ID_LENGTH = 24;

/** A new random id with a readable prefix, e.g. `evt_3kQ…`. */
export function newId(prefix: string): string {
  // Rejection sampling keeps every character uniformly distributed (no modulo bias).
  let out = "";
  while (out.length < ID_LENGTH) {
    for (const byte of randomBytes(ID_LENGTH * 2)) {
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === ID_LENGTH) break;
    }
  }
  return `${prefix}_${out}`;
}
