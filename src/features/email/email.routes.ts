/**
 * `/api/v1/email-otp` (API.md §4.2): the SMS calls with `email` instead of `phone` —
 * `POST /email-otp/send`, `POST /email-otp/verify`, `GET /email-otp/status?email=…` or
 * `POST /email-otp/status`.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { Config } from "../../config.ts";
import { authOf, grantScope } from "../../infra/auth.ts";
import type { RouteLimits } from "../../infra/rate-limits.ts";
import type { Clock } from "../../infra/clock.ts";
import type { Keyring } from "../../infra/crypto.ts";
import type { Database } from "../../infra/db.ts";
import type { Mailer } from "../../infra/mailer.ts";
import type { Metrics } from "../../infra/metrics.ts";
import { Envelope, failures, ok } from "../../shared/envelope.ts";
import type { AppSettingsProvider } from "../apps/app-settings.ts";
import { verifyFailureCarriesVerifiedFalse } from "../otp/otp.errors.ts";
import { otpStore } from "../otp/otp.repository.ts";
import { SEND_FAILURES, sendView, STATUS_FAILURES, StatusData, statusView, VERIFY_FAILURES, VerifyData, verifyView } from "../otp/otp.schemas.ts";
import { OtpService } from "../otp/otp.service.ts";
import { EmailSendBody, EmailSendData, EmailStatusInput, EmailVerifyBody } from "./email.schemas.ts";
import { emailDriver } from "./email.service.ts";

export interface EmailRouteOptions {
  limits: RouteLimits;
  config: Config;
  db: Database;
  clock: Clock;
  metrics: Metrics;
  keyring: Keyring;
  settings: AppSettingsProvider;
  mailer: Mailer;
}

const TAGS = ["email-otp"];

export const emailRoutes: FastifyPluginAsyncTypebox<EmailRouteOptions> = async (app, options) => {
  const service = new OtpService({
    store: otpStore(options.db),
    clock: options.clock,
    metrics: options.metrics,
    keyring: options.keyring,
    settings: options.settings,
    driver: emailDriver(options.mailer),
    logger: app.log,
  });
  grantScope(app, "email");
  const sendLimit = options.limits.send;
  const verifyLimit = options.limits.verify;

  app.post("/email-otp/send", {
    config: sendLimit,
    schema: {
      tags: TAGS,
      summary: "Send a code by email (replaces the pending code for the same address and purpose)",
      body: EmailSendBody,
      response: { 200: Envelope(EmailSendData), ...failures(...SEND_FAILURES, "INVALID_EMAIL") },
    },
  }, async (request) => {
    const { email, purpose, userId, locale } = request.body;
    return ok(sendView("email", await service.send({ appId: authOf(request).appId, destination: email, purpose, userId, locale })), "OTP sent");
  });

  app.post("/email-otp/verify", {
    config: { ...verifyLimit, mfa: { channel: "email" } },
    errorHandler: verifyFailureCarriesVerifiedFalse,
    schema: {
      tags: TAGS,
      summary: "Check an email code (each wrong code uses up an attempt)",
      body: EmailVerifyBody,
      response: { 200: Envelope(VerifyData), ...failures(...VERIFY_FAILURES, "INVALID_EMAIL", "MFA_REQUIRED") },
    },
  }, async (request) => {
    const { email, code, purpose, userId } = request.body;
    return ok(verifyView(await service.verify({ appId: authOf(request).appId, destination: email, code, purpose, userId })), "OTP verified");
  });

  const statusSchema = {
    tags: TAGS,
    summary: "State of the pending email code for an address and purpose",
    response: { 200: Envelope(StatusData), ...failures(...STATUS_FAILURES, "INVALID_EMAIL") },
  };
  app.get("/email-otp/status", { schema: { ...statusSchema, querystring: EmailStatusInput } }, async (request) =>
    ok(statusView(await service.status({ appId: authOf(request).appId, destination: request.query.email, purpose: request.query.purpose }))));
  app.post("/email-otp/status", { schema: { ...statusSchema, body: EmailStatusInput } }, async (request) =>
    ok(statusView(await service.status({ appId: authOf(request).appId, destination: request.body.email, purpose: request.body.purpose }))));
};
