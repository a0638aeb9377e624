/**
 * Schema pieces both code channels share (API.md §4.1, §4.2): the OpenAPI source and the edge
 * validation. Request objects admit extra fields (ignored), as SecureKey's SDKs may send some.
 */
import { Type, type TString } from "typebox";
import type { ErrorCode } from "../../infra/errors.ts";
import { AUTHENTICATED_FAILURES } from "../../shared/envelope.ts";
import { MfaProgress } from "../mfa/mfa.schemas.ts";
import type { SendResult, StatusResult, VerifyResult } from "./otp.service.ts";

export const Purpose = Type.String({ minLength: 1, maxLength: 64, pattern: "^[^\\u0000-\\u001f\\u007f]+$", description: "Free label (login, signup, payment, …); default login" });
export const UserId = Type.String({ minLength: 1, maxLength: 128, description: "Your own id for the end user (webhooks show it as externalUserId)" });
export const LocaleField = Type.String({
  pattern: "^(?:[kK][oO]|[eE][nN])(?:[-_][A-Za-z0-9]{1,8})*$",
  maxLength: 35,
  description: "Message language: ko or en (a region such as en-US is accepted); default: the app's default locale",
});
export const Code = Type.String({ minLength: 1, maxLength: 32, pattern: "^[0-9 -]+$", description: "The code the user typed (digits; spaces and dashes are ignored)" });

const DateTime = Type.String({ format: "date-time" });
const NullableDateTime = Type.Union([DateTime, Type.Null()]);

/** Fields of a send's `data`: `RequestIdField`, then the masked destination, then `SEND_DATA_TAIL`. */
export const RequestIdField = Type.String({ description: "Id of this code (otp_…); webhooks name it requestId" });
export const SEND_DATA_TAIL = {
  expiresAt: DateTime,
  expiresIn: Type.Integer({ description: "Seconds until the code expires" }),
  test: Type.Optional(Type.Literal(true, { description: "Present on the app's test destinations: fixed code, nothing sent" })),
};

export const VerifyData = Type.Object({
  verified: Type.Literal(true),
  verificationId: Type.String({ description: "Id of the recorded verification (ver_…)" }),
  test: Type.Optional(Type.Literal(true, { description: "Present when a test destination was verified" })),
  mfa: Type.Optional(MfaProgress),
});

export const StatusData = Type.Object({
  pending: Type.Boolean({ description: "Whether a live code is waiting to be verified" }),
  expiresAt: NullableDateTime,
  attemptsRemaining: Type.Integer({ description: "Wrong codes the pending code still tolerates (0 when none is pending)" }),
  verifiedAt: NullableDateTime,
});

const POST_FAILURES: ErrorCode[] = [...AUTHENTICATED_FAILURES, "FORBIDDEN", "CONFLICT", "IDEMPOTENCY_KEY_REUSED"];
export const SEND_FAILURES: ErrorCode[] = [...POST_FAILURES, "RESEND_TOO_SOON", "ACCOUNT_LOCKED", "DELIVERY_FAILED"];
export const VERIFY_FAILURES: ErrorCode[] = [...POST_FAILURES, "INVALID_CODE", "CODE_ALREADY_USED", "OTP_EXPIRED", "OTP_NOT_FOUND", "TOO_MANY_ATTEMPTS", "ACCOUNT_LOCKED"];
export const STATUS_FAILURES: ErrorCode[] = [...AUTHENTICATED_FAILURES, "FORBIDDEN"];

// ── views: service results as the schemas above describe them ───────────────────────────────

/** `data` of a send, the masked destination under `field`. */
export function sendView<F extends "phone" | "email">(field: F, result: SendResult) {
  return {
    requestId: result.requestId,
    [field]: result.destination,
    expiresAt: result.expiresAt.toISOString(),
    expiresIn: result.expiresIn,
    ...(result.test ? { test: true as const } : {}),
  } as { requestId: string; expiresAt: string; expiresIn: number; test?: true } & Record<F, string>;
}

export function verifyView(result: VerifyResult) {
  return { verified: true as const, verificationId: result.verificationId, ...(result.test ? { test: true as const } : {}) };
}

export function statusView(result: StatusResult) {
  return {
    pending: result.pending,
    expiresAt: result.expiresAt?.toISOString() ?? null,
    attemptsRemaining: result.attemptsRemaining,
    verifiedAt: result.verifiedAt?.toISOString() ?? null,
  };
}

// ── per-channel request and send schemas: the same shapes, keyed by `phone` or `email` ──────

/** `{ [field]: value }` with the field's literal name in its type. */
function keyed<F extends string, T>(field: F, value: T): { [P in F]: T } {
  return { [field]: value } as { [P in F]: T };
}

/**
 * The send, verify and status inputs and the send answer of one code channel, whose
 * destination arrives and is shown (masked) under `field`.
 */
export function destinationSchemas<F extends "phone" | "email">(field: F, destination: TString, maskedDescription: string) {
  return {
    SendBody: Type.Object({
      ...keyed(field, destination),
      purpose: Type.Optional(Purpose),
      userId: Type.Optional(UserId),
      locale: Type.Optional(LocaleField),
    }),
    VerifyBody: Type.Object({
      ...keyed(field, destination),
      code: Code,
      purpose: Type.Optional(Purpose),
      userId: Type.Optional(UserId),
    }),
    StatusInput: Type.Object({
      ...keyed(field, destination),
      purpose: Type.Optional(Purpose),
    }),
    SendData: Type.Object({
      requestId: RequestIdField,
      ...keyed(field, Type.String({ description: maskedDescription })),
      ...SEND_DATA_TAIL,
    }),
  };
}
