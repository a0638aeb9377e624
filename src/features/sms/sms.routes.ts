/**
 * `/api/v1/otp` (API.md §4.1): send, verify and status of SMS codes, as SecureKey's examples
 * call them — `POST /otp/send {phone, purpose?}`, `POST /otp/verify {phone, code, purpose?}`,
 * `GET /otp/status?phone=…` or `POST /otp/status {phone}`.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { Config } from "../../config.ts";
import { authOf, grantScope } from "../../infra/auth.ts";
import type { RouteLimits } from "../../infra/rate-limits.ts";
import type { Clock } from "../../infra/clock.ts";
import type { Keyring } from "../../infra/crypto.ts";
import type { Database } from "../../infra/db.ts";
import type { Metrics } from "../../infra/metrics.ts";
import type { SmsSender } from "../../infra/sms.ts";
import { Envelope, failures, ok } from "../../shared/envelope.ts";
import type { AppSettingsProvider } from "../apps/app-settings.ts";
import { verifyFailureCarriesVerifiedFalse } from "../otp/otp.errors.ts";
import { otpStore } from "../otp/otp.repository.ts";
import { SEND_FAILURES, STATUS_FAILURES, sendView, StatusData, statusView, VERIFY_FAILURES, VerifyData, verifyView } from "../otp/otp.schemas.ts";
import { OtpService } from "../otp/otp.service.ts";
import { SmsSendBody, SmsSendData, SmsStatusInput, SmsVerifyBody } from "./sms.schemas.ts";
import { smsDriver } from "./sms.service.ts";

export interface SmsRouteOptions {
  limits: RouteLimits;
  config: Config;
  db: Database;
  clock: Clock;
  metrics: Metrics;
  keyring: Keyring;
  settings: AppSettingsProvider;
  sms: SmsSender;
}

const TAGS = ["otp"];

export const smsRoutes: FastifyPluginAsyncTypebox<SmsRouteOptions> = async (app, options) => {
  const service = new OtpService({
    store: otpStore(options.db),
    clock: options.clock,
    metrics: options.metrics,
    keyring: options.keyring,
    settings: options.settings,
    driver: smsDriver(options.config, options.sms),
    logger: app.log,
  });
  grantScope(app, "sms");
  const sendLimit = options.limits.send;
  const verifyLimit = options.limits.verify;

  app.post("/otp/send", {
    config: sendLimit,
    schema: {
      tags: TAGS,
      summary: "Send a code by SMS (replaces the pending code for the same phone and purpose)",
      body: SmsSendBody,
      response: { 200: Envelope(SmsSendData), ...failures(...SEND_FAILURES, "INVALID_PHONE", "COUNTRY_NOT_ALLOWED") },
    },
  }, async (request) => {
    const { phone, purpose, userId, locale } = request.body;
    const sent = await service.send({ appId: authOf(request).appId, destination: phone, purpose, userId, locale });
    return ok(sendView("phone", sent), "OTP sent");
  });

  app.post("/otp/verify", {
    config: { ...verifyLimit, mfa: { channel: "sms" } },
    errorHandler: verifyFailureCarriesVerifiedFalse,
    schema: {
      tags: TAGS,
      summary: "Check an SMS code (each wrong code uses up an attempt)",
      body: SmsVerifyBody,
      response: { 200: Envelope(VerifyData), ...failures(...VERIFY_FAILURES, "INVALID_PHONE", "MFA_REQUIRED") },
    },
  }, async (request) => {
    const { phone, code, purpose, userId } = request.body;
    return ok(verifyView(await service.verify({ appId: authOf(request).appId, destination: phone, code, purpose, userId })), "OTP verified");
  });

  const statusSchema = {
    tags: TAGS,
    summary: "State of the pending SMS code for a phone and purpose",
    response: { 200: Envelope(StatusData), ...failures(...STATUS_FAILURES, "INVALID_PHONE") },
  };
  app.get("/otp/status", { schema: { ...statusSchema, querystring: SmsStatusInput } }, async (request) =>
    ok(statusView(await service.status({ appId: authOf(request).appId, destination: request.query.phone, purpose: request.query.purpose }))));
  app.post("/otp/status", { schema: { ...statusSchema, body: SmsStatusInput } }, async (request) =>
    ok(statusView(await service.status({ appId: authOf(request).appId, destination: request.body.phone, purpose: request.body.purpose }))));
};
