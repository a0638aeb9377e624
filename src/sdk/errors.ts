/**
 * The one error type the SDK throws for anything that went wrong on the wire:
 * an error envelope from the server, a non-2xx answer, an answer that is not
 * JSON, a connection failure or a timeout.
 *
 * @module
 */

/** Error codes the contract (API.md §2) defines, for autocompletion. */
export type ServerErrorCode =
  | "VALIDATION_ERROR"
  | "INVALID_PHONE"
  | "INVALID_EMAIL"
  | "COUNTRY_NOT_ALLOWED"
  | "INVALID_CODE"
  | "CODE_ALREADY_USED"
  | "OTP_EXPIRED"
  | "OTP_NOT_FOUND"
  | "TOO_MANY_ATTEMPTS"
  | "RESEND_TOO_SOON"
  | "RATE_LIMITED"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "IP_NOT_ALLOWED"
  | "TOKEN_EXPIRED"
  | "MFA_REQUIRED"
  | "NOT_FOUND"
  | "CONFLICT"
  | "IDEMPOTENCY_KEY_REUSED"
  | "TOTP_NOT_ENABLED"
  | "TOTP_ALREADY_ENABLED"
  | "ACCOUNT_LOCKED"
  | "WEBAUTHN_VERIFICATION_FAILED"
  | "CHALLENGE_EXPIRED"
  | "PUSH_EXPIRED"
  | "DELIVERY_FAILED"
  | "PAYLOAD_TOO_LARGE"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "SERVICE_UNAVAILABLE"
  | "INTERNAL_ERROR";

/**
 * Codes the SDK itself produces when no usable answer arrived:
 * - `NETWORK_ERROR` — the connection failed (status 0);
 * - `TIMEOUT` — no complete answer within `timeoutMs` (status 0);
 * - `INVALID_RESPONSE` — the answer was not JSON (status is the HTTP status).
 */
export type TransportErrorCode = "NETWORK_ERROR" | "TIMEOUT" | "INVALID_RESPONSE";

/**
 * Any error code. A server newer than this SDK may send codes not listed here,
 * as may an error envelope without a `code` (then `HTTP_<status>`).
 */
export type TwoFactorErrorCode = ServerErrorCode | TransportErrorCode | (string & {});

/** `data` of a failure envelope; verify calls carry `verified: false` and the attempts left. */
export interface ErrorData {
  verified?: boolean;
  attemptsRemaining?: number;
  [key: string]: unknown;
}

/** Everything a {@link TwoFactorError} is built from. */
export interface TwoFactorErrorInit {
  message: string;
  code: TwoFactorErrorCode;
  /** HTTP status; 0 when no answer arrived. */
  status: number;
  details?: unknown;
  data?: ErrorData;
  requiredChannels?: string[];
  matchedPolicies?: string[];
  retryAfter?: number;
  cause?: unknown;
}

/**
 * Thrown by every {@link TwoFactorClient} method on failure.
 *
 * @example
 * ```ts
 * try {
 *   await client.sms.verify({ phone, code });
 * } catch (err) {
 *   if (err instanceof TwoFactorError && err.code === "INVALID_CODE") {
 *     console.log(`wrong code, ${err.data?.attemptsRemaining} tries left`);
 *   } else throw err;
 * }
 * ```
 */
export class TwoFactorError extends Error {
  override readonly name = "TwoFactorError";
  /** The envelope's `code`, or a {@link TransportErrorCode}. */
  readonly code: TwoFactorErrorCode;
  /** HTTP status of the answer; 0 for network failures and timeouts. */
  readonly status: number;
  /** The envelope's `details` (field-by-field validation problems), if any. */
  readonly details: unknown;
  /** The envelope's `data`, if any — e.g. `{ verified: false, attemptsRemaining: 2 }`. */
  readonly data: ErrorData | undefined;
  /** With `MFA_REQUIRED`: the channels the matching policies still need. */
  readonly requiredChannels: string[] | undefined;
  /** With `MFA_REQUIRED`: the names of the policies that matched. */
  readonly matchedPolicies: string[] | undefined;
  /** Seconds to wait before trying again, from a `Retry-After` header. */
  readonly retryAfter: number | undefined;

  constructor(init: TwoFactorErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.status = init.status;
    this.details = init.details;
    this.data = init.data;
    this.requiredChannels = init.requiredChannels;
    this.matchedPolicies = init.matchedPolicies;
    this.retryAfter = init.retryAfter;
  }
}
