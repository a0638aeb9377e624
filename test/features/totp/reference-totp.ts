/**
 * An independent RFC 6238 implementation for the tests (node:crypto HMAC + RFC 4226 §5.3
 * dynamic truncation, base32 per RFC 4648), so Latchkey's codes are checked against something
 * other than the library it uses. Plus small helpers the TOTP tests share.
 */
import { createHmac } from "node:crypto";
import jsQRModule from "jsqr";
import { PNG } from "pngjs";
import { createApp } from "../../../src/features/apps/apps.service.ts";
import { appsRepository } from "../../../src/features/apps/apps.repository.ts";
import { keysRepository } from "../../../src/features/keys/keys.repository.ts";
import { createApiKey } from "../../../src/features/keys/keys.service.ts";
import type { TestApp } from "../../helpers/build-app.ts";

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

/** The middle of a 30 s step, so ±1 step lands well inside neighbouring steps. */
export const MID_STEP = new Date("2026-11-22T07:00:15.000Z");

/** Another app with these settings and its secret key (settings are read on first use). */
export async function tenantWithSettings(t: TestApp, settings: Record<string, unknown>, name = "Settings App"): Promise<{ appId: string; apiKey: string }> {
  const app = await createApp(appsRepository(t.database.db.prisma), { name, settings });
  const key = await createApiKey(keysRepository(t.database.db.prisma), { appId: app.id, kind: "secret" });
  return { appId: app.id, apiKey: key.key };
}

/** Inject helpers bound to one key. */
export function client(t: TestApp, apiKey = t.apiKey) {
  const headers = { "x-api-key": apiKey };
  return {
    post: (url: string, payload: unknown, extra: Record<string, string> = {}) => t.app.inject({ method: "POST", url: `/api/v1${url}`, payload: payload as object, headers: { ...headers, ...extra } }),
    get: (url: string) => t.app.inject({ method: "GET", url: `/api/v1${url}`, headers }),
    del: (url: string) => t.app.inject({ method: "DELETE", url: `/api/v1${url}`, headers }),
  };
}

// jsqr is CommonJS with an `export default` declaration: at runtime the default import is the function.
const jsQR = jsQRModule as unknown as (typeof jsQRModule)["default"];

/** What a QR decoder (jsQR over the decoded PNG) reads from a `data:image/png;base64,…` URL. */
export function decodeQrDataUrl(dataUrl: string): string | undefined {
  const png = PNG.sync.read(Buffer.from(dataUrl.slice("data:image/png;base64,".length), "base64"));
  return jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data;
}
