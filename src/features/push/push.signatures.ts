/**
 * Signed answers (API.md §4.5). A device that registers a P-256 public key signs every answer
 * with the matching private key (Secure Enclave / Android Keystore), so that neither a stolen
 * device token nor a compromised relay can approve on its behalf.
 *
 * The signed message is the UTF-8 string
 *
 *     `${requestId}.${action}.${matchNumber}.${timestamp}`
 *
 * where `action` is `approve` or `deny` (also when the body said it with `response`),
 * `matchNumber` is the number exactly as sent in the body (`""` when none is sent) and
 * `timestamp` the body's unix seconds in decimal. Signature: ECDSA with SHA-256, base64 or
 * base64url, as ASN.1 DER (Android, Java, OpenSSL, iOS SecKeyCreateSignature) or as raw
 * 64-byte r‖s (IEEE P1363: WebCrypto, iOS CryptoKit's rawRepresentation).
 */
import { createPublicKey, verify, type JsonWebKey, type KeyObject } from "node:crypto";
import { AppError } from "../../infra/errors.ts";

/** How far a signed timestamp may be from the server's clock (API.md §4.5: ±300 s). */
export const SIGNATURE_MAX_SKEW_SECONDS = 300;
/** The only curve accepted: P-256 (secp256r1), the one every phone keystore offers. */
const P256 = "prime256v1";
const P1363_P256_BYTES = 64;

function invalidKey(message: string): AppError {
  return new AppError("VALIDATION_ERROR", { message, details: [{ field: "body.publicKey", message }] });
}

/**
 * A registered `publicKey` (JWK object, JWK as a JSON string, base64/base64url SPKI DER, or PEM)
 * → base64 SPKI DER, the stored form. Anything but a P-256 public key is a 400.
 */
export function normalizePublicKey(input: string | Record<string, unknown>): string {
  let key: KeyObject;
  try {
    if (typeof input === "object") {
      key = fromJwk(input);
    } else {
      const text = input.trim();
      if (text.startsWith("{")) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          throw invalidKey("publicKey looks like a JWK but is not valid JSON");
        }
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw invalidKey("publicKey must be a JWK object");
        key = fromJwk(parsed as Record<string, unknown>);
      } else if (text.startsWith("-----BEGIN")) {
        if (/PRIVATE KEY/.test(text)) throw invalidKey("publicKey must be the public key only; never send the private key");
        key = createPublicKey({ key: text, format: "pem" });
      } else {
        if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) throw invalidKey("publicKey must be a JWK, PEM, or base64 SPKI (DER)");
        key = createPublicKey({ key: Buffer.from(text, "base64"), format: "der", type: "spki" });
      }
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw invalidKey("publicKey could not be read as a P-256 public key (JWK, PEM, or base64 SPKI)");
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== P256) {
    throw invalidKey("publicKey must be an ECDSA P-256 key");
  }
  return key.export({ format: "der", type: "spki" }).toString("base64");
}

function fromJwk(jwk: Record<string, unknown>): KeyObject {
  if ("d" in jwk) throw invalidKey("publicKey must be the public key only; never send the private key");
  if (jwk.kty !== "EC" || jwk.crv !== "P-256") throw invalidKey("publicKey must be an EC JWK on curve P-256");
  return createPublicKey({ key: jwk as JsonWebKey, format: "jwk" });
}

export interface SignedAnswer {
  requestId: string;
  action: "approve" | "deny";
  /** As sent in the body (its decimal form when sent as a number); undefined when absent. */
  matchNumber?: string;
  timestamp: number;
}

/** The exact string a device signs (see the module comment). */
export function canonicalAnswer(answer: SignedAnswer): string {
  return `${answer.requestId}.${answer.action}.${answer.matchNumber ?? ""}.${answer.timestamp}`;
}

/** True when `signature` (base64/base64url, DER or raw r‖s) verifies `message` under the stored SPKI key. */
export function verifyAnswerSignature(publicKeySpki: string, message: string, signature: string): boolean {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(signature)) return false;
  const bytes = Buffer.from(signature, "base64");
  const key = createPublicKey({ key: Buffer.from(publicKeySpki, "base64"), format: "der", type: "spki" });
  const data = Buffer.from(message, "utf8");
  for (const dsaEncoding of bytes.length === P1363_P256_BYTES ? (["ieee-p1363", "der"] as const) : (["der"] as const)) {
    try {
      if (verify("sha256", data, { key, dsaEncoding }, bytes)) return true;
    } catch {
      // Not a well-formed signature in this encoding: try the next one.
    }
  }
  return false;
}
