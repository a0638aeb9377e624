/**
 * Route schemas for `/otp` (API.md §4.1). `phone` is checked only for size here; what a valid
 * number is, is libphonenumber's call in the service (400 INVALID_PHONE).
 */
import { Type } from "typebox";
import { destinationSchemas } from "../otp/otp.schemas.ts";

const Phone = Type.String({ minLength: 1, maxLength: 40, description: "Korean domestic (01012345678) or E.164 (+821012345678); the default region is DEFAULT_COUNTRY" });

export const SMS_SCHEMAS = destinationSchemas("phone", Phone, "The destination, masked (+82******5678)");
