/**
 * Stable error codes, mapped to HTTP in one place, and the one error handler that turns
 * anything thrown into the contract's failure envelope (API.md §2). A 5xx never carries
 * library text, a stack or SQL.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  INVALID_PHONE: 400,
  INVALID_EMAIL: 400,
  COUNTRY_NOT_ALLOWED: 400,
  INVALID_CODE: 400,
  CODE_ALREADY_USED: 400,
  WEBAUTHN_VERIFICATION_FAILED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  IP_NOT_ALLOWED: 403,
  MFA_REQUIRED: 403,
  NOT_FOUND: 404,
  OTP_NOT_FOUND: 404,
  TOTP_NOT_ENABLED: 404,
  CONFLICT: 409,
  TOTP_ALREADY_ENABLED: 409,
  OTP_EXPIRED: 410,
  CHALLENGE_EXPIRED: 410,
  PUSH_EXPIRED: 410,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TOKEN_EXPIRED: 419,
  IDEMPOTENCY_KEY_REUSED: 422,
  ACCOUNT_LOCKED: 423,
  TOO_MANY_ATTEMPTS: 429,
  RESEND_TOO_SOON: 429,
  RATE_LIMITED: 429,
  INTERNAL_ERROR: 500,
  DELIVERY_FAILED: 502,
  SERVICE_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

const DEFAULT_MESSAGES: Partial<Record<ErrorCode, string>> = {
  VALIDATION_ERROR: "request validation failed",
  UNAUTHORIZED: "a valid API key is required",
  FORBIDDEN: "this key may not do that",
  NOT_FOUND: "not found",
  PAYLOAD_TOO_LARGE: "request body is larger than 64 KiB",
  UNSUPPORTED_MEDIA_TYPE: "unsupported content type; send application/json",
  RATE_LIMITED: "too many requests",
  INTERNAL_ERROR: "internal error",
  SERVICE_UNAVAILABLE: "service temporarily unavailable",
};

export interface ErrorDetail {
  field: string;
  message: string;
}

export interface AppErrorOptions {
  message?: string;
  details?: ErrorDetail[];
  /** Extra data for the envelope, e.g. `{ verified: false, attemptsRemaining }` on verify calls. */
  data?: Record<string, unknown>;
  /** Further top-level fields of the envelope (MFA_REQUIRED's requiredChannels, matchedPolicies). */
  extra?: Record<string, unknown>;
  /** Seconds, sent as Retry-After. */
  retryAfterSeconds?: number;
  cause?: unknown;
}

/** A failure the client caused or may act on; thrown by services, rendered by the error handler. */
export class AppError extends Error {
  readonly status: number;
  constructor(readonly code: ErrorCode, readonly options: AppErrorOptions = {}) {
    super(options.message ?? DEFAULT_MESSAGES[code] ?? code.toLowerCase().replaceAll("_", " "), { cause: options.cause });
    this.name = "AppError";
    this.status = ERROR_STATUS[code];
  }
}

export interface FailureEnvelope {
  success: false;
  error: string;
  code: string;
  details?: ErrorDetail[];
  data?: Record<string, unknown>;
  [extra: string]: unknown;
}

export function failureEnvelope(err: AppError): FailureEnvelope {
  return {
    success: false,
    error: err.message,
    code: err.code,
    ...(err.options.details ? { details: err.options.details } : {}),
    ...(err.options.data ? { data: err.options.data } : {}),
    ...err.options.extra,
  };
}

/** Node and pg error codes that mean the database cannot be reached right now. */
const DB_UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EPIPE", "EHOSTUNREACH",
  "57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006",
  "P1001", "P1002", "P1008", "P1017", "P2024",
]);

/** True when `err` (or something in its cause chain) says the database is unreachable. */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && DB_UNAVAILABLE_CODES.has(code)) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === "string" && /Connection terminated|connection timeout|timeout exceeded when trying to connect|DatabaseNotReachable|Can't reach database server|ECONNREFUSED/i.test(message)) {
      return true;
    }
    const kind = (e as { kind?: unknown }).kind;
    if (kind === "DatabaseNotReachable" || kind === "ConnectionClosed" || kind === "SocketTimeout") return true;
  }
  return false;
}

function validationDetails(err: FastifyError): ErrorDetail[] {
  const context = err.validationContext ?? "body";
  return (err.validation ?? []).map((v) => {
    // A missing or an unexpected property is reported on its parent object; name the property.
    const params = v.params as { missingProperty?: string; additionalProperty?: string };
    const property = v.keyword === "required" ? params.missingProperty : v.keyword === "additionalProperties" ? params.additionalProperty : undefined;
    const pointer = `${v.instancePath}${property === undefined ? "" : `/${property}`}`.replace(/^\//, "").replaceAll("/", ".");
    return { field: pointer ? `${context}.${pointer}` : context, message: v.message ?? "is invalid" };
  });
}

/** Maps Fastify's own 4xx errors (parsing, limits, content type) onto contract codes. */
function fromFastifyError(err: FastifyError): AppError | undefined {
  if (err.validation) return new AppError("VALIDATION_ERROR", { details: validationDetails(err) });
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new AppError("PAYLOAD_TOO_LARGE");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE" ? new AppError("UNSUPPORTED_MEDIA_TYPE") : new AppError("VALIDATION_ERROR", { message: "invalid Content-Length" });
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new AppError("VALIDATION_ERROR", { message: "request body is empty but Content-Type is application/json", details: [{ field: "body", message: "must be a JSON document" }] });
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new AppError("VALIDATION_ERROR", { message: "request body is not valid JSON", details: [{ field: "body", message: "must be valid JSON" }] });
  }
  if (err instanceof SyntaxError || err.code === "FST_ERR_CTP_INVALID_JSON_BODY") {
    return new AppError("VALIDATION_ERROR", { message: "request body is not valid JSON", details: [{ field: "body", message: "must be valid JSON" }] });
  }
  const status = err.statusCode ?? 500;
  if (status === 429) return new AppError("RATE_LIMITED");
  if (status === 404) return new AppError("NOT_FOUND");
  if (status === 415) return new AppError("UNSUPPORTED_MEDIA_TYPE");
  if (status === 413) return new AppError("PAYLOAD_TOO_LARGE");
  if (status >= 400 && status < 500) return new AppError("VALIDATION_ERROR", { message: "bad request" });
  return undefined;
}

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isDatabaseUnavailable(err)) return new AppError("SERVICE_UNAVAILABLE", { cause: err });
  if (err && typeof err === "object" && "code" in err && typeof (err as FastifyError).code === "string") {
    const mapped = fromFastifyError(err as FastifyError);
    if (mapped) return mapped;
  }
  if (err && typeof err === "object" && (err as FastifyError).validation) {
    return fromFastifyError(err as FastifyError) ?? new AppError("VALIDATION_ERROR");
  }
  return new AppError("INTERNAL_ERROR", { cause: err });
}

export function sendAppError(reply: FastifyReply, err: AppError): FastifyReply {
  if (err.options.retryAfterSeconds !== undefined) reply.header("Retry-After", String(Math.max(1, Math.ceil(err.options.retryAfterSeconds))));
  return reply.code(err.status).type("application/json; charset=utf-8").serializer(JSON.stringify).send(failureEnvelope(err));
}

/** Installs the one error handler and the JSON 404 for unknown routes. */
export function installErrorHandling(app: FastifyInstance): void {
  // JSON in (API.md §2): without Fastify's built-in text/plain parser a text body answers 415
  // UNSUPPORTED_MEDIA_TYPE instead of reaching the schema as a string. A route that takes
  // another type (forms, §7) adds its own parser in its own scope.
  app.removeContentTypeParser("text/plain");
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const appError = toAppError(err);
    if (appError.status >= 500) {
      request.log.error({ err, code: appError.code }, "request failed");
    } else if (!(err instanceof AppError)) {
      request.log.info({ code: appError.code, reason: (err as Error)?.message }, "request rejected");
    }
    return sendAppError(reply, appError);
  });
  app.setNotFoundHandler((request, reply) =>
    sendAppError(reply, new AppError("NOT_FOUND", { message: `route ${request.method} ${request.url.split("?")[0]} not found` })),
  );
}
