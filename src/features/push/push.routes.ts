/**
 * `/api/v1/push` (API.md §4.5). Answers (`/push/respond`, `/push/:requestId/respond`) come from
 * the phone with its `X-Device-Token`, or from the app's backend with the secret key; those two
 * routes therefore authenticate themselves (route config `auth: "none"` skips the API-key hook).
 * `/push/verify` also accepts publishable keys (API.md §7).
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import { authOf, grantScope, extractApiKey } from "../../infra/auth.ts";
import { AppError } from "../../infra/errors.ts";
import { createPushSender, type PushSender } from "../../infra/push.ts";
import { AUTHENTICATED_FAILURES, Envelope, failures, ok } from "../../shared/envelope.ts";
import { invalidDeviceToken } from "./push.errors.ts";
import { pushRepository } from "./push.repository.ts";
import {
  DeviceList,
  DeviceParams,
  DevicesQuery,
  RegisterDeviceBody,
  RegisterDeviceData,
  RemovedDeviceData,
  RemoveDeviceQuery,
  RequestParams,
  RespondBody,
  RespondByIdBody,
  RespondData,
  SendBody,
  SendData,
  StatusQuery,
  VerifyBody,
  VerifyData,
} from "./push.schemas.ts";
import { PushService, type Responder } from "./push.service.ts";
import type { FeatureDeps } from "../feature-deps.ts";

/** `authenticator`: the respond routes check keys themselves. */
export interface PushRouteOptions extends Pick<FeatureDeps, "limits" | "config" | "db" | "clock" | "metrics" | "settings" | "signals" | "authenticator"> {
  /** How requests reach phones; default: PUSH_PROVIDER from config (this plugin then closes it). */
  push?: PushSender;
}

const TAGS = ["push"];
const POST_FAILURES = [...AUTHENTICATED_FAILURES, "FORBIDDEN", "CONFLICT", "IDEMPOTENCY_KEY_REUSED"] as const;
const RESPOND_FAILURES = [...POST_FAILURES, "NOT_FOUND", "PUSH_EXPIRED"] as const;
/** The respond routes take a device token or a key (openapi.ts declares the deviceToken scheme). */
const RESPOND_SECURITY: Array<Record<string, string[]>> = [{ deviceToken: [] }, { apiKey: [] }, { bearer: [] }];

type Action = "approve" | "deny";
interface RespondFields {
  action?: Action;
  response?: Action;
  matchNumber?: string | number;
  signature?: string;
  timestamp?: number;
  deviceId?: string;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first?.trim() || undefined;
}

/**
 * A long poll answered because the server is shutting down asks the client to reconnect
 * (to another instance): otherwise its idle keep-alive connection holds the close open.
 */
function closeConnectionIfClosing(service: PushService, reply: FastifyReply): void {
  if (service.isClosing) reply.header("connection", "close");
}

/** Aborts when the client goes away before the answer is sent (ends a long poll early). */
function abortOnDisconnect(reply: FastifyReply): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) controller.abort();
  };
  reply.raw.once("close", onClose);
  return { signal: controller.signal, dispose: () => reply.raw.off("close", onClose) };
}

export const pushRoutes: FastifyPluginAsyncTypebox<PushRouteOptions> = async (app, options) => {
  const { config, clock, metrics, settings, signals, authenticator } = options;
  const sender = options.push ?? createPushSender(config, { logger: app.log });
  const service = new PushService({ repo: pushRepository(options.db.prisma), settings, clock, metrics, sender, signals, log: app.log });
  grantScope(app, "push");
  const verifyLimit = options.limits.verify;

  app.addHook("onReady", async () => service.startSweeper(config.PUSH_SWEEP_INTERVAL_MS));
  // Long polls answer at once on shutdown instead of holding the server open for up to 30 s.
  app.addHook("preClose", async () => service.releaseWaiters());
  app.addHook("onClose", async () => {
    await service.stop();
    if (!options.push) await sender.close();
  });

  const responders = new WeakMap<FastifyRequest, Responder>();
  /** X-Device-Token of one of the user's devices, else the app's secret key (never a device token as a key). */
  const authenticateResponder = async (request: FastifyRequest): Promise<void> => {
    const deviceToken = firstHeader(request.headers["x-device-token"]);
    if (deviceToken) {
      const device = await service.authenticateDevice(deviceToken);
      if (!device) throw invalidDeviceToken();
      responders.set(request, { kind: "device", device });
      return;
    }
    const key = extractApiKey(request);
    if (!key) throw new AppError("UNAUTHORIZED", { message: "send the device's X-Device-Token, or the app's secret key (X-API-Key or Authorization: Bearer)" });
    const context = await authenticator.authenticate(key);
    if (!context) throw new AppError("UNAUTHORIZED", { message: "invalid or revoked API key" });
    if (context.keyKind !== "secret") throw new AppError("FORBIDDEN", { message: "answering needs the device's token or the secret key" });
    request.auth = context;
    responders.set(request, { kind: "app", appId: context.appId });
  };

  const respond = async (request: FastifyRequest, requestId: string, body: RespondFields) => {
    const action = body.action ?? body.response;
    if (!action) throw new AppError("VALIDATION_ERROR", { message: "action is required (approve or deny)", details: [{ field: "body.action", message: "is required (or its synonym response)" }] });
    if (body.action && body.response && body.action !== body.response) {
      throw new AppError("VALIDATION_ERROR", { message: "action and response disagree", details: [{ field: "body.response", message: "must equal action when both are sent" }] });
    }
    const responder = responders.get(request);
    if (!responder) throw new AppError("UNAUTHORIZED");
    const result = await service.respond(responder, {
      requestId,
      action,
      matchNumber: body.matchNumber === undefined ? undefined : String(body.matchNumber),
      signature: body.signature,
      timestamp: body.timestamp,
      deviceId: body.deviceId,
    });
    return ok(result, result.status === "approved" ? "approved" : "denied");
  };

  app.post("/push/devices", {
    schema: {
      tags: TAGS,
      summary: "Register a user's phone (or update it, by fcmToken); answers its device token once",
      body: RegisterDeviceBody,
      response: { 201: Envelope(RegisterDeviceData), ...failures(...POST_FAILURES) },
    },
  }, async (request, reply) => {
    const result = await service.registerDevice(authOf(request).appId, request.body);
    return reply.code(201).send(ok(result, "device registered"));
  });

  app.get("/push/devices", {
    schema: {
      tags: TAGS,
      summary: "A user's registered devices",
      querystring: DevicesQuery,
      response: { 200: Envelope(DeviceList), ...failures(...AUTHENTICATED_FAILURES, "FORBIDDEN") },
    },
  }, async (request) => ok({ devices: await service.listDevices(authOf(request).appId, request.query.userId) }));

  app.delete("/push/devices/:deviceId", {
    schema: {
      tags: TAGS,
      summary: "Remove a device (its token stops working at once)",
      params: DeviceParams,
      querystring: RemoveDeviceQuery,
      response: { 200: Envelope(RemovedDeviceData), ...failures(...AUTHENTICATED_FAILURES, "FORBIDDEN", "NOT_FOUND") },
    },
  }, async (request) => {
    await service.removeDevice(authOf(request).appId, request.params.deviceId, request.query.userId);
    return ok({ deleted: true as const, deviceId: request.params.deviceId }, "device removed");
  });

  app.post("/push/send", {
    schema: {
      tags: TAGS,
      summary: "Ask every active device of the user to approve (FCM)",
      description: "Refused with 429 RATE_LIMITED (event push.fatigue_suspected) while the user has 3 pending requests or denied 3 in 10 minutes. 404 when the user has no active device; 502 DELIVERY_FAILED (request marked failed) when FCM reached none.",
      body: SendBody,
      response: { 200: Envelope(SendData), ...failures(...POST_FAILURES, "NOT_FOUND", "DELIVERY_FAILED") },
    },
  }, async (request) => ok(await service.send(authOf(request).appId, request.body), "push sent"));

  app.post("/push/respond", {
    config: { auth: "none" },
    onRequest: authenticateResponder,
    schema: {
      tags: TAGS,
      summary: "Answer a request, from the device (X-Device-Token) or the app's backend (secret key)",
      description: "A device that registered a publicKey must sign: signature = base64 ECDSA-SHA256 over the UTF-8 string `${requestId}.${action}.${matchNumber}.${timestamp}` (matchNumber exactly as sent, empty when none; action approve or deny even when sent as response). A second answer is 409 CONFLICT, a late one 410 PUSH_EXPIRED; a wrong matchNumber records a denial (200, reason number_mismatch).",
      security: RESPOND_SECURITY,
      body: RespondBody,
      response: { 200: Envelope(RespondData), ...failures(...RESPOND_FAILURES) },
    },
  }, async (request) => respond(request, request.body.requestId, request.body));

  app.post("/push/:requestId/respond", {
    config: { auth: "none" },
    onRequest: authenticateResponder,
    schema: {
      tags: TAGS,
      summary: "Answer a request (the request id in the path)",
      description: "Same as POST /push/respond.",
      security: RESPOND_SECURITY,
      params: RequestParams,
      body: RespondByIdBody,
      response: { 200: Envelope(RespondData), ...failures(...RESPOND_FAILURES) },
    },
  }, async (request) => {
    const { requestId } = request.params;
    if (request.body.requestId !== undefined && request.body.requestId !== requestId) {
      throw new AppError("VALIDATION_ERROR", { message: "requestId in the body differs from the path", details: [{ field: "body.requestId", message: "must equal the path's requestId" }] });
    }
    return respond(request, requestId, request.body);
  });

  app.post("/push/verify", {
    config: { auth: "browser", scope: "push_verify", ...verifyLimit, mfa: { channel: "push" } },
    schema: {
      tags: TAGS,
      summary: "The request's answer; with wait (≤ 30 s), a long poll that returns as soon as it changes",
      body: VerifyBody,
      response: { 200: Envelope(VerifyData), ...failures(...POST_FAILURES, "NOT_FOUND", "MFA_REQUIRED") },
    },
  }, async (request, reply) => {
    const disconnect = abortOnDisconnect(reply);
    try {
      const { requestId, userId, wait } = request.body;
      const result = await service.status(authOf(request).appId, requestId, { userId: userId ?? undefined, waitSeconds: wait, signal: disconnect.signal });
      closeConnectionIfClosing(service, reply);
      return ok(result, result.status);
    } finally {
      disconnect.dispose();
    }
  });

  app.get("/push/requests/:requestId", {
    config: { scope: "push_verify", mfa: { channel: "push" } },
    schema: {
      tags: TAGS,
      summary: "The request's status (same data as POST /push/verify)",
      params: RequestParams,
      querystring: StatusQuery,
      response: { 200: Envelope(VerifyData), ...failures(...AUTHENTICATED_FAILURES, "FORBIDDEN", "NOT_FOUND", "MFA_REQUIRED") },
    },
  }, async (request, reply) => {
    const disconnect = abortOnDisconnect(reply);
    try {
      const { userId, wait } = request.query;
      const result = await service.status(authOf(request).appId, request.params.requestId, { userId, waitSeconds: wait, signal: disconnect.signal });
      closeConnectionIfClosing(service, reply);
      return ok(result, result.status);
    } finally {
      disconnect.dispose();
    }
  });
};
