/**
 * `/api/v1/admin` policies and webhooks (API.md §8, §5, §9). Bodies and answers are the MFA
 * policy and webhook features' own schemas; the work is theirs (policies.repository,
 * WebhooksService), after the operator's role is checked against the owning app.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Envelope, failures, ok } from "../../shared/envelope.ts";
import { CreatePolicyBody, PolicyView, UpdatePolicyBody } from "../mfa/policies.schemas.ts";
import {
  CreateEndpointBody,
  DeletedEndpoint,
  DeliveriesQuery,
  DeliveryList,
  DeliveryView,
  EndpointList,
  EndpointView,
  EndpointWithSecret,
  TestEventBody,
  TestEventResult,
  UpdateEndpointBody,
} from "../webhooks/webhooks.schemas.ts";
import { ADMIN_SECURITY, actorOf, adminRoute, READ_FAILURES, TAGS, WRITE_FAILURES } from "./admin.http.ts";
import { AdminDeliveryParams, AppParams, DeletedPolicy, PageQuery, PolicyList, PolicyParams, WebhookParams } from "./admin.schemas.ts";
import type { AdminService } from "./admin.service.ts";

const common = { tags: TAGS, security: ADMIN_SECURITY };

/** POSTs whose body fields are all optional also accept no body at all (`curl -X POST` without `-d`). */
const emptyBodyIsEmptyObject = async (request: { body: unknown }) => {
  request.body ??= {};
};

export const adminConfigRoutes: FastifyPluginAsyncTypebox<{ service: AdminService }> = async (app, { service }) => {
  // ── policies ────────────────────────────────────────────────────────────────────────────

  app.get("/apps/:appId/policies", {
    config: adminRoute("admin.policies.list"),
    schema: {
      ...common,
      summary: "The app's MFA policies, highest priority first",
      params: AppParams,
      querystring: PageQuery,
      response: { 200: Envelope(PolicyList), ...failures(...READ_FAILURES) },
    },
  }, async (request) => ok(await service.listPolicies(actorOf(request), request.params.appId, request.query)));

  app.post("/apps/:appId/policies", {
    config: adminRoute("admin.policies.create"),
    schema: {
      ...common,
      summary: "Add an MFA policy (API.md §8)",
      params: AppParams,
      body: CreatePolicyBody,
      response: { 201: Envelope(PolicyView), ...failures(...WRITE_FAILURES) },
    },
  }, async (request, reply) => reply.code(201).send(ok(await service.createPolicy(actorOf(request), request.params.appId, request.body), "policy created")));

  app.patch("/policies/:policyId", {
    config: adminRoute("admin.policies.update"),
    schema: {
      ...common,
      summary: "Change an MFA policy",
      params: PolicyParams,
      body: UpdatePolicyBody,
      response: { 200: Envelope(PolicyView), ...failures(...WRITE_FAILURES) },
    },
  }, async (request) => ok(await service.updatePolicy(actorOf(request), request.params.policyId, request.body), "policy updated"));

  app.delete("/policies/:policyId", {
    config: adminRoute("admin.policies.delete"),
    schema: {
      ...common,
      summary: "Remove an MFA policy",
      params: PolicyParams,
      response: { 200: Envelope(DeletedPolicy), ...failures(...WRITE_FAILURES) },
    },
  }, async (request) => ok(await service.deletePolicy(actorOf(request), request.params.policyId), "policy deleted"));

  // ── webhooks ────────────────────────────────────────────────────────────────────────────

  app.get("/apps/:appId/webhooks", {
    config: adminRoute("admin.webhooks.list"),
    schema: {
      ...common,
      summary: "The app's webhook endpoints, oldest first",
      params: AppParams,
      querystring: PageQuery,
      response: { 200: Envelope(EndpointList), ...failures(...READ_FAILURES) },
    },
  }, async (request) => ok(await service.listWebhooks(actorOf(request), request.params.appId, request.query)));

  app.post("/apps/:appId/webhooks", {
    config: adminRoute("admin.webhooks.create"),
    schema: {
      ...common,
      summary: "Add a webhook endpoint; the answer holds its signing secret, shown only this once",
      params: AppParams,
      body: CreateEndpointBody,
      response: { 201: Envelope(EndpointWithSecret), ...failures(...WRITE_FAILURES) },
    },
  }, async (request, reply) =>
    reply.code(201).send(ok(await service.createWebhook(actorOf(request), request.params.appId, request.body), "webhook endpoint created; store the secret now, it is not shown again")));

  app.patch("/webhooks/:webhookId", {
    config: adminRoute("admin.webhooks.update"),
    schema: {
      ...common,
      summary: "Change an endpoint's url, description, subscribed events or enabled state",
      params: WebhookParams,
      body: UpdateEndpointBody,
      response: { 200: Envelope(EndpointView), ...failures(...WRITE_FAILURES) },
    },
  }, async (request) => ok(await service.updateWebhook(actorOf(request), request.params.webhookId, request.body), "webhook endpoint updated"));

  app.delete("/webhooks/:webhookId", {
    config: adminRoute("admin.webhooks.delete"),
    schema: {
      ...common,
      summary: "Remove an endpoint with its deliveries",
      params: WebhookParams,
      response: { 200: Envelope(DeletedEndpoint), ...failures(...WRITE_FAILURES) },
    },
  }, async (request) => ok(await service.deleteWebhook(actorOf(request), request.params.webhookId), "webhook endpoint deleted"));

  app.post("/webhooks/:webhookId/test", {
    config: adminRoute("admin.webhooks.test"),
    preValidation: emptyBodyIsEmptyObject,
    schema: {
      ...common,
      summary: "Queue a test event (webhook.test unless another type is named) for this endpoint only",
      params: WebhookParams,
      body: TestEventBody,
      response: { 200: Envelope(TestEventResult), ...failures(...WRITE_FAILURES) },
    },
  }, async (request) => ok(await service.sendTestEvent(actorOf(request), request.params.webhookId, request.body), "test event queued"));

  app.get("/webhooks/:webhookId/deliveries", {
    config: adminRoute("admin.webhooks.deliveries"),
    schema: {
      ...common,
      summary: "The endpoint's deliveries, newest first, each with every attempt",
      params: WebhookParams,
      querystring: DeliveriesQuery,
      response: { 200: Envelope(DeliveryList), ...failures(...READ_FAILURES) },
    },
  }, async (request) => ok(await service.listDeliveries(actorOf(request), request.params.webhookId, request.query)));

  app.post("/deliveries/:deliveryId/redeliver", {
    config: adminRoute("admin.webhooks.redeliver"),
    schema: {
      ...common,
      summary: "Attempt a delivery again now (one more attempt for a failed one)",
      params: AdminDeliveryParams,
      response: { 200: Envelope(DeliveryView), ...failures(...WRITE_FAILURES) },
    },
  }, async (request) => ok(await service.redeliver(actorOf(request), request.params.deliveryId), "redelivery queued"));
};
