/**
 * An independent RFC 6238 implementation (node:crypto HMAC + RFC 4226 §5.3 dynamic truncation,
 * base32 per RFC 4648), so Latchkey's codes are checked against something other than the
 * library it uses — by the TOTP tests, and by bench/totp.ts's load generator. No imports from
 * src/ or test helpers: a worker thread can load it alone.
 */
import { createHmac } from "node:crypto";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export function base32Decode(text: string): Buffer {
  const clean = text.replace(/=+$/, "").toUpperCase();
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function base32Encode(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

export type Algorithm = "SHA1" | "SHA256" | "SHA512";

/** RFC 4226 §5.3 HOTP over counter T (RFC 6238 §4.2 T = floor(unix / period)). */
export function referenceHotp(key: Buffer, counter: number, digits: number, algorithm: Algorithm = "SHA1"): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm.toLowerCase(), key).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = ((mac[offset]! & 0x7f) << 24) | (mac[offset + 1]! << 16) | (mac[offset + 2]! << 8) | mac[offset + 3]!;
  return String(binary % 10 ** digits).padStart(digits, "0");
}

export function referenceTotp(secretBase32: string, at: Date | number, options: { digits?: number; period?: number; algorithm?: Algorithm; stepOffset?: number } = {}): string {
  const period = options.period ?? 30;
  const unix = Math.floor((typeof at === "number" ? at : at.getTime()) / 1000);
  return referenceHotp(base32Decode(secretBase32), Math.floor(unix / period) + (options.stepOffset ?? 0), options.digits ?? 6, options.algorithm ?? "SHA1");
}
