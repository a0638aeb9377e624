import { Type } from "typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { authOf } from "../../infra/auth.ts";
import { AppError } from "../../infra/errors.ts";
import { AUTHENTICATED_FAILURES, Envelope, failures, ok } from "../../shared/envelope.ts";
import type { AppsRepository } from "./apps.repository.ts";
import { publicAppView } from "./apps.service.ts";

export const AppView = Type.Object({
  appId: Type.String({ description: "Public app id (app_…)" }),
  name: Type.String(),
  settings: Type.Object({}, { additionalProperties: true, description: "Per-app overrides of deployment defaults" }),
  createdAt: Type.String({ format: "date-time" }),
});

export const appsRoutes: FastifyPluginAsyncTypebox<{ apps: AppsRepository }> = async (app, { apps }) => {
  app.get("/app", {
    schema: {
      tags: ["apps"],
      summary: "The calling key's app",
      response: { 200: Envelope(AppView), ...failures(...AUTHENTICATED_FAILURES, "FORBIDDEN", "NOT_FOUND") },
    },
  }, async (request) => {
    const record = await apps.findById(authOf(request).appId);
    if (!record) throw new AppError("NOT_FOUND", { message: "app not found" });
    return ok(publicAppView(record));
  });
};
