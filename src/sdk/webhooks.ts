/**
 * Checking the signature of webhook deliveries (API.md §5).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";

/** `sha256=` followed by the 32-byte digest in hex. */
const SIGNATURE_PATTERN = /^sha256=([0-9a-f]{64})$/i;

/**
 * Checks `X-SecureKey-Signature` of a webhook delivery.
 *
 * The signature is `sha256=<hex HMAC-SHA256(secret, body)>`, over exactly the
 * bytes of the body. Pass the raw body when you have it (`express.raw()`,
 * `request.text()`); a parsed object is re-serialized with `JSON.stringify`,
 * which gives back the same bytes because Latchkey sends compact
 * `JSON.stringify` output. While the endpoint's secret is being rotated the
 * header carries two space-separated signatures; either one matching is enough.
 *
 * Comparison is constant-time. This checks integrity and origin only: to
 * refuse replays, also check `X-SecureKey-Timestamp` against your clock and
 * remember `X-SecureKey-Delivery` ids you have processed.
 *
 * @param rawBodyOrObject the body as received (string or bytes), or the parsed JSON object
 * @param signatureHeader the `X-SecureKey-Signature` header (a missing header gives `false`)
 * @param secret the endpoint's signing secret (an empty secret gives `false`)
 * @returns whether any signature in the header matches
 *
 * @example
 * ```ts
 * app.post("/hooks/latchkey", express.raw({ type: "application/json" }), (req, res) => {
 *   if (!verifyWebhookSignature(req.body, req.get("X-SecureKey-Signature") ?? "", secret)) {
 *     return res.sendStatus(401);
 *   }
 *   const event = JSON.parse(req.body.toString("utf8"));
 *   res.sendStatus(204);
 * });
 * ```
 */
export function verifyWebhookSignature(
  rawBodyOrObject: string | Uint8Array | object,
  signatureHeader: string | readonly string[] | null | undefined,
  secret: string,
): boolean {
  if (typeof secret !== "string" || secret === "") return false;
  const candidates = signatureCandidates(signatureHeader);
  if (candidates.length === 0) return false;

  const body = bodyBytes(rawBodyOrObject);
  if (body === undefined) return false;
  const expected = createHmac("sha256", secret).update(body).digest();
  let matched = false;
  for (const candidate of candidates) {
    const hex = SIGNATURE_PATTERN.exec(candidate)?.[1];
    if (hex === undefined) continue;
    const given = Buffer.from(hex, "hex");
    // Lengths are equal by the pattern; the guard keeps timingSafeEqual from throwing regardless.
    // No early exit: every candidate is compared, so timing does not tell which one matched.
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  return matched;
}

/** Splits a header (or Node's repeated-header array) into its signatures. */
function signatureCandidates(header: string | readonly string[] | null | undefined): string[] {
  if (header === null || header === undefined) return [];
  const values = typeof header === "string" ? [header] : header;
  return values
    .flatMap((value) => (typeof value === "string" ? value.split(/[\s,]+/) : []))
    .filter((part) => part !== "");
}

/** The signed bytes; `undefined` for a value JSON cannot represent (a function). */
function bodyBytes(body: string | Uint8Array | object): string | Uint8Array | undefined {
  if (typeof body === "string" || body instanceof Uint8Array) return body;
  return JSON.stringify(body) as string | undefined;
}
