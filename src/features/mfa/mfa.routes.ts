/**
 * MFA policies on `/api/v1` (API.md §8): `POST /mfa/check`, and the one hook that gives every
 * successful verify its `data.mfa` (or, with the app's `mfa.requiredOnVerify`, the 403
 * MFA_REQUIRED body). A verify route opts in with route config `mfa: { channel }`.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { authOf } from "../../infra/auth.ts";
import { failureEnvelope } from "../../infra/errors.ts";
import { AUTHENTICATED_FAILURES, Envelope, failures, ok } from "../../shared/envelope.ts";
import type { AppSettingsProvider } from "../apps/app-settings.ts";
import { mfaRequired } from "./mfa.errors.ts";
import { mfaRepository } from "./mfa.repository.ts";
import { CheckBody, CheckData } from "./mfa.schemas.ts";
import { MfaService } from "./mfa.service.ts";
import { policiesRepository } from "./policies.repository.ts";
import type { MfaChannel } from "./policies.schemas.ts";
import type { FeatureDeps } from "../feature-deps.ts";

/** Route config of a verify whose success reports MFA progress. */
export interface MfaVerifyRoute {
  /** The channel the route verifies (named on the `mfa.required` event it may record). */
  channel: MfaChannel;
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** This route is a verify: on success it answers `data.mfa`, or 403 MFA_REQUIRED (API.md §8). */
    mfa?: MfaVerifyRoute;
  }
}

export type MfaOptions = Pick<FeatureDeps, "db" | "clock" | "settings">;

const TAGS = ["mfa"];

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);
const nonEmptyString = (value: unknown): string | undefined => (typeof value === "string" && value.length > 0 ? value : undefined);

/** `data` of a success envelope that reports a verified outcome, else null. */
function verifiedData(payload: unknown): Json | null {
  if (!isObject(payload) || payload.success !== true || !isObject(payload.data) || payload.data.verified !== true) return null;
  return payload.data;
}

export const mfaRoutes: FastifyPluginAsyncTypebox<{ service: MfaService }> = async (app, { service }) => {
  app.post("/mfa/check", {
    schema: {
      tags: TAGS,
      summary: "Whether the user may go ahead with an action, or which factors the app's policies still need",
      description: [
        "Every enabled policy whose conditions all hold matches (purposes, minAmount ≤ context.amount, context.ip inside ipCidrs, newDevice: a deviceId absent or never allowed before).",
        "A required channel counts when this user verified it for this purpose within the policy's withinSeconds.",
        "Allowed: 200 with the satisfied channels, and context.deviceId becomes a known device.",
        "Otherwise 403 MFA_REQUIRED with requiredChannels (what to verify next, highest-priority policy first) and matchedPolicies (the names of the matching policies still unsatisfied, highest priority first); an mfa.required event is recorded.",
      ].join(" "),
      body: CheckBody,
      response: { 200: Envelope(CheckData), ...failures(...AUTHENTICATED_FAILURES, "FORBIDDEN", "MFA_REQUIRED", "CONFLICT", "IDEMPOTENCY_KEY_REUSED") },
    },
  }, async (request) => {
    const { userId, purpose, context } = request.body;
    return ok(await service.check({ appId: authOf(request).appId, userId, purpose, context }), "no further verification required");
  });
};

/**
 * Whom and what a successful verify was for: the user from the result (a discoverable
 * WebAuthn login names nobody in the request) or the request, and the purpose the request
 * named. A push poll names no purpose: an approved push request's user and purpose are those
 * it was sent with, read from the verification its approval recorded.
 */
async function subjectOf(service: MfaService, route: MfaVerifyRoute, request: FastifyRequest, data: Json, appId: string): Promise<{ userId: string; purpose: string } | null> {
  if (route.channel === "push") {
    const requestId = nonEmptyString(data.requestId);
    return requestId ? service.pushSubject(appId, requestId) : null;
  }
  const body = isObject(request.body) ? request.body : {};
  const query = isObject(request.query) ? request.query : {};
  const userId = nonEmptyString(data.userId) ?? nonEmptyString(body.userId) ?? nonEmptyString(query.userId);
  const purpose = nonEmptyString(body.purpose);
  return userId && purpose ? { userId, purpose } : null;
}

/**
 * preSerialization on the routes flagged `mfa`: runs after the verify succeeded and its
 * verification row committed, so the decision counts it. The 403 is rendered here rather than
 * thrown: a route-level error handler (the code channels') would add `data.verified: false`,
 * which would be untrue (the verification stands) and not the contract's body.
 */
function mfaOnVerifyHook(service: MfaService, settings: AppSettingsProvider) {
  return async function reportMfaProgress(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const route = request.routeOptions.config?.mfa;
    if (!route || reply.statusCode !== 200 || !request.auth) return payload;
    const data = verifiedData(payload);
    if (!data) return payload;
    const appId = request.auth.appId;
    const subject = await subjectOf(service, route, request, data, appId);
    if (!subject) return payload;
    const evaluation = await service.progressAfterVerify({ appId, ...subject });
    if (!evaluation.allowed && (await settings.get(appId)).mfa.requiredOnVerify) {
      // Every poll of an approved push request reports it again: its event is recorded once.
      const requestId = route.channel === "push" ? nonEmptyString(data.requestId) : undefined;
      await service.recordRequired({ appId, ...subject, channel: route.channel, ...(requestId ? { onceKey: `push:${requestId}` } : {}) }, evaluation);
      const error = mfaRequired(evaluation);
      reply.code(error.status);
      return failureEnvelope(error);
    }
    return { ...(payload as Json), data: { ...data, mfa: { satisfied: evaluation.allowed, remainingChannels: evaluation.requiredChannels } } };
  };
}

/**
 * Installs MFA on the `/api/v1` scope: the verify hook on every route flagged `config.mfa`
 * (installed before the channel routes register, so their scopes see the onRoute hook) and the
 * `/mfa/check` route.
 */
export async function installMfa(api: FastifyInstance, options: MfaOptions): Promise<void> {
  const service = new MfaService({ policies: policiesRepository(options.db.prisma), repo: mfaRepository(options.db.prisma), clock: options.clock });
  const hook = mfaOnVerifyHook(service, options.settings);
  // Only the verify routes (config.mfa) get the hook: every other request skips it entirely.
  api.addHook("onRoute", (route) => {
    if (!(route.config as { mfa?: unknown } | undefined)?.mfa) return;
    const existing = route.preSerialization;
    route.preSerialization = [...(Array.isArray(existing) ? existing : existing ? [existing] : []), hook] as typeof route.preSerialization;
  });
  await api.register(mfaRoutes, { service });
}
