/**
 * `/api/v1/webhooks` (API.md §5): the app's webhook endpoints, managed with its secret key.
 * The same plugin runs this instance's delivery (outbox dispatcher and worker) from the app's
 * onReady to its onClose; with `webhooks.worker` / WEBHOOK_WORKER off, only the signals that
 * tell the delivering instances about this one's events.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { authOf } from "../../infra/auth.ts";
import { AUTHENTICATED_FAILURES, Envelope, failures, ok } from "../../shared/envelope.ts";
import { createWebhookDelivery, webhookSettings, type WebhookDeps, type WebhookSignals } from "./webhooks.delivery.ts";
import { createWebhookMetrics } from "./webhooks.metrics.ts";
import { webhookQueueRepository, webhooksRepository } from "./webhooks.repository.ts";
import {
  CreateEndpointBody,
  DeletedEndpoint,
  DeliveriesQuery,
  DeliveryList,
  DeliveryParams,
  DeliveryView,
  EndpointList,
  EndpointParams,
  EndpointView,
  EndpointWithSecret,
  PageQuery,
  RotateSecretBody,
  SecretRotation,
  TestEventBody,
  TestEventResult,
  UpdateEndpointBody,
} from "./webhooks.schemas.ts";
import { WebhooksService } from "./webhooks.service.ts";
import type { FeatureDeps } from "../feature-deps.ts";

export interface WebhooksRouteOptions extends Pick<FeatureDeps, "config" | "db" | "clock" | "metrics" | "keyring"> {
  /** Cross-instance wake-ups (optional: every instance also polls). */
  signals?: WebhookSignals;
  /** Overrides of the WEBHOOK_* settings (tests, document-only builds). */
  webhooks?: WebhookDeps;
}

const TAGS = ["webhooks"];

/** POSTs whose body fields are all optional also accept no body at all (`curl -X POST` without `-d`). */
const emptyBodyIsEmptyObject = async (request: { body: unknown }) => {
  request.body ??= {};
};
const READ_FAILURES = [...AUTHENTICATED_FAILURES, "FORBIDDEN", "NOT_FOUND"] as const;
const WRITE_FAILURES = [...READ_FAILURES, "CONFLICT", "IDEMPOTENCY_KEY_REUSED"] as const;

export const webhooksRoutes: FastifyPluginAsyncTypebox<WebhooksRouteOptions> = async (app, options) => {
  const settings = webhookSettings(options.config, options.webhooks);
  const repo = webhooksRepository(options.db.prisma);
  const queue = webhookQueueRepository(options.db);
  const metrics = createWebhookMetrics(options.metrics.registry, {
    backlog: () => queue.backlog(),
    onError: (err) => app.log.warn({ err }, "could not read the webhook backlog"),
  });
  const delivery = createWebhookDelivery({ db: options.db, queue, keyring: options.keyring, clock: options.clock, metrics, settings, signals: options.signals, log: app.log });
  const service = new WebhooksService({
    repo,
    queue,
    keyring: options.keyring,
    clock: options.clock,
    addressPolicy: settings.addressPolicy,
    onDeliveryQueued: () => delivery.wake(),
  });
  // With WEBHOOK_WORKER=false it only tells the instances that deliver about this one's events.
  app.addHook("onReady", async () => delivery.start());
  app.addHook("onClose", async () => delivery.stop());

  app.post("/webhooks", {
    schema: {
      tags: TAGS,
      summary: "Add a webhook endpoint; the answer holds its signing secret, shown only this once",
      body: CreateEndpointBody,
      response: { 201: Envelope(EndpointWithSecret), ...failures(...WRITE_FAILURES) },
    },
  }, async (request, reply) => {
    const created = await service.create(authOf(request).appId, request.body);
    return reply.code(201).send(ok(created, "webhook endpoint created; store the secret now, it is not shown again"));
  });

  app.get("/webhooks", {
    schema: {
      tags: TAGS,
      summary: "The app's webhook endpoints, oldest first, a page at a time",
      querystring: PageQuery,
      response: { 200: Envelope(EndpointList), ...failures(...READ_FAILURES) },
    },
  }, async (request) => ok(await service.list(authOf(request).appId, request.query)));

  app.get("/webhooks/:id", {
    schema: {
      tags: TAGS,
      summary: "One webhook endpoint",
      params: EndpointParams,
      response: { 200: Envelope(EndpointView), ...failures(...READ_FAILURES) },
    },
  }, async (request) => ok(await service.get(authOf(request).appId, request.params.id)));

  app.patch("/webhooks/:id", {
    schema: {
      tags: TAGS,
      summary: "Change an endpoint's url, description, subscribed events or enabled state",
      params: EndpointParams,
      body: UpdateEndpointBody,
      response: { 200: Envelope(EndpointView), ...failures(...WRITE_FAILURES) },
    },
  }, async (request) => ok(await service.update(authOf(request).appId, request.params.id, request.body), "webhook endpoint updated"));

  app.delete("/webhooks/:id", {
    schema: {
      tags: TAGS,
      summary: "Remove an endpoint with its deliveries",
      params: EndpointParams,
      response: { 200: Envelope(DeletedEndpoint), ...failures(...READ_FAILURES) },
    },
  }, async (request) => ok(await service.remove(authOf(request).appId, request.params.id), "webhook endpoint deleted"));

  app.post("/webhooks/:id/rotate-secret", {
    preValidation: emptyBodyIsEmptyObject,
    schema: {
      tags: TAGS,
      summary: "Issue a new signing secret; for 24 h the previous one signs too (two signatures per header)",
      params: EndpointParams,
      body: RotateSecretBody,
      response: { 200: Envelope(SecretRotation), ...failures(...WRITE_FAILURES) },
    },
  }, async (request) => ok(await service.rotateSecret(authOf(request).appId, request.params.id, request.body), "secret rotated; store the new secret now, it is not shown again"));

  app.post("/webhooks/:id/test", {
    preValidation: emptyBodyIsEmptyObject,
    schema: {
      tags: TAGS,
      summary: "Queue a test event (webhook.test unless another type is named) for this endpoint only",
      params: EndpointParams,
      body: TestEventBody,
      response: { 200: Envelope(TestEventResult), ...failures(...WRITE_FAILURES) },
    },
  }, async (request) => ok(await service.sendTest(authOf(request).appId, request.params.id, request.body), "test event queued"));

  app.get("/webhooks/:id/deliveries", {
    schema: {
      tags: TAGS,
      summary: "The endpoint's deliveries, newest first, each with every attempt (time, status code, duration, error, first 1 KiB of the answer)",
      params: EndpointParams,
      querystring: DeliveriesQuery,
      response: { 200: Envelope(DeliveryList), ...failures(...READ_FAILURES) },
    },
  }, async (request) => ok(await service.listDeliveries(authOf(request).appId, request.params.id, request.query)));

  app.get("/webhooks/deliveries/:deliveryId", {
    schema: {
      tags: TAGS,
      summary: "One delivery with its attempts",
      params: DeliveryParams,
      response: { 200: Envelope(DeliveryView), ...failures(...READ_FAILURES) },
    },
  }, async (request) => ok(await service.getDelivery(authOf(request).appId, request.params.deliveryId)));

  app.post("/webhooks/deliveries/:deliveryId/redeliver", {
    schema: {
      tags: TAGS,
      summary: "Attempt a delivery again now (one more attempt for a failed one)",
      params: DeliveryParams,
      response: { 200: Envelope(DeliveryView), ...failures(...WRITE_FAILURES) },
    },
  }, async (request) => ok(await service.redeliver(authOf(request).appId, request.params.deliveryId), "redelivery queued"));
};
