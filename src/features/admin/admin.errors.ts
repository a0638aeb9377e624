/** The admin API's failures, in the contract's codes (API.md §1, §2, §9). */
import { AppError } from "../../infra/errors.ts";

export const ADMIN_ERRORS = {
  /** One message for an unknown email and a wrong password: the answer must not tell them apart. */
  badCredentials: () => new AppError("UNAUTHORIZED", { message: "invalid email or password" }),
  missingToken: () => new AppError("UNAUTHORIZED", { message: "missing admin session: send Authorization: Bearer <token from POST /api/v1/admin/login>" }),
  invalidToken: () => new AppError("UNAUTHORIZED", { message: "invalid or revoked admin session; log in again" }),
  apiKeyNotAccepted: () => new AppError("UNAUTHORIZED", { message: "API keys cannot call the admin API; log in as an operator (POST /api/v1/admin/login)" }),
  tokenExpired: () => new AppError("TOKEN_EXPIRED", { message: "admin session expired; log in again" }),
  readOnly: () => new AppError("FORBIDDEN", { message: "viewers have read-only access" }),
  ownerOnly: (what: string) => new AppError("FORBIDDEN", { message: `only an owner may ${what}` }),
  /** An app the operator may not see answers exactly like an app that does not exist. */
  appNotFound: () => new AppError("NOT_FOUND", { message: "app not found" }),
  keyNotFound: () => new AppError("NOT_FOUND", { message: "key not found" }),
  policyNotFound: () => new AppError("NOT_FOUND", { message: "policy not found" }),
  webhookNotFound: () => new AppError("NOT_FOUND", { message: "webhook endpoint not found" }),
  deliveryNotFound: () => new AppError("NOT_FOUND", { message: "webhook delivery not found" }),
  keyRevoked: () => new AppError("CONFLICT", { message: "the key is already revoked; create a new one instead of rotating it" }),
  nothingToRemove: (what: string) => new AppError("NOT_FOUND", { message: `${what} not found` }),
  invalidCursor: () =>
    new AppError("VALIDATION_ERROR", { message: "cursor is not one this list returned", details: [{ field: "query.cursor", message: "must be a nextCursor from this list" }] }),
  invalidSetting: (field: string, message: string) => new AppError("VALIDATION_ERROR", { message: `${field} ${message}`, details: [{ field, message }] }),
};
