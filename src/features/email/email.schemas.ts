/**
 * Route schemas for `/email-otp` (API.md §4.2). `email` is checked only for size here; the
 * service validates and lower-cases it (400 INVALID_EMAIL).
 */
import { Type } from "typebox";
import { destinationSchemas } from "../otp/otp.schemas.ts";

const Email = Type.String({ minLength: 1, maxLength: 254, description: "The address the code goes to; compared lower-cased" });

export const EMAIL_SCHEMAS = destinationSchemas("email", Email, "The destination, masked (a***@example.com)");
