/**
 * The routes of one code channel (API.md §4.1 `/otp`, §4.2 `/email-otp`): send, verify and
 * status, as SecureKey's examples call them. SMS and email differ only in the destination
 * field, its error code, the delivery driver and the texts; this builds either from those.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { authOf, grantScope, type KeyScope } from "../../infra/auth.ts";
import type { ErrorCode } from "../../infra/errors.ts";
import { Envelope, failures, ok } from "../../shared/envelope.ts";
import { verifyFailureCarriesVerifiedFalse } from "./otp.errors.ts";
import { otpStore } from "./otp.repository.ts";
import { type destinationSchemas, SEND_FAILURES, sendView, STATUS_FAILURES, StatusData, statusView, VERIFY_FAILURES, VerifyData, verifyView } from "./otp.schemas.ts";
import { OtpService, type OtpChannelDriver } from "./otp.service.ts";
import type { FeatureDeps } from "../feature-deps.ts";

export type OtpRouteOptions = Pick<FeatureDeps, "limits" | "config" | "db" | "clock" | "metrics" | "keyring" | "settings">;

/** The request schemas of the SMS or the email channel. */
type ChannelSchemas = ReturnType<typeof destinationSchemas<"phone">> | ReturnType<typeof destinationSchemas<"email">>;

/** The destination a validated request names under the channel's field (other fields are ignored). */
function destinationOf(field: "phone" | "email", input: { phone: string } | { email: string }): string {
  if (field === "phone" && "phone" in input) return input.phone;
  if (field === "email" && "email" in input) return input.email;
  // The route's schema requires the field, so validation has already refused such a request.
  throw new Error(`validated input has no ${field}`);
}

export interface OtpChannelRoutes<O extends OtpRouteOptions> {
  /** `/otp` or `/email-otp`. */
  prefix: string;
  tag: string;
  /** The body/query field that names the destination (and shows it, masked, in a send's data). */
  field: "phone" | "email";
  schemas: ChannelSchemas;
  /** The ephemeral-key scope and the MFA channel of these routes. */
  channel: KeyScope & ("sms" | "email");
  /** 400 for a destination the channel cannot use; `sendFailures` adds any send-only codes. */
  invalidDestination: ErrorCode;
  sendFailures: ErrorCode[];
  summaries: { send: string; verify: string; status: string };
  driver: (options: O) => OtpChannelDriver;
}

export function otpChannelRoutes<O extends OtpRouteOptions>(channel: OtpChannelRoutes<O>): FastifyPluginAsyncTypebox<O> {
  const { prefix, field, schemas, summaries } = channel;
  const tags = [channel.tag];
  return async (app, options) => {
    const service = new OtpService({
      store: otpStore(options.db),
      clock: options.clock,
      metrics: options.metrics,
      keyring: options.keyring,
      settings: options.settings,
      driver: channel.driver(options),
      logger: app.log,
    });
    grantScope(app, channel.channel);

    app.post(`${prefix}/send`, {
      config: options.limits.send,
      schema: {
        tags,
        summary: summaries.send,
        body: schemas.SendBody,
        response: { 200: Envelope(schemas.SendData), ...failures(...SEND_FAILURES, channel.invalidDestination, ...channel.sendFailures) },
      },
    }, async (request) => {
      const { purpose, userId, locale } = request.body;
      const sent = await service.send({ appId: authOf(request).appId, destination: destinationOf(field, request.body), purpose, userId, locale });
      return ok(sendView(field, sent), "OTP sent");
    });

    app.post(`${prefix}/verify`, {
      config: { ...options.limits.verify, mfa: { channel: channel.channel } },
      errorHandler: verifyFailureCarriesVerifiedFalse,
      schema: {
        tags,
        summary: summaries.verify,
        body: schemas.VerifyBody,
        response: { 200: Envelope(VerifyData), ...failures(...VERIFY_FAILURES, channel.invalidDestination, "MFA_REQUIRED") },
      },
    }, async (request) => {
      const { code, purpose, userId } = request.body;
      return ok(verifyView(await service.verify({ appId: authOf(request).appId, destination: destinationOf(field, request.body), code, purpose, userId })), "OTP verified");
    });

    const statusSchema = {
      tags,
      summary: summaries.status,
      response: { 200: Envelope(StatusData), ...failures(...STATUS_FAILURES, channel.invalidDestination) },
    };
    app.get(`${prefix}/status`, { schema: { ...statusSchema, querystring: schemas.StatusInput } }, async (request) =>
      ok(statusView(await service.status({ appId: authOf(request).appId, destination: destinationOf(field, request.query), purpose: request.query.purpose }))));
    app.post(`${prefix}/status`, { schema: { ...statusSchema, body: schemas.StatusInput } }, async (request) =>
      ok(statusView(await service.status({ appId: authOf(request).appId, destination: destinationOf(field, request.body), purpose: request.body.purpose }))));
  };
}
