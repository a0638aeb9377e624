/**
 * Route schemas for `/webhooks` (API.md §5): the OpenAPI source and the edge validation.
 * Management bodies are closed (`additionalProperties: false`): a misspelt field is a 400
 * naming it, not a silent no-op.
 */
import { Type } from "typebox";
import { EVENT_TYPES } from "../../infra/events.ts";

export const EventType = Type.Enum([...EVENT_TYPES], { description: "An event type (API.md §5)" });

const Url = Type.String({
  minLength: 1,
  maxLength: 2048,
  description: "Absolute http(s) URL of your receiver. Hosts resolving to loopback, private, link-local, multicast or metadata addresses are refused unless the server runs with WEBHOOK_ALLOW_PRIVATE=true; redirects are not followed",
});
const Description = Type.Union([Type.String({ maxLength: 256 }), Type.Null()], { description: "A note for yourself" });
const Events = Type.Array(EventType, { maxItems: EVENT_TYPES.length, uniqueItems: true, description: "Event types to receive; empty or omitted: every type" });
const Enabled = Type.Boolean({ description: "A disabled endpoint receives nothing; its pending deliveries wait until it is enabled again" });
/** Printable ASCII without spaces: the secret is an HMAC key typed into receivers' configuration. */
const Secret = Type.String({
  pattern: "^[!-~]{16,256}$",
  description: "Your own signing secret (16–256 printable ASCII characters, no spaces); generated (whsec_…) when omitted. A whsec_<base64> secret is also a Standard Webhooks secret as is; for any other form Standard Webhooks verifiers use its raw bytes",
});

export const CreateEndpointBody = Type.Object({
  url: Url,
  description: Type.Optional(Description),
  events: Type.Optional(Events),
  enabled: Type.Optional(Enabled),
  secret: Type.Optional(Secret),
}, { additionalProperties: false });

export const UpdateEndpointBody = Type.Object({
  url: Type.Optional(Url),
  description: Type.Optional(Description),
  events: Type.Optional(Events),
  enabled: Type.Optional(Enabled),
}, { additionalProperties: false, minProperties: 1, description: "The fields to change; the secret changes only through rotate-secret" });

export const RotateSecretBody = Type.Object({
  secret: Type.Optional(Secret),
}, { additionalProperties: false });

export const TestEventBody = Type.Object({
  event: Type.Optional(Type.Enum([...EVENT_TYPES], { description: "Type of the test event (default webhook.test); its data is { test: true, endpointId }" })),
}, { additionalProperties: false });

export const EndpointParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, description: "Endpoint id (whk_…)" }) });
export const DeliveryParams = Type.Object({ deliveryId: Type.String({ minLength: 1, maxLength: 64, description: "Delivery id (whd_…), as sent in X-SecureKey-Delivery" }) });

const Cursor = Type.String({ minLength: 1, maxLength: 256, description: "nextCursor of the previous page" });
const Limit = Type.Integer({ minimum: 1, maximum: 100, default: 20, description: "Page size (default 20)" });

export const PageQuery = Type.Object({ cursor: Type.Optional(Cursor), limit: Type.Optional(Limit) });
export const DeliveriesQuery = Type.Object({
  cursor: Type.Optional(Cursor),
  limit: Type.Optional(Limit),
  status: Type.Optional(Type.Enum(["pending", "succeeded", "failed"], { description: "Only deliveries in this state" })),
});

// ── answers ─────────────────────────────────────────────────────────────────────────────────

const DateTime = Type.String({ format: "date-time" });

const endpointFields = {
  id: Type.String({ description: "whk_…" }),
  url: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  events: Type.Array(Type.String(), { description: "Subscribed event types; empty: every type" }),
  enabled: Type.Boolean(),
  previousSecretExpiresAt: Type.Union([DateTime, Type.Null()], { description: "While a rotation lasts, the previous secret also signs until this time" }),
  createdAt: DateTime,
  updatedAt: DateTime,
};

export const EndpointView = Type.Object(endpointFields);
export const EndpointWithSecret = Type.Object({
  ...endpointFields,
  secret: Type.String({ description: "The signing secret, shown only in this answer" }),
});
export const EndpointList = Type.Object({
  webhooks: Type.Array(EndpointView),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: "Pass as cursor for the next page; null on the last page" }),
});
export const SecretRotation = Type.Object({
  id: Type.String(),
  secret: Type.String({ description: "The new secret, shown only in this answer" }),
  previousSecretExpiresAt: DateTime,
});
export const DeletedEndpoint = Type.Object({ id: Type.String(), deleted: Type.Literal(true) });

export const AttemptView = Type.Object({
  id: Type.String(),
  attemptedAt: DateTime,
  statusCode: Type.Union([Type.Integer(), Type.Null()], { description: "The receiver's HTTP status; null when it did not answer" }),
  durationMs: Type.Integer(),
  error: Type.Union([Type.String(), Type.Null()], { description: "Why the attempt failed; null for a 2xx" }),
  responseBody: Type.Union([Type.String(), Type.Null()], { description: "The first 1 KiB of the receiver's answer" }),
});
export const DeliveryView = Type.Object({
  id: Type.String({ description: "whd_…, the X-SecureKey-Delivery and webhook-id header, the same on every attempt" }),
  eventId: Type.String(),
  endpointId: Type.String(),
  event: Type.String({ description: "Event type" }),
  status: Type.Enum(["pending", "succeeded", "failed"]),
  attemptCount: Type.Integer(),
  nextAttemptAt: Type.Union([DateTime, Type.Null()], { description: "When a pending delivery is attempted next; null once it is final" }),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdAt: DateTime,
  updatedAt: DateTime,
  attempts: Type.Array(AttemptView, { description: "Every attempt, oldest first; a delivery keeps its last 100" }),
});
export const DeliveryList = Type.Object({
  deliveries: Type.Array(DeliveryView),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
export const TestEventResult = Type.Object({
  eventId: Type.String(),
  deliveryId: Type.String(),
  event: Type.String(),
  status: Type.Literal("pending"),
});
