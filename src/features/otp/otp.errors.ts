/**
 * The failures of the SMS and email code channels (API.md §2, §3, §4.1–4.2), in one place so
 * both channels answer the same codes with the same shapes. Every verify failure carries
 * `data: { verified: false, … }` so SDKs reading `data.verified` always find a boolean.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { AppError, toAppError } from "../../infra/errors.ts";

const notVerified = (extra: Record<string, unknown> = {}) => ({ verified: false, ...extra });

export const OTP_ERRORS = {
  invalidCode: (attemptsRemaining: number) =>
    new AppError("INVALID_CODE", { message: "the code is not correct", data: notVerified({ attemptsRemaining }) }),
  tooManyAttempts: () =>
    new AppError("TOO_MANY_ATTEMPTS", {
      message: "too many wrong codes: this code no longer works; request a new one",
      data: notVerified({ attemptsRemaining: 0 }),
    }),
  expired: () => new AppError("OTP_EXPIRED", { message: "the code has expired; request a new one", data: notVerified({ attemptsRemaining: 0 }) }),
  notFound: (message = "no code is pending for this destination and purpose") =>
    new AppError("OTP_NOT_FOUND", { message, data: notVerified() }),
  alreadyUsed: () =>
    new AppError("CODE_ALREADY_USED", { message: "the code for this destination was already used; request a new one", data: notVerified() }),
  locked: (retryAfterSeconds: number, forVerify: boolean) =>
    new AppError("ACCOUNT_LOCKED", {
      message: "too many wrong codes for this destination: sends and verifies are refused until the lock ends",
      retryAfterSeconds,
      ...(forVerify ? { data: notVerified({ attemptsRemaining: 0 }) } : {}),
    }),
  resendTooSoon: (retryAfterSeconds: number, intervalSeconds: number) =>
    new AppError("RESEND_TOO_SOON", {
      message: `a code was sent to this destination less than ${intervalSeconds} s ago; retry after ${Math.ceil(retryAfterSeconds)} s`,
      retryAfterSeconds,
    }),
  destinationRateLimited: (retryAfterSeconds: number, perHour: number) =>
    new AppError("RATE_LIMITED", { message: `at most ${perHour} codes per hour may be sent to one destination`, retryAfterSeconds }),
  deliveryFailed: (cause: unknown, fallback: string) =>
    new AppError("DELIVERY_FAILED", {
      message: cause instanceof AppError && cause.code === "DELIVERY_FAILED" ? cause.message : fallback,
      cause,
    }),
} as const;

/**
 * Route-level error handler for verify routes: whatever failed (validation, authentication,
 * rate limit, a lookup), the envelope carries `data.verified === false`. The error is passed
 * on to the one application error handler, which renders and logs it.
 */
export function verifyFailureCarriesVerifiedFalse(err: FastifyError, _request: FastifyRequest, _reply: FastifyReply): never {
  const appError = toAppError(err);
  if (appError.options.data && typeof appError.options.data.verified === "boolean") throw appError;
  throw new AppError(appError.code, { ...appError.options, message: appError.message, data: { ...appError.options.data, verified: false } });
}
