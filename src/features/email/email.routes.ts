/**
 * `/api/v1/email-otp` (API.md §4.2): the SMS calls with `email` instead of `phone` —
 * `POST /email-otp/send`, `POST /email-otp/verify`, `GET /email-otp/status?email=…` or
 * `POST /email-otp/status`.
 */
import type { Mailer } from "../../infra/mailer.ts";
import { otpChannelRoutes, type OtpRouteOptions } from "../otp/otp.routes.ts";
import { EMAIL_SCHEMAS } from "./email.schemas.ts";
import { emailDriver } from "./email.service.ts";

export interface EmailRouteOptions extends OtpRouteOptions {
  mailer: Mailer;
}

export const emailRoutes = otpChannelRoutes<EmailRouteOptions>({
  prefix: "/email-otp",
  tag: "email-otp",
  field: "email",
  schemas: EMAIL_SCHEMAS,
  channel: "email",
  invalidDestination: "INVALID_EMAIL",
  sendFailures: [],
  summaries: {
    send: "Send a code by email (replaces the pending code for the same address and purpose)",
    verify: "Check an email code (each wrong code uses up an attempt)",
    status: "State of the pending email code for an address and purpose",
  },
  driver: (options) => emailDriver(options.mailer),
});
