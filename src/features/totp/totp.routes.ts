/**
 * /api/v1/totp (API.md §4.3): authenticator-app setup, verify, status, disable, backup codes.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { authOf, grantScope } from "../../infra/auth.ts";
import { AppError } from "../../infra/errors.ts";
import { AUTHENTICATED_FAILURES, Envelope, failures, ok } from "../../shared/envelope.ts";
import { totpRepository } from "./totp.repository.ts";
import { BackupCodesData, DisableData, SetupBody, SetupData, StatusData, UserIdBody, UserIdParams, UserIdQuery, VerifyBody, VerifyData } from "./totp.schemas.ts";
import { TotpService, type StatusResult } from "./totp.service.ts";
import type { FeatureDeps } from "../feature-deps.ts";

export type TotpRouteOptions = Pick<FeatureDeps, "limits" | "config" | "db" | "clock" | "metrics" | "keyring" | "settings">;

const TAGS = ["totp"];
/** Secret-key routes can also answer 403 (a publishable key) and, as POSTs, the Idempotency-Key outcomes. */
const COMMON = [...AUTHENTICATED_FAILURES, "FORBIDDEN"] as const;
const POST_COMMON = [...COMMON, "CONFLICT", "IDEMPOTENCY_KEY_REUSED"] as const;

const statusView = (s: StatusResult) => ({
  enabled: s.enabled,
  pending: s.pending,
  createdAt: s.createdAt?.toISOString() ?? null,
  lastUsedAt: s.lastUsedAt?.toISOString() ?? null,
  backupCodesRemaining: s.backupCodesRemaining,
});

export const totpRoutes: FastifyPluginAsyncTypebox<TotpRouteOptions> = async (app, options) => {
  grantScope(app, "totp");
  const service = new TotpService({
    repo: totpRepository(options.db),
    keyring: options.keyring,
    clock: options.clock,
    settings: options.settings,
    metrics: options.metrics,
  });
  const statusSchema = { 200: Envelope(StatusData), ...failures(...COMMON) };

  app.post("/totp/setup", {
    schema: {
      tags: TAGS,
      summary: "Start authenticator-app enrolment: a new secret, its otpauth:// URI and QR code",
      description: "The factor stays pending until its first successful verify. With an enabled factor: 409 TOTP_ALREADY_ENABLED unless force is true.",
      body: SetupBody,
      response: { 200: Envelope(SetupData), ...failures(...POST_COMMON, "TOTP_ALREADY_ENABLED") },
    },
  }, async (request) => {
    const { userId, accountName, issuer, force } = request.body;
    const result = await service.setup({ appId: authOf(request).appId, userId, accountName, issuer, force });
    return ok(result, "scan the QR code, then verify a code to enable the factor");
  });

  app.post("/totp/verify", {
    config: { ...options.limits.verify, mfa: { channel: "totp" } },
    schema: {
      tags: TAGS,
      summary: "Check a code from the authenticator app, or a backup code",
      description: "`code` is accepted as a synonym of `token`. ±1 time step of drift is accepted; a step already used answers CODE_ALREADY_USED; wrong codes in a row lock the user (ACCOUNT_LOCKED with Retry-After).",
      body: VerifyBody,
      response: { 200: Envelope(VerifyData), ...failures(...POST_COMMON, "INVALID_CODE", "CODE_ALREADY_USED", "TOTP_NOT_ENABLED", "ACCOUNT_LOCKED", "MFA_REQUIRED") },
    },
  }, async (request) => {
    const { userId, token, code, purpose } = request.body;
    const given = token ?? code;
    if (given === undefined) {
      throw new AppError("VALIDATION_ERROR", { message: "token (or code) is required", details: [{ field: "body.token", message: "is required (or send it as code)" }] });
    }
    const result = await service.verify({ appId: authOf(request).appId, userId, token: given, purpose });
    return ok(result, "verified");
  });

  app.get("/totp/status", {
    schema: { tags: TAGS, summary: "Whether the user has an enabled or pending factor", querystring: UserIdQuery, response: statusSchema },
  }, async (request) => ok(statusView(await service.status({ appId: authOf(request).appId, userId: request.query.userId }))));

  app.get("/totp/status/:userId", {
    schema: { tags: TAGS, summary: "Whether the user has an enabled or pending factor", params: UserIdParams, response: statusSchema },
  }, async (request) => ok(statusView(await service.status({ appId: authOf(request).appId, userId: request.params.userId }))));

  app.post("/totp/status", {
    schema: {
      tags: TAGS,
      summary: "Whether the user has an enabled or pending factor (body form)",
      body: UserIdBody,
      response: { 200: Envelope(StatusData), ...failures(...POST_COMMON) },
    },
  }, async (request) => ok(statusView(await service.status({ appId: authOf(request).appId, userId: request.body.userId }))));

  app.delete("/totp/:userId", {
    schema: {
      tags: TAGS,
      summary: "Disable the user's factor and delete their backup codes",
      params: UserIdParams,
      response: { 200: Envelope(DisableData), ...failures(...COMMON, "TOTP_NOT_ENABLED") },
    },
  }, async (request) => {
    await service.disable({ appId: authOf(request).appId, userId: request.params.userId });
    return ok({ disabled: true as const }, "authenticator app disabled");
  });

  app.post("/totp/backup-codes", {
    schema: {
      tags: TAGS,
      summary: "Issue ten new one-time backup codes (shown once; they replace earlier ones)",
      body: UserIdBody,
      response: { 200: Envelope(BackupCodesData), ...failures(...POST_COMMON, "TOTP_NOT_ENABLED") },
    },
  }, async (request) => {
    const backupCodes = await service.regenerateBackupCodes({ appId: authOf(request).appId, userId: request.body.userId });
    return ok({ backupCodes }, "store these codes now: they are not shown again");
  });
};
