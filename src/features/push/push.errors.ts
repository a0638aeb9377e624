/**
 * Push approval failures: the contract's codes (API.md §2, §4.5) with a stable `reason` in
 * `data`, so an SDK reading `data.verified` finds `false` and a support engineer can tell a
 * stale signature from a wrong device.
 */
import { AppError } from "../../infra/errors.ts";

export type SignatureFailure =
  /** The device registered a public key, so every answer must carry `signature` and `timestamp`. */
  | "signature_required"
  /** `timestamp` is more than SIGNATURE_MAX_SKEW_SECONDS from the server's clock. */
  | "signature_stale"
  | "signature_invalid";

const SIGNATURE_MESSAGES: Record<SignatureFailure, string> = {
  signature_required: "this device registered a public key: sign the answer (signature over requestId.action.matchNumber.timestamp, and timestamp)",
  signature_stale: "the signed timestamp is too far from the server's time (±300 s): sign again with the current time",
  signature_invalid: "the signature does not verify with the device's public key",
};

/** 403 FORBIDDEN: the answer is not the device's own; nothing changes. */
export function signatureRefused(reason: SignatureFailure): AppError {
  return new AppError("FORBIDDEN", { message: SIGNATURE_MESSAGES[reason], data: { reason } });
}

export function requestNotFound(): AppError {
  return new AppError("NOT_FOUND", { message: "no such push request", data: { verified: false } });
}

export function deviceNotFound(): AppError {
  return new AppError("NOT_FOUND", { message: "no such push device" });
}

export function noActiveDevice(): AppError {
  return new AppError("NOT_FOUND", { message: "this user has no active push device: register one with POST /push/devices first", data: { reason: "no_device" } });
}

/** 410 PUSH_EXPIRED: the request's time ran out before this answer. */
export function pushExpired(): AppError {
  return new AppError("PUSH_EXPIRED", { message: "this push request has expired", data: { verified: false, status: "expired" } });
}

/** 409 CONFLICT: a request is answered once. */
export function alreadyAnswered(status: string): AppError {
  const message = status === "failed" ? "this push request reached no device and can no longer be answered" : `this push request was already answered (${status})`;
  return new AppError("CONFLICT", { message, data: { status } });
}

export function wrongDevice(): AppError {
  return new AppError("FORBIDDEN", { message: "this device does not belong to the user of this push request", data: { reason: "wrong_device" } });
}

export function invalidDeviceToken(): AppError {
  return new AppError("UNAUTHORIZED", { message: "invalid or revoked device token" });
}
