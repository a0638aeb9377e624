/**
 * WebAuthn failures: the contract's codes (WEBAUTHN_VERIFICATION_FAILED 400, CHALLENGE_EXPIRED
 * 410, …) with a stable `reason` in `data`, so an SDK reading `data.verified` finds `false` and
 * a support engineer can tell a wrong origin from a cloned authenticator.
 */
import { AppError } from "../../infra/errors.ts";

export type FailureReason =
  /** No live challenge of this app carries that value (never issued, another app's, or purged). */
  | "challenge_not_found"
  | "challenge_already_used"
  | "challenge_expired"
  /** The challenge was issued for another ceremony (registration vs authentication). */
  | "wrong_ceremony"
  /** The challenge was issued for another user than the one in the request or the credential. */
  | "user_mismatch"
  | "unknown_user"
  | "credential_not_found"
  | "credential_id_mismatch"
  | "user_handle_mismatch"
  /** A passkey login (no user named beforehand) must return the user handle (WebAuthn §7.2 step 6). */
  | "user_handle_missing"
  | "origin_mismatch"
  | "rp_id_mismatch"
  | "challenge_mismatch"
  | "user_verification_required"
  | "user_not_present"
  | "unsupported_algorithm"
  | "attestation_invalid"
  | "bad_signature"
  | "counter_regression"
  | "credential_already_registered"
  | "malformed_response";

const MESSAGES: Record<FailureReason, string> = {
  challenge_not_found: "unknown challenge: request new options and try again",
  challenge_already_used: "this challenge was already used: request new options and try again",
  challenge_expired: "the challenge expired: request new options and try again",
  wrong_ceremony: "the challenge was issued for another ceremony",
  user_mismatch: "the challenge was issued for another user",
  unknown_user: "the user of this challenge no longer exists",
  credential_not_found: "no such credential is registered",
  credential_id_mismatch: "the credential id does not match the authenticator data",
  user_handle_mismatch: "the user handle does not belong to this credential's user",
  user_handle_missing: "a passkey login must return the user handle",
  origin_mismatch: "the ceremony ran on an origin that is not allowed",
  rp_id_mismatch: "the authenticator signed for another relying party id",
  challenge_mismatch: "the client data does not carry the expected challenge",
  user_verification_required: "user verification is required but the authenticator did not perform it",
  user_not_present: "the authenticator did not confirm user presence",
  unsupported_algorithm: "the credential uses an unsupported public key algorithm",
  attestation_invalid: "the attestation statement did not verify",
  bad_signature: "the signature does not verify",
  counter_regression: "the signature counter did not increase: the authenticator may have been cloned",
  credential_already_registered: "this credential is already registered",
  malformed_response: "the credential response could not be parsed",
};

/** 400 WEBAUTHN_VERIFICATION_FAILED (410 CHALLENGE_EXPIRED, 409 CONFLICT for a taken credential id). */
export function webauthnFailure(reason: FailureReason): AppError {
  const data = { verified: false, reason };
  if (reason === "challenge_expired") return new AppError("CHALLENGE_EXPIRED", { message: MESSAGES[reason], data });
  if (reason === "credential_already_registered") return new AppError("CONFLICT", { message: MESSAGES[reason], data });
  return new AppError("WEBAUTHN_VERIFICATION_FAILED", { message: MESSAGES[reason], data });
}

export function credentialNotFound(): AppError {
  return new AppError("NOT_FOUND", { message: "no such WebAuthn credential" });
}

export function noCredentialsForUser(): AppError {
  return new AppError("NOT_FOUND", { message: "this user has no WebAuthn credentials: register one first, or omit userId for a passkey login" });
}
