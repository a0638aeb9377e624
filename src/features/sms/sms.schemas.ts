/**
 * Route schemas for `/otp` (API.md §4.1). `phone` is checked only for size here; what a valid
 * number is, is libphonenumber's call in the service (400 INVALID_PHONE).
 */
import { Type } from "typebox";
import { Code, LocaleField, Purpose, RequestIdField, SEND_DATA_TAIL, UserId } from "../otp/otp.schemas.ts";

const Phone = Type.String({ minLength: 1, maxLength: 40, description: "Korean domestic (01012345678) or E.164 (+821012345678); the default region is DEFAULT_COUNTRY" });

export const SmsSendBody = Type.Object({
  phone: Phone,
  purpose: Type.Optional(Purpose),
  userId: Type.Optional(UserId),
  locale: Type.Optional(LocaleField),
});

export const SmsVerifyBody = Type.Object({
  phone: Phone,
  code: Code,
  purpose: Type.Optional(Purpose),
  userId: Type.Optional(UserId),
});

export const SmsStatusInput = Type.Object({
  phone: Phone,
  purpose: Type.Optional(Purpose),
});

export const SmsSendData = Type.Object({
  requestId: RequestIdField,
  phone: Type.String({ description: "The destination, masked (+82******5678)" }),
  ...SEND_DATA_TAIL,
});
