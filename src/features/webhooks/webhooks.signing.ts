/**
 * The signature headers of a webhook delivery (API.md §5), computed over exactly the bytes
 * sent (`body` is the stored `JSON.stringify` of the event):
 *
 * - `X-SecureKey-Signature: sha256=<hex HMAC-SHA256(secret, body)>` with the secret string
 *   (UTF-8) as the key, lower-case hex — what SecureKey's Node (`JSON.stringify(req.body)`),
 *   Python (raw bytes) and C# (payload string) examples compute;
 * - Standard Webhooks (https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp`,
 *   `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, where the key
 *   is the base64-decoded part of a `whsec_…` secret (as the `standardwebhooks` libraries
 *   decode it) and, for a secret not of that form, its UTF-8 bytes (their `format: "raw"`).
 *
 * While a secret rotates, each header carries one signature per live secret, space-separated
 * (current first); a receiver accepts the delivery when any of them matches.
 */
import { createHmac } from "node:crypto";

/** `whsec_` + standard (padded) base64. */
const STANDARD_SECRET_PATTERN = /^whsec_((?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)$/;

/** The HMAC key Standard Webhooks verifiers derive from `secret`. */
export function standardWebhooksKey(secret: string): Buffer {
  const match = STANDARD_SECRET_PATTERN.exec(secret);
  if (match) {
    const decoded = Buffer.from(match[1]!, "base64");
    if (decoded.length > 0) return decoded;
  }
  return Buffer.from(secret, "utf8");
}

/** A live signing secret with its Standard Webhooks key derived once. */
export interface SigningKey {
  secret: string;
  standardKey: Buffer;
}

export function signingKey(secret: string): SigningKey {
  return { secret, standardKey: standardWebhooksKey(secret) };
}

/** `sha256=<lower-case hex>` of HMAC-SHA256 with the secret string as the key. */
export function secureKeySignature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body, "utf8").digest("hex")}`;
}

/** `v1,<base64>` per Standard Webhooks: HMAC-SHA256 over `<id>.<timestamp>.<body>`. */
export function standardWebhooksSignature(key: Buffer, messageId: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac("sha256", key).update(`${messageId}.${timestampSeconds}.${body}`, "utf8").digest("base64")}`;
}

export interface DeliveryHeadersInput {
  /** The delivery id: `X-SecureKey-Delivery` and `webhook-id`, the same on every retry. */
  deliveryId: string;
  eventType: string;
  body: string;
  /** Unix seconds of this attempt. */
  timestampSeconds: number;
  /** The current key first, then the previous one while a rotation lasts. */
  keys: readonly SigningKey[];
  userAgent?: string;
}

/** Every header of one delivery attempt. */
export function deliveryHeaders(input: DeliveryHeadersInput): Record<string, string> {
  const timestamp = String(input.timestampSeconds);
  return {
    "content-type": "application/json",
    "user-agent": input.userAgent ?? "Latchkey-Webhooks/1",
    "x-securekey-event": input.eventType,
    "x-securekey-delivery": input.deliveryId,
    "x-securekey-timestamp": timestamp,
    "x-securekey-signature": input.keys.map((k) => secureKeySignature(k.secret, input.body)).join(" "),
    "webhook-id": input.deliveryId,
    "webhook-timestamp": timestamp,
    "webhook-signature": input.keys.map((k) => standardWebhooksSignature(k.standardKey, input.deliveryId, input.timestampSeconds, input.body)).join(" "),
  };
}
