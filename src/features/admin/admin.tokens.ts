/**
 * The one adapter for `jose`: operator session tokens (API.md §9) are JWTs (RFC 7519) signed
 * with HS256 under a key derived from the keyring for this purpose only. The header's `kid`
 * names the keyring key the signing key was derived from, so tokens issued before an
 * ENCRYPTION_KEY rotation keep verifying while the old key is in ENCRYPTION_KEYS_OLD.
 *
 * A valid signature is not enough to get in: every request also checks the session row named
 * by `jti` (logout revokes it at once). jose's errors never leave this file; callers get a
 * `TokenCheck`.
 */
import { errors, jwtVerify, SignJWT, type JWTPayload } from "jose";
import type { Keyring } from "../../infra/crypto.ts";
import type { AdminRole } from "../../generated/prisma/enums.ts";

/** HKDF label of the signing key: no other use of the keyring can produce it. */
const SIGNING_KEY_LABEL = "admin-session-jwt";
const ALGORITHM = "HS256";
/** `aud`: a token minted for the admin API and nothing else. */
const AUDIENCE = "latchkey-admin";

export interface SessionClaims {
  /** The operator's id (`sub`). */
  sub: string;
  /** The session row's id (`jti`). */
  jti: string;
  role: AdminRole;
  /** The one app an `admin` operator manages; null for owners and viewers. */
  appId: string | null;
  /** Unix seconds. */
  iat: number;
  exp: number;
}

export type TokenCheck =
  | { ok: true; claims: SessionClaims }
  /** Well signed but past `exp` (API.md §1: 419 TOKEN_EXPIRED); `sub` is trustworthy. */
  | { ok: false; reason: "expired"; sub?: string }
  /** Not a token of ours: malformed, badly signed, wrong algorithm or audience, unknown key. */
  | { ok: false; reason: "invalid" };

/** Signs a session token for the given claims. */
export async function signSessionToken(keyring: Keyring, claims: SessionClaims): Promise<string> {
  return new SignJWT({ role: claims.role, appId: claims.appId })
    .setProtectedHeader({ alg: ALGORITHM, typ: "JWT", kid: keyring.currentKeyId })
    .setSubject(claims.sub)
    .setJti(claims.jti)
    .setAudience(AUDIENCE)
    .setIssuedAt(claims.iat)
    .setExpirationTime(claims.exp)
    .sign(keyring.deriveKey(SIGNING_KEY_LABEL));
}

/** Checks signature, algorithm, audience and expiry at `now` (the injected clock). */
export async function verifySessionToken(keyring: Keyring, token: string, now: Date): Promise<TokenCheck> {
  try {
    const { payload } = await jwtVerify(
      token,
      (header) => keyring.deriveKey(SIGNING_KEY_LABEL, typeof header.kid === "string" ? header.kid : keyring.currentKeyId),
      { algorithms: [ALGORITHM], audience: AUDIENCE, currentDate: now, requiredClaims: ["sub", "jti", "exp", "iat"] },
    );
    const claims = toClaims(payload);
    return claims ? { ok: true, claims } : { ok: false, reason: "invalid" };
  } catch (err) {
    // jose checks the signature before the claims (RFC 7519 §7.2), so an expired token's
    // subject is authentic and may be named in the audit log.
    if (err instanceof errors.JWTExpired) {
      const sub = err.payload.sub;
      return { ok: false, reason: "expired", ...(typeof sub === "string" ? { sub } : {}) };
    }
    return { ok: false, reason: "invalid" };
  }
}

function toClaims(payload: JWTPayload): SessionClaims | null {
  const { sub, jti, iat, exp, role, appId } = payload as JWTPayload & { role?: unknown; appId?: unknown };
  if (typeof sub !== "string" || typeof jti !== "string" || typeof iat !== "number" || typeof exp !== "number") return null;
  if (role !== "owner" && role !== "admin" && role !== "viewer") return null;
  if (appId !== null && typeof appId !== "string") return null;
  return { sub, jti, iat, exp, role, appId };
}
