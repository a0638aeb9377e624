/** `GET /api/v1/admin/audit-log` (API.md §9): every admin action and every refused credential, newest first. */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Envelope, failures, ok } from "../../shared/envelope.ts";
import { ADMIN_SECURITY, actorOf, adminRoute, READ_FAILURES, TAGS } from "./admin.http.ts";
import { AuditList, AuditQuery } from "./admin.schemas.ts";
import type { AdminService } from "./admin.service.ts";

export const adminAuditRoutes: FastifyPluginAsyncTypebox<{ service: AdminService }> = async (app, { service }) => {
  app.get("/audit-log", {
    config: adminRoute("admin.audit.list"),
    schema: {
      tags: TAGS,
      security: ADMIN_SECURITY,
      summary: "Audit entries, newest first, filtered by app, actor, action (a trailing * matches a prefix) and time",
      querystring: AuditQuery,
      response: { 200: Envelope(AuditList), ...failures(...READ_FAILURES) },
    },
  }, async (request) => ok(await service.listAudit(actorOf(request), request.query)));
};
