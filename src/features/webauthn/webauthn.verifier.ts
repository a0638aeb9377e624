/**
 * The one adapter for @simplewebauthn/server (STYLE.md §5): options generation and the
 * WebAuthn §7.1 / §7.2 verification procedures. Library errors never leave this file;
 * they become a stable `reason` the service turns into WEBAUTHN_VERIFICATION_FAILED.
 *
 * Inputs here are already normalized to base64url (webauthn.encoding.ts).
 */
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from "@simplewebauthn/server";
import type { UserVerificationRequirement } from "../apps/app-settings.ts";
import type { FailureReason } from "./webauthn.errors.ts";

/**
 * COSE algorithms offered and accepted, most preferred first: EdDSA, ES256, RS256 (what every
 * platform and security key supports). Fixed here so options and verification always agree.
 */
export const SUPPORTED_ALGORITHM_IDS = [-8, -7, -257];

/** Transports WebAuthn §5.8.4 defines; anything else a client reports is dropped. */
export const KNOWN_TRANSPORTS = ["ble", "cable", "hybrid", "internal", "nfc", "smart-card", "usb"] as const;

export interface RelyingParty {
  id: string;
  name: string;
  origins: string[];
}

export interface CredentialDescriptor {
  id: string;
  transports?: string[];
}

export type CreationOptions = PublicKeyCredentialCreationOptionsJSON;
export type RequestOptions = PublicKeyCredentialRequestOptionsJSON;

export async function buildRegistrationOptions(input: {
  rp: RelyingParty;
  /** WebAuthn user.id: an opaque handle, never personal data (§14.6.1). */
  userHandle: Uint8Array;
  userName: string;
  displayName: string;
  excludeCredentials: CredentialDescriptor[];
  authenticatorAttachment?: "platform" | "cross-platform";
  residentKey: "discouraged" | "preferred" | "required";
  userVerification: UserVerificationRequirement;
  timeoutMs: number;
}): Promise<CreationOptions> {
  return generateRegistrationOptions({
    rpName: input.rp.name,
    rpID: input.rp.id,
    userID: new Uint8Array(input.userHandle),
    userName: input.userName,
    userDisplayName: input.displayName,
    timeout: input.timeoutMs,
    attestationType: "none",
    excludeCredentials: input.excludeCredentials,
    // A fresh object: the library fills in requireResidentKey on the one it is given.
    authenticatorSelection: {
      residentKey: input.residentKey,
      userVerification: input.userVerification,
      ...(input.authenticatorAttachment ? { authenticatorAttachment: input.authenticatorAttachment } : {}),
    },
    supportedAlgorithmIDs: SUPPORTED_ALGORITHM_IDS,
  });
}

export async function buildAuthenticationOptions(input: {
  rpId: string;
  /** The challenge's bytes (already stored server side). */
  challenge: Uint8Array;
  /** Empty for a discoverable-credential (passkey) login. */
  allowCredentials: CredentialDescriptor[];
  userVerification: UserVerificationRequirement;
  timeoutMs: number;
}): Promise<RequestOptions> {
  return generateAuthenticationOptions({
    rpID: input.rpId,
    challenge: new Uint8Array(input.challenge),
    allowCredentials: input.allowCredentials,
    userVerification: input.userVerification,
    timeout: input.timeoutMs,
  });
}

export interface ClientData {
  type: string;
  /** base64url, as the authenticator signed it. */
  challenge: string;
  origin: string;
}

/** The parsed clientDataJSON (WebAuthn §5.8.1), or null when it is not that. */
export function readClientData(clientDataJSON: string): ClientData | null {
  try {
    const parsed = JSON.parse(Buffer.from(clientDataJSON, "base64url").toString("utf8")) as Record<string, unknown>;
    if (typeof parsed.type !== "string" || typeof parsed.challenge !== "string" || typeof parsed.origin !== "string") return null;
    return { type: parsed.type, challenge: parsed.challenge, origin: parsed.origin };
  } catch {
    return null;
  }
}

export type Verdict<T> = ({ ok: true } & T) | { ok: false; reason: FailureReason; detail: string };

export interface RegisteredCredential {
  /** base64url credential id from the attested credential data. */
  credentialId: string;
  /** COSE_Key bytes. */
  publicKey: Uint8Array;
  counter: number;
  aaguid: string;
  /** BE flag: the credential may be synced (a passkey). */
  backupEligible: boolean;
  /** BS flag: it is backed up right now. */
  backupState: boolean;
  userVerified: boolean;
  fmt: string;
}

/** WebAuthn §7.1 "Registering a New Credential", for one expected challenge. */
export async function verifyRegistration(input: {
  response: RegistrationResponseJSON;
  expectedChallenge: string;
  rp: RelyingParty;
  requireUserVerification: boolean;
}): Promise<Verdict<RegisteredCredential>> {
  try {
    const result = await verifyRegistrationResponse({
      response: input.response,
      expectedChallenge: input.expectedChallenge,
      expectedOrigin: input.rp.origins,
      expectedRPID: input.rp.id,
      requireUserVerification: input.requireUserVerification,
      supportedAlgorithmIDs: SUPPORTED_ALGORITHM_IDS,
    });
    if (!result.verified) return { ok: false, reason: "attestation_invalid", detail: "attestation statement did not verify" };
    const info = result.registrationInfo;
    return {
      ok: true,
      credentialId: info.credential.id,
      publicKey: info.credential.publicKey,
      counter: info.credential.counter,
      aaguid: info.aaguid,
      backupEligible: info.credentialDeviceType === "multiDevice",
      backupState: info.credentialBackedUp,
      userVerified: info.userVerified,
      fmt: info.fmt,
    };
  } catch (err) {
    return classify(err);
  }
}

export interface VerifiedAssertion {
  /** The authenticator's signature counter in this assertion (0 when it keeps none). */
  newCounter: number;
  backupEligible: boolean;
  backupState: boolean;
  userVerified: boolean;
}

/**
 * WebAuthn §7.2 "Verifying an Authentication Assertion", all but one step: the signature
 * counter (§6.1.1) is deliberately left to the caller: the library is given counter 0 so
 * that it never rejects on it, and the service compares counters only for an assertion whose
 * signature is valid — a forged assertion must not be reported as a cloned authenticator —
 * and then enforces the comparison atomically in the UPDATE that stores the new value.
 */
export async function verifyAuthentication(input: {
  response: AuthenticationResponseJSON;
  expectedChallenge: string;
  rp: RelyingParty;
  credential: { credentialId: string; publicKey: Uint8Array };
  requireUserVerification: boolean;
}): Promise<Verdict<VerifiedAssertion>> {
  try {
    const result = await verifyAuthenticationResponse({
      response: input.response,
      expectedChallenge: input.expectedChallenge,
      expectedOrigin: input.rp.origins,
      expectedRPID: input.rp.id,
      credential: { id: input.credential.credentialId, publicKey: new Uint8Array(input.credential.publicKey), counter: 0 },
      requireUserVerification: input.requireUserVerification,
    });
    if (!result.verified) return { ok: false, reason: "bad_signature", detail: "the assertion signature does not verify with the stored public key" };
    const info = result.authenticationInfo;
    return {
      ok: true,
      newCounter: info.newCounter,
      backupEligible: info.credentialDeviceType === "multiDevice",
      backupState: info.credentialBackedUp,
      userVerified: info.userVerified,
    };
  } catch (err) {
    return classify(err);
  }
}

/** Library errors → our reasons. The library's own text is kept only as `detail` for logs. */
function classify(err: unknown): { ok: false; reason: FailureReason; detail: string } {
  const detail = err instanceof Error ? err.message : String(err);
  const rules: Array<[RegExp, FailureReason]> = [
    [/RP ID/i, "rp_id_mismatch"],
    [/origin/i, "origin_mismatch"],
    [/challenge/i, "challenge_mismatch"],
    [/response type/i, "wrong_ceremony"],
    [/User verification/i, "user_verification_required"],
    [/User (not )?present|presence/i, "user_not_present"],
    [/\balg\b|algorithm|PQC/i, "unsupported_algorithm"],
  ];
  for (const [pattern, reason] of rules) if (pattern.test(detail)) return { ok: false, reason, detail };
  return { ok: false, reason: "malformed_response", detail };
}
