/**
 * `/api/v1/admin/apps/:appId/users/:userId/factors` (API.md §9): what an end user has enrolled,
 * and resetting one factor for a user who lost a device. For `destination-lock`, the `:userId`
 * segment is the phone number or email address (URL-encoded, e.g. `%2B821012345678`), normalized
 * as the OTP channels normalize it (domestic phone numbers in DEFAULT_COUNTRY's format work).
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Envelope, failures, ok } from "../../shared/envelope.ts";
import { ADMIN_SECURITY, actorOf, adminRoute, READ_FAILURES, TAGS, WRITE_FAILURES } from "./admin.http.ts";
import { FactorParams, FactorQuery, FactorRemoval, FactorsView, UserParams } from "./admin.schemas.ts";
import type { AdminService } from "./admin.service.ts";

const common = { tags: TAGS, security: ADMIN_SECURITY };

export const adminUsersRoutes: FastifyPluginAsyncTypebox<{ service: AdminService }> = async (app, { service }) => {
  app.get("/apps/:appId/users/:userId/factors", {
    config: adminRoute("admin.users.factors"),
    schema: {
      ...common,
      summary: "A user's factors: TOTP state and backup codes left, passkeys, push devices (never a secret)",
      params: UserParams,
      response: { 200: Envelope(FactorsView), ...failures(...READ_FAILURES) },
    },
  }, async (request) => ok(await service.listFactors(actorOf(request), request.params.appId, request.params.userId)));

  app.delete("/apps/:appId/users/:userId/factors/:factor", {
    config: adminRoute("admin.users.reset_factor"),
    schema: {
      ...common,
      summary: "Reset one factor: totp (emits totp.disabled), webauthn (webauthn.removed per credential), push, backup_codes, or destination-lock (:userId is then the phone or email)",
      params: FactorParams,
      querystring: FactorQuery,
      response: { 200: Envelope(FactorRemoval), ...failures(...WRITE_FAILURES) },
    },
  }, async (request) => {
    const { appId, userId, factor } = request.params;
    return ok(await service.removeFactor(actorOf(request), appId, userId, factor, request.query), "factor reset");
  });
};
