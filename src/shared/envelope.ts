/**
 * The contract's response envelope (API.md §2) as TypeBox schemas, so every route documents
 * and serializes its success and failure bodies the same way.
 */
import { Type, type TSchema } from "typebox";
import { ERROR_STATUS, type ErrorCode } from "../infra/errors.ts";

/** `{ success: true, message?, data }` around a route's data schema. */
export function Envelope<T extends TSchema>(data: T) {
  return Type.Object({ success: Type.Literal(true), message: Type.Optional(Type.String()), data });
}

export const ErrorEnvelope = Type.Object(
  {
    success: Type.Literal(false),
    error: Type.String({ description: "Human-readable message" }),
    code: Type.String({ description: "Stable error code (API.md §2)" }),
    details: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
    data: Type.Optional(Type.Object({}, { additionalProperties: true, description: "e.g. { verified: false, attemptsRemaining } on verify calls" })),
    requiredChannels: Type.Optional(Type.Array(Type.String())),
    matchedPolicies: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: true },
);

/** Response schemas for the failures a route can answer with, keyed by HTTP status. */
export function failures(...codes: ErrorCode[]): Record<number, typeof ErrorEnvelope> {
  const responses: Record<number, typeof ErrorEnvelope> = {};
  for (const code of new Set<ErrorCode>([...codes, "INTERNAL_ERROR"])) responses[ERROR_STATUS[code]] = ErrorEnvelope;
  return responses;
}

/** Failures every authenticated `/api/v1` route can answer with. */
export const AUTHENTICATED_FAILURES: ErrorCode[] = ["VALIDATION_ERROR", "UNAUTHORIZED", "RATE_LIMITED", "SERVICE_UNAVAILABLE"];

export function ok<T>(data: T, message?: string): { success: true; message?: string; data: T } {
  return message === undefined ? { success: true, data } : { success: true, message, data };
}
