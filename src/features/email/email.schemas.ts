/**
 * Route schemas for `/email-otp` (API.md §4.2). `email` is checked only for size here; the
 * service validates and lower-cases it (400 INVALID_EMAIL).
 */
import { Type } from "typebox";
import { Code, LocaleField, Purpose, RequestIdField, SEND_DATA_TAIL, UserId } from "../otp/otp.schemas.ts";

const Email = Type.String({ minLength: 1, maxLength: 254, description: "The address the code goes to; compared lower-cased" });

export const EmailSendBody = Type.Object({
  email: Email,
  purpose: Type.Optional(Purpose),
  userId: Type.Optional(UserId),
  locale: Type.Optional(LocaleField),
});

export const EmailVerifyBody = Type.Object({
  email: Email,
  code: Code,
  purpose: Type.Optional(Purpose),
  userId: Type.Optional(UserId),
});

export const EmailStatusInput = Type.Object({
  email: Email,
  purpose: Type.Optional(Purpose),
});

export const EmailSendData = Type.Object({
  requestId: RequestIdField,
  email: Type.String({ description: "The destination, masked (a***@example.com)" }),
  ...SEND_DATA_TAIL,
});
