/**
 * Shared pieces of the push tests: a recording PushSender (the third-party edge; the FCM
 * adapter itself is tested against a local fake of Google in push.fcm.test.ts), a phone that
 * holds a P-256 key and signs like a mobile keystore, and small request helpers.
 */
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import type { PushDelivery, PushMessage, PushSender } from "../../../src/infra/push.ts";
import type { TestApp } from "../../helpers/build-app.ts";

export class RecordingPushSender implements PushSender {
  readonly name = "recording";
  readonly sent: PushMessage[] = [];
  /** Outcome per FCM token; tokens not listed are delivered. */
  readonly outcomes = new Map<string, PushDelivery>();

  async send(messages: PushMessage[]): Promise<PushDelivery[]> {
    this.sent.push(...messages);
    return messages.map((m) => this.outcomes.get(m.token) ?? { ok: true, messageId: `msg-${this.sent.length}` });
  }

  async close(): Promise<void> {}

  sentTo(token: string): PushMessage[] {
    return this.sent.filter((m) => m.token === token);
  }
}

/** A phone's key pair, as the Secure Enclave / Android Keystore would hold it. */
export class Phone {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;

  constructor() {
    const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
  }

  jwk(): Record<string, unknown> {
    return this.publicKey.export({ format: "jwk" }) as Record<string, unknown>;
  }

  spkiBase64(): string {
    return this.publicKey.export({ format: "der", type: "spki" }).toString("base64");
  }

  /** base64 ECDSA-SHA256 over `requestId.action.matchNumber.timestamp`, DER (Android/Java) or raw r‖s (WebCrypto). */
  sign(fields: { requestId: string; action: string; matchNumber?: string; timestamp: number }, encoding: "der" | "ieee-p1363" = "der"): string {
    const message = `${fields.requestId}.${fields.action}.${fields.matchNumber ?? ""}.${fields.timestamp}`;
    return sign("sha256", Buffer.from(message), { key: this.privateKey, dsaEncoding: encoding }).toString("base64");
  }
}

export const unixSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

export function api(t: TestApp) {
  const call = (method: "GET" | "POST" | "DELETE", url: string, payload?: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> =>
    t.app.inject({ method, url: `/api/v1${url}`, payload: payload as object | undefined, headers: { "x-api-key": t.apiKey, ...headers } });
  return {
    call,
    registerDevice: (body: Record<string, unknown>) => call("POST", "/push/devices", body),
    send: (body: Record<string, unknown>) => call("POST", "/push/send", body),
    verify: (body: Record<string, unknown>) => call("POST", "/push/verify", body),
    /** As the phone: its device token and no API key. */
    respondAsDevice: (deviceToken: string, body: Record<string, unknown>, url = "/push/respond") =>
      t.app.inject({ method: "POST", url: `/api/v1${url}`, payload: body, headers: { "x-device-token": deviceToken } }),
  };
}

/** Registers a device and returns its id and token. */
export async function registerDevice(t: TestApp, body: Record<string, unknown>): Promise<{ deviceId: string; deviceToken: string }> {
  const res = await api(t).registerDevice({ platform: "android", ...body });
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`);
  return res.json().data;
}

export async function eventsOf(t: TestApp, type: string): Promise<Array<{ event: string; channel?: string; data: Record<string, unknown> }>> {
  const rows = await t.database.db.query<{ payload: string }>("SELECT payload FROM events WHERE app_id = $1 AND type = $2 ORDER BY created_at, id", [t.appId, type]);
  return rows.map((r) => JSON.parse(r.payload));
}
