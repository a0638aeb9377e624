/**
 * The MFA policy failures (API.md §2, §8). MFA_REQUIRED carries `requiredChannels` and
 * `matchedPolicies` at the top level of the envelope, exactly as the contract's example shows.
 */
import { AppError } from "../../infra/errors.ts";

export function mfaRequired(outcome: { requiredChannels: string[]; matchedPolicies: string[] }): AppError {
  return new AppError("MFA_REQUIRED", {
    message: "additional verification required",
    extra: { requiredChannels: outcome.requiredChannels, matchedPolicies: outcome.matchedPolicies },
  });
}

export function invalidContextIp(): AppError {
  return new AppError("VALIDATION_ERROR", {
    message: "context.ip is not an IP address",
    details: [{ field: "body.context.ip", message: "must be an IPv4 (dotted decimal) or IPv6 address" }],
  });
}
