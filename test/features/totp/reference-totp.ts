/**
 * The independent RFC 6238 implementation the TOTP tests check Latchkey's codes against
 * (rfc6238.ts), plus small helpers they share.
 */
import jsQRModule from "jsqr";
import { PNG } from "pngjs";
import { createApp } from "../../../src/features/apps/apps.service.ts";
import { appsRepository } from "../../../src/features/apps/apps.repository.ts";
import { keysRepository } from "../../../src/features/keys/keys.repository.ts";
import { createApiKey } from "../../../src/features/keys/keys.service.ts";
import type { TestApp } from "../../helpers/build-app.ts";
import { base32Decode } from "./rfc6238.ts";

export { base32Decode, base32Encode, referenceHotp, referenceTotp, type Algorithm } from "./rfc6238.ts";

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
