/** The webhook feature's failures, in the contract's codes (API.md §2). */
import { AppError } from "../../infra/errors.ts";

export const WEBHOOK_ERRORS = {
  endpointNotFound: () => new AppError("NOT_FOUND", { message: "webhook endpoint not found" }),
  deliveryNotFound: () => new AppError("NOT_FOUND", { message: "webhook delivery not found" }),
  invalidUrl: (message: string) => new AppError("VALIDATION_ERROR", { message: `url: ${message}`, details: [{ field: "body.url", message }] }),
  invalidCursor: () => new AppError("VALIDATION_ERROR", { message: "cursor is not one this list returned", details: [{ field: "query.cursor", message: "must be a nextCursor from this list" }] }),
  tooManyEndpoints: (limit: number) => new AppError("CONFLICT", { message: `an app may have at most ${limit} webhook endpoints; delete one first` }),
  endpointDisabled: () => new AppError("CONFLICT", { message: "the endpoint is disabled: enable it to receive deliveries" }),
  rotationRace: () => new AppError("CONFLICT", { message: "the secret was changed by another request at the same time; try again" }),
  deliveryInFlight: () => new AppError("CONFLICT", { message: "an attempt of this delivery is in progress; if it fails it is retried" }),
};
