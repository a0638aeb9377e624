/** `/api/v1/admin/apps` and `/api/v1/admin/keys` (API.md §9): apps with their settings, and API keys. */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Envelope, failures, ok } from "../../shared/envelope.ts";
import { ADMIN_SECURITY, actorOf, adminRoute, READ_FAILURES, TAGS, WRITE_FAILURES } from "./admin.http.ts";
import {
  AdminAppView,
  AppList,
  AppParams,
  CreateAppBody,
  CreatedKey,
  CreateKeyBody,
  KeyList,
  KeyParams,
  KeyView,
  PageQuery,
  RotatedKey,
  UpdateAppBody,
} from "./admin.schemas.ts";
import type { AdminService } from "./admin.service.ts";

const common = { tags: TAGS, security: ADMIN_SECURITY };

export const adminAppsRoutes: FastifyPluginAsyncTypebox<{ service: AdminService }> = async (app, { service }) => {
  app.get("/apps", {
    config: adminRoute("admin.apps.list"),
    schema: {
      ...common,
      summary: "Apps, oldest first (an admin sees its own app only)",
      querystring: PageQuery,
      response: { 200: Envelope(AppList), ...failures(...READ_FAILURES) },
    },
  }, async (request) => ok(await service.listApps(actorOf(request), request.query)));

  app.post("/apps", {
    config: adminRoute("admin.apps.create"),
    schema: {
      ...common,
      summary: "Create an app (owners only); create its keys with POST /apps/{appId}/keys",
      body: CreateAppBody,
      response: { 201: Envelope(AdminAppView), ...failures(...WRITE_FAILURES) },
    },
  }, async (request, reply) => reply.code(201).send(ok(await service.createApp(actorOf(request), request.body), "app created")));

  app.get("/apps/:appId", {
    config: adminRoute("admin.apps.get"),
    schema: {
      ...common,
      summary: "One app: its stored settings and the effective ones (stored over the deployment defaults)",
      params: AppParams,
      response: { 200: Envelope(AdminAppView), ...failures(...READ_FAILURES) },
    },
  }, async (request) => ok(await service.getApp(actorOf(request), request.params.appId)));

  app.patch("/apps/:appId", {
    config: adminRoute("admin.apps.update"),
    schema: {
      ...common,
      summary: "Rename an app and/or change its settings (merged into the stored ones; null restores a default)",
      params: AppParams,
      body: UpdateAppBody,
      response: { 200: Envelope(AdminAppView), ...failures(...WRITE_FAILURES) },
    },
  }, async (request) => ok(await service.updateApp(actorOf(request), request.params.appId, request.body), "app updated"));

  app.get("/apps/:appId/keys", {
    config: adminRoute("admin.keys.list"),
    schema: {
      ...common,
      summary: "The app's API keys, oldest first, revoked ones included (never the keys themselves)",
      params: AppParams,
      querystring: PageQuery,
      response: { 200: Envelope(KeyList), ...failures(...READ_FAILURES) },
    },
  }, async (request) => ok(await service.listKeys(actorOf(request), request.params.appId, request.query)));

  app.post("/apps/:appId/keys", {
    config: adminRoute("admin.keys.create"),
    schema: {
      ...common,
      summary: "Create a secret (2fa_…) or publishable (pk_…) key; the answer holds the key, shown only this once",
      params: AppParams,
      body: CreateKeyBody,
      response: { 201: Envelope(CreatedKey), ...failures(...WRITE_FAILURES) },
    },
  }, async (request, reply) =>
    reply.code(201).send(ok(await service.createKey(actorOf(request), request.params.appId, request.body), "key created; store it now, it is not shown again")));

  app.delete("/keys/:keyId", {
    config: adminRoute("admin.keys.revoke"),
    schema: {
      ...common,
      summary: "Revoke a key: refused at once by this instance, by every instance within API_KEY_CACHE_TTL_MS",
      params: KeyParams,
      response: { 200: Envelope(KeyView), ...failures(...WRITE_FAILURES) },
    },
  }, async (request) => ok(await service.revokeKey(actorOf(request), request.params.keyId), "key revoked"));

  app.post("/keys/:keyId/rotate", {
    config: adminRoute("admin.keys.rotate"),
    schema: {
      ...common,
      summary: "Replace a key with a new one of the same kind and name; the old one is revoked",
      params: KeyParams,
      response: { 201: Envelope(RotatedKey), ...failures(...WRITE_FAILURES) },
    },
  }, async (request, reply) =>
    reply.code(201).send(ok(await service.rotateKey(actorOf(request), request.params.keyId), "key rotated; store the new key now, it is not shown again")));
};
