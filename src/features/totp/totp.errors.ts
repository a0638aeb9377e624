/**
 * The failures of /totp, each an AppError with the contract's code (API.md §2, §4.3). Verify
 * failures carry `data.verified: false` so SDKs reading `data.verified` always find a boolean.
 */
import { AppError } from "../../infra/errors.ts";

export const TOTP_ERROR_CODES = ["INVALID_CODE", "CODE_ALREADY_USED", "TOTP_NOT_ENABLED", "TOTP_ALREADY_ENABLED", "ACCOUNT_LOCKED"] as const;

export function totpNotEnabled(options: { verify?: boolean } = {}): AppError {
  return new AppError("TOTP_NOT_ENABLED", {
    message: "this user has no authenticator app set up",
    ...(options.verify ? { data: { verified: false } } : {}),
  });
}

export function totpAlreadyEnabled(): AppError {
  return new AppError("TOTP_ALREADY_ENABLED", { message: "this user already has an authenticator app enabled; send force: true to replace it" });
}

export function invalidTotpCode(attemptsRemaining: number): AppError {
  return new AppError("INVALID_CODE", { message: "the code is not valid", data: { verified: false, attemptsRemaining } });
}

export function totpCodeAlreadyUsed(what: "code" | "backup code"): AppError {
  return new AppError("CODE_ALREADY_USED", {
    message: what === "code" ? "this code was already used; wait for the next one" : "this backup code was already used",
    data: { verified: false },
  });
}

export function totpLocked(lockedUntil: Date, now: Date): AppError {
  const retryAfterSeconds = Math.max(1, Math.ceil((lockedUntil.getTime() - now.getTime()) / 1000));
  return new AppError("ACCOUNT_LOCKED", {
    message: `too many wrong codes; try again in ${retryAfterSeconds} s`,
    data: { verified: false, attemptsRemaining: 0, lockedUntil: lockedUntil.toISOString(), retryAfterSeconds },
    retryAfterSeconds,
  });
}
