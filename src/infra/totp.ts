/**
 * The one adapter for otplib (RFC 6238 TOTP). Secrets are generated here from the CSPRNG,
 * codes are generated and checked by otplib with an injected time, and the Key Uri Format
 * (`otpauth://totp/…`) is built here. HMACs run on node:crypto (a CryptoPlugin below) rather
 * than otplib's default pure-JS plugin: same results, a fraction of the CPU.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { ScureBase32Plugin, createGuardrails, generate, generateSecret, verify, type CryptoPlugin, type HashAlgorithm } from "otplib";

export type TotpAlgorithm = "SHA1" | "SHA256" | "SHA512";

/** The parameters an authenticator app is told at enrolment and every code is checked with. */
export interface TotpParameters {
  algorithm: TotpAlgorithm;
  digits: number;
  periodSeconds: number;
}

/**
 * 20 bytes = 160 bits: the HMAC-SHA1 key length RFC 4226 §4 recommends (R6) and the size
 * Google Authenticator expects; 160 bits is also the minimum RFC 4226 allows for new secrets.
 */
export const TOTP_SECRET_BYTES = 20;

const HASHES: Record<string, "sha1" | "sha256" | "sha512"> = { sha1: "sha1", sha256: "sha256", sha512: "sha512" };

/** otplib's crypto operations on node:crypto (OpenSSL), constant-time comparison included. */
const nodeCrypto: CryptoPlugin = {
  name: "node",
  algorithms: ["sha1", "sha256", "sha512"],
  hmac(algorithm: HashAlgorithm, key: Uint8Array, data: Uint8Array): Uint8Array {
    const hash = HASHES[String(algorithm).toLowerCase().replace(/[-_]/g, "")];
    if (!hash) throw new Error(`unsupported HMAC algorithm ${String(algorithm)}`);
    return new Uint8Array(createHmac(hash, key).update(data).digest());
  },
  randomBytes: (length: number) => new Uint8Array(randomBytes(length)),
  constantTimeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
    const left = typeof a === "string" ? Buffer.from(a) : Buffer.from(a);
    const right = typeof b === "string" ? Buffer.from(b) : Buffer.from(b);
    if (left.length !== right.length) {
      timingSafeEqual(left, left);
      return false;
    }
    return timingSafeEqual(left, right);
  },
};

const base32 = new ScureBase32Plugin();
/** otplib's default limits, built once instead of on every call. */
const guardrails = createGuardrails();

const toOtplib = (algorithm: TotpAlgorithm): HashAlgorithm => algorithm.toLowerCase() as HashAlgorithm;
const epochSeconds = (at: Date): number => Math.floor(at.getTime() / 1000);

/** A fresh secret: 160 random bits from the CSPRNG, RFC 4648 base32 without padding. */
export function generateTotpSecret(): string {
  return generateSecret({ length: TOTP_SECRET_BYTES, crypto: nodeCrypto, base32 });
}

/** Raw bytes → the base32 form authenticator apps take (tests seed RFC 6238 keys with it). */
export function encodeTotpSecret(bytes: Uint8Array): string {
  return base32.encode(bytes, { padding: false });
}

/** RFC 6238 §4.2: T = floor((now − T0) / X), with T0 = 0. */
export function timeStepAt(at: Date, periodSeconds: number): number {
  return Math.floor(epochSeconds(at) / periodSeconds);
}

/** The code for `at` (tests and tools; the service only verifies). */
export function generateTotpCode(options: TotpParameters & { secret: string; at: Date }): Promise<string> {
  return generate({
    secret: options.secret,
    algorithm: toOtplib(options.algorithm),
    digits: options.digits,
    period: options.periodSeconds,
    epoch: epochSeconds(options.at),
    crypto: nodeCrypto,
    base32,
  });
}

export type TotpMatch =
  /** The code belongs to `step`, later than every step used before. */
  | { outcome: "valid"; step: number; drift: number }
  /** The code is right but for a step at or before the last one accepted: a replay. */
  | { outcome: "replayed"; step: number }
  | { outcome: "invalid" };

/**
 * Checks `token` against the steps within ±`driftSteps` of `at` (RFC 6238 §5.2: a small
 * window absorbs clock drift and transmission delay; one step each way is the common choice).
 * Steps at or before `lastUsedStep` never count as valid (RFC 6238 §5.2: "the verifier MUST
 * NOT accept the second attempt of the OTP after the successful validation has been issued
 * for the first OTP"); a code matching only such a step is reported as a replay. The caller
 * still records the step with a conditional UPDATE, which is what settles concurrent uses.
 */
export async function matchTotpCode(options: TotpParameters & {
  secret: string;
  token: string;
  at: Date;
  driftSteps: number;
  lastUsedStep: number | null;
}): Promise<TotpMatch> {
  const { token, digits } = options;
  if (token.length !== digits || !/^\d+$/.test(token)) return { outcome: "invalid" };
  const epoch = epochSeconds(options.at);
  const current = Math.floor(epoch / options.periodSeconds);
  const common = {
    // Decoded once here rather than by otplib for every step it tries.
    secret: base32.decode(options.secret),
    token,
    algorithm: toOtplib(options.algorithm),
    digits,
    period: options.periodSeconds,
    epoch,
    // A tolerance of k periods makes otplib check exactly the steps current−k … current+k.
    epochTolerance: options.driftSteps * options.periodSeconds,
    crypto: nodeCrypto,
    base32,
    guardrails,
  };
  const last = options.lastUsedStep;
  // otplib refuses an afterTimeStep beyond the window; then every step in it is used already.
  const windowEnd = current + options.driftSteps;
  if (last === null || last < windowEnd) {
    const fresh = await verify(last === null || last < 0 ? common : { ...common, afterTimeStep: last });
    if (fresh.valid && "timeStep" in fresh) return { outcome: "valid", step: fresh.timeStep, drift: fresh.timeStep - current };
    if (last === null) return { outcome: "invalid" };
  }
  const any = await verify(common);
  return any.valid && "timeStep" in any ? { outcome: "replayed", step: any.timeStep } : { outcome: "invalid" };
}

/**
 * The Key Uri Format Google Authenticator reads
 * (github.com/google/google-authenticator/wiki/Key-Uri-Format):
 * `otpauth://totp/<Issuer>:<account>?secret=…&issuer=…&algorithm=…&digits=…&period=…`, issuer
 * and account percent-encoded (a space is %20, never +), the label's colon literal. Neither
 * part may contain a colon itself; callers refuse or replace one before calling.
 */
export function totpKeyUri(options: TotpParameters & { secret: string; issuer: string; accountName: string }): string {
  const issuer = encodeURIComponent(options.issuer);
  const label = `${issuer}:${encodeURIComponent(options.accountName)}`;
  const query = [
    `secret=${options.secret}`,
    `issuer=${issuer}`,
    `algorithm=${options.algorithm}`,
    `digits=${options.digits}`,
    `period=${options.periodSeconds}`,
  ].join("&");
  return `otpauth://totp/${label}?${query}`;
}
