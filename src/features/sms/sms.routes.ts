/**
 * `/api/v1/otp` (API.md §4.1): send, verify and status of SMS codes, as SecureKey's examples
 * call them — `POST /otp/send {phone, purpose?}`, `POST /otp/verify {phone, code, purpose?}`,
 * `GET /otp/status?phone=…` or `POST /otp/status {phone}`.
 */
import type { SmsSender } from "../../infra/sms.ts";
import { otpChannelRoutes, type OtpRouteOptions } from "../otp/otp.routes.ts";
import { SMS_SCHEMAS } from "./sms.schemas.ts";
import { smsDriver } from "./sms.service.ts";

export interface SmsRouteOptions extends OtpRouteOptions {
  sms: SmsSender;
}

export const smsRoutes = otpChannelRoutes<SmsRouteOptions>({
  prefix: "/otp",
  tag: "otp",
  field: "phone",
  schemas: SMS_SCHEMAS,
  channel: "sms",
  invalidDestination: "INVALID_PHONE",
  sendFailures: ["COUNTRY_NOT_ALLOWED"],
  summaries: {
    send: "Send a code by SMS (replaces the pending code for the same phone and purpose)",
    verify: "Check an SMS code (each wrong code uses up an attempt)",
    status: "State of the pending SMS code for a phone and purpose",
  },
  driver: (options) => smsDriver(options.config, options.sms),
});
