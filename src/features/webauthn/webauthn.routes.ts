/**
 * `/api/v1/webauthn` (API.md §4.4). The four ceremony routes also accept publishable keys
 * (API.md §7: browser-safe); credential management needs the secret key.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { authOf, grantScope } from "../../infra/auth.ts";
import { AUTHENTICATED_FAILURES, Envelope, failures, ok } from "../../shared/envelope.ts";
import { normalizeAuthentication, normalizeRegistration, toBase64Url } from "./webauthn.encoding.ts";
import { webauthnRepository } from "./webauthn.repository.ts";
import {
  AuthenticateOptionsBody,
  AuthenticateOptionsData,
  AuthenticateVerifyBody,
  AuthenticateVerifyData,
  CredentialList,
  CredentialParams,
  CredentialsQuery,
  CredentialView,
  DeletedData,
  OptionalUserQuery,
  RegisterOptionsBody,
  RegisterOptionsData,
  RegisterVerifyBody,
  RegisterVerifyData,
  RenameBody,
} from "./webauthn.schemas.ts";
import { WebauthnService } from "./webauthn.service.ts";
import type { FeatureDeps } from "../feature-deps.ts";

export type WebauthnRouteOptions = Pick<FeatureDeps, "limits" | "config" | "db" | "clock" | "metrics" | "settings">;

const TAGS = ["webauthn"];
const POST_FAILURES = [...AUTHENTICATED_FAILURES, "FORBIDDEN", "CONFLICT", "IDEMPOTENCY_KEY_REUSED"] as const;
const VERIFY_FAILURES = [...POST_FAILURES, "WEBAUTHN_VERIFICATION_FAILED", "CHALLENGE_EXPIRED"] as const;
const MANAGE_FAILURES = [...AUTHENTICATED_FAILURES, "FORBIDDEN", "NOT_FOUND"] as const;

export const webauthnRoutes: FastifyPluginAsyncTypebox<WebauthnRouteOptions> = async (app, options) => {
  const service = new WebauthnService({
    repo: webauthnRepository(options.db),
    settings: options.settings,
    clock: options.clock,
    metrics: options.metrics,
    onBackgroundError: (err) => app.log.warn({ err }, "could not purge expired WebAuthn challenges"),
  });
  grantScope(app, "webauthn");
  const verifyLimit = options.limits.verify;

  app.post("/webauthn/register/options", {
    config: { auth: "browser" },
    schema: {
      tags: TAGS,
      summary: "Options for navigator.credentials.create, excluding the user's existing credentials",
      body: RegisterOptionsBody,
      response: { 200: Envelope(RegisterOptionsData), ...failures(...POST_FAILURES) },
    },
  }, async (request) => {
    const auth = authOf(request);
    return ok(await service.registrationOptions(auth.appId, { keyKind: auth.keyKind, ...request.body }), "registration options created");
  });

  app.post("/webauthn/register/verify", {
    config: { auth: "browser", ...verifyLimit },
    schema: {
      tags: TAGS,
      summary: "Verify the browser's new credential and store it",
      body: RegisterVerifyBody,
      response: { 200: Envelope(RegisterVerifyData), ...failures(...VERIFY_FAILURES) },
    },
  }, async (request) => {
    const credential = normalizeRegistration(request.body);
    const { userId, deviceName } = request.body;
    const auth = authOf(request);
    return ok(await service.registrationVerify(auth.appId, { keyKind: auth.keyKind, userId, deviceName, credential }), "credential registered");
  });

  app.post("/webauthn/authenticate/options", {
    config: { auth: "browser" },
    // A passkey login may be asked for with no body at all.
    preValidation: async (request) => {
      request.body ??= {};
    },
    schema: {
      tags: TAGS,
      summary: "Options for navigator.credentials.get; without userId, for a discoverable (passkey) login",
      body: AuthenticateOptionsBody,
      response: { 200: Envelope(AuthenticateOptionsData), ...failures(...POST_FAILURES, "NOT_FOUND") },
    },
  }, async (request) => {
    const userId = request.body.userId ?? undefined;
    return ok(await service.authenticationOptions(authOf(request).appId, { userId }), "authentication options created");
  });

  app.post("/webauthn/authenticate/verify", {
    config: { auth: "browser", ...verifyLimit, mfa: { channel: "webauthn" } },
    schema: {
      tags: TAGS,
      summary: "Verify the browser's assertion",
      body: AuthenticateVerifyBody,
      response: { 200: Envelope(AuthenticateVerifyData), ...failures(...VERIFY_FAILURES, "MFA_REQUIRED") },
    },
  }, async (request) => {
    const credential = normalizeAuthentication(request.body);
    const { userId, purpose } = request.body;
    const result = await service.authenticationVerify(authOf(request).appId, { userId: userId ?? undefined, purpose: purpose ?? "login", credential });
    return ok(result, "verified");
  });

  app.get("/webauthn/credentials", {
    schema: {
      tags: TAGS,
      summary: "A user's registered credentials",
      querystring: CredentialsQuery,
      response: { 200: Envelope(CredentialList), ...failures(...AUTHENTICATED_FAILURES, "FORBIDDEN") },
    },
  }, async (request) => ok(await service.listCredentials(authOf(request).appId, request.query.userId)));

  app.patch("/webauthn/credentials/:credentialId", {
    schema: {
      tags: TAGS,
      summary: "Rename a credential",
      params: CredentialParams,
      querystring: OptionalUserQuery,
      body: RenameBody,
      response: { 200: Envelope(CredentialView), ...failures(...MANAGE_FAILURES) },
    },
  }, async (request) => {
    const credentialId = credentialIdParam(request.params.credentialId);
    const result = await service.renameCredential(authOf(request).appId, { credentialId, deviceName: request.body.deviceName, userId: request.query.userId });
    return ok(result, "credential renamed");
  });

  app.delete("/webauthn/credentials/:credentialId", {
    schema: {
      tags: TAGS,
      summary: "Remove a credential; it can no longer sign in",
      params: CredentialParams,
      querystring: OptionalUserQuery,
      response: { 200: Envelope(DeletedData), ...failures(...MANAGE_FAILURES) },
    },
  }, async (request) => {
    const credentialId = credentialIdParam(request.params.credentialId);
    return ok(await service.deleteCredential(authOf(request).appId, { credentialId, userId: request.query.userId }), "credential removed");
  });
};

/** The path's credential id in base64url; an id that is not base64 at all matches nothing. */
function credentialIdParam(raw: string): string {
  return toBase64Url(raw) ?? raw;
}
