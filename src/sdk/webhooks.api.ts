/**
 * Managing the app's webhook endpoints (`client.webhooks`, API.md §5 and §9).
 * To check the signature of a delivery you receive, see `verifyWebhookSignature`.
 *
 * @module
 */
import { pathSegment, postOptions, type HttpTransport } from "./transport.ts";
import type { IsoDateTime, PageInput, PostRequestOptions, RequestOptions, UnspecifiedData } from "./types.ts";

/** An event type (API.md §5). */
export type WebhookEventType =
  | "otp.sent"
  | "verification.succeeded"
  | "verification.failed"
  | "totp.enabled"
  | "totp.disabled"
  | "webauthn.registered"
  | "webauthn.removed"
  | "push.device_registered"
  | "push.approved"
  | "push.denied"
  | "push.expired"
  | "push.fatigue_suspected"
  | "mfa.required"
  | "webhook.test"
  | (string & {});

/** A webhook endpoint. */
export interface WebhookEndpoint {
  id: string;
  url: string;
  description: string | null;
  /** Subscribed event types; empty means all. */
  events: WebhookEventType[];
  enabled: boolean;
  /** While a secret rotation lasts, the previous secret also signs until this time. */
  previousSecretExpiresAt: IsoDateTime | null;
  createdAt: IsoDateTime;
  updatedAt: IsoDateTime;
  [field: string]: unknown;
}

/** A webhook endpoint with its signing secret, as creation returns it (once). */
export interface WebhookEndpointWithSecret extends WebhookEndpoint {
  secret: string;
}

/** Input of `client.webhooks.create`. */
export interface WebhookCreateInput {
  /** https URL; private and loopback targets are refused unless the server allows them. */
  url: string;
  /** Event types to receive; omit or leave empty for all. */
  events?: WebhookEventType[];
  description?: string | null;
  enabled?: boolean;
  /**
   * Your own signing secret (16–256 printable ASCII characters, no spaces), e.g. the one your
   * receivers already use; generated (`whsec_…`) when omitted.
   */
  secret?: string;
}

/** Input of `client.webhooks.update`: the fields to change (the secret changes only by rotation). */
export type WebhookUpdateInput = Partial<Omit<WebhookCreateInput, "secret">>;

/** Input of `client.webhooks.rotateSecret`. */
export interface WebhookRotateSecretInput {
  /** The new secret; generated when omitted. */
  secret?: string;
}

/** `data` of `client.webhooks.list`. */
export interface WebhookEndpointList {
  webhooks: WebhookEndpoint[];
  nextCursor?: string | null;
}

/** `data` of `client.webhooks.rotateSecret`. */
export interface WebhookSecretRotation {
  /** The endpoint's id. */
  id: string;
  /** The new secret, shown once. */
  secret: string;
  /** Until then (24 h) deliveries carry two signatures, by the old and the new secret. */
  previousSecretExpiresAt: IsoDateTime;
  [field: string]: unknown;
}

/** One try at delivering an event. */
export interface WebhookAttempt {
  id: string;
  attemptedAt: IsoDateTime;
  /** The receiver's HTTP status; `null` when it did not answer. */
  statusCode: number | null;
  durationMs: number;
  /** Why it failed (`HTTP 500`, `timed out: …`, `refused: …`); `null` for a 2xx. */
  error: string | null;
  /** The first 1 KiB of the receiver's answer. */
  responseBody: string | null;
  [field: string]: unknown;
}

/** One event's delivery to one endpoint (its id is the `X-SecureKey-Delivery` header). */
export interface WebhookDelivery {
  id: string;
  eventId: string;
  endpointId: string;
  /** The event type. */
  event: WebhookEventType;
  status: "pending" | "succeeded" | "failed";
  attemptCount: number;
  /** When a pending delivery is attempted next; `null` once it is final. */
  nextAttemptAt: IsoDateTime | null;
  lastError: string | null;
  createdAt: IsoDateTime;
  updatedAt: IsoDateTime;
  attempts: WebhookAttempt[];
  [field: string]: unknown;
}

/** Page and filter of `client.webhooks.deliveries`. */
export interface WebhookDeliveriesPage extends PageInput {
  status?: "pending" | "succeeded" | "failed";
}

/** `data` of `client.webhooks.deliveries`. */
export interface WebhookDeliveryList {
  deliveries: WebhookDelivery[];
  nextCursor?: string | null;
}

/** Input of `client.webhooks.test`. */
export interface WebhookTestInput {
  /** Event type of the test event (default `webhook.test`). */
  event?: WebhookEventType;
}

/** `data` of `client.webhooks.test`: the queued test delivery. */
export interface WebhookTestResult {
  eventId: string;
  /** Look it up with `client.webhooks.delivery(deliveryId)`. */
  deliveryId: string;
  event: WebhookEventType;
  status: "pending";
  [field: string]: unknown;
}

/** `client.webhooks` — the app's webhook endpoints (`/webhooks/*`). */
export class WebhooksApi {
  readonly #transport: HttpTransport;

  /** @internal Built by {@link TwoFactorClient}. */
  constructor(transport: HttpTransport) {
    this.#transport = transport;
  }

  /** `POST /webhooks` — adds an endpoint; the answer holds its secret, shown only this once. */
  async create(input: WebhookCreateInput, options: PostRequestOptions = {}): Promise<WebhookEndpointWithSecret> {
    return this.#transport.request({ method: "POST", path: "/webhooks", body: input, ...postOptions(options) });
  }

  /** `GET /webhooks` — the app's endpoints, a page at a time. */
  async list(page: PageInput = {}, options: RequestOptions = {}): Promise<WebhookEndpointList> {
    return this.#transport.request({
      method: "GET",
      path: "/webhooks",
      query: { cursor: page.cursor, limit: page.limit },
      signal: options.signal,
    });
  }

  /** `GET /webhooks/:id` — one endpoint. */
  async get(id: string, options: RequestOptions = {}): Promise<WebhookEndpoint> {
    return this.#transport.request({ method: "GET", path: endpointPath(id), signal: options.signal });
  }

  /** `PATCH /webhooks/:id` — changes the given fields. */
  async update(id: string, input: WebhookUpdateInput, options: RequestOptions = {}): Promise<WebhookEndpoint> {
    return this.#transport.request({ method: "PATCH", path: endpointPath(id), body: input, signal: options.signal });
  }

  /** `DELETE /webhooks/:id` — removes an endpoint. */
  async delete(id: string, options: RequestOptions = {}): Promise<UnspecifiedData> {
    return this.#transport.request({ method: "DELETE", path: endpointPath(id), signal: options.signal });
  }

  /**
   * `POST /webhooks/:id/rotate-secret` — issues a new secret. For a while both
   * secrets sign each delivery, so receivers can switch without losing events.
   */
  async rotateSecret(id: string, input: WebhookRotateSecretInput = {}, options: PostRequestOptions = {}): Promise<WebhookSecretRotation> {
    return this.#transport.request({
      method: "POST",
      path: `${endpointPath(id)}/rotate-secret`,
      body: input,
      ...postOptions(options),
    });
  }

  /** `POST /webhooks/:id/test` — queues a test event for this endpoint. */
  async test(id: string, input: WebhookTestInput = {}, options: PostRequestOptions = {}): Promise<WebhookTestResult> {
    return this.#transport.request({
      method: "POST",
      path: `${endpointPath(id)}/test`,
      body: input,
      ...postOptions(options),
    });
  }

  /** `GET /webhooks/:id/deliveries` — recent deliveries with their attempts, a page at a time. */
  async deliveries(id: string, page: WebhookDeliveriesPage = {}, options: RequestOptions = {}): Promise<WebhookDeliveryList> {
    return this.#transport.request({
      method: "GET",
      path: `${endpointPath(id)}/deliveries`,
      query: { cursor: page.cursor, limit: page.limit, status: page.status },
      signal: options.signal,
    });
  }

  /** `GET /webhooks/deliveries/:deliveryId` — one delivery with its attempts. */
  async delivery(deliveryId: string, options: RequestOptions = {}): Promise<WebhookDelivery> {
    return this.#transport.request({
      method: "GET",
      path: `/webhooks/deliveries/${pathSegment("deliveryId", deliveryId)}`,
      signal: options.signal,
    });
  }

  /** `POST /webhooks/deliveries/:deliveryId/redeliver` — sends a delivery again now. */
  async redeliver(deliveryId: string, options: PostRequestOptions = {}): Promise<WebhookDelivery> {
    return this.#transport.request({
      method: "POST",
      path: `/webhooks/deliveries/${pathSegment("deliveryId", deliveryId)}/redeliver`,
      body: {},
      ...postOptions(options),
    });
  }
}

function endpointPath(id: string): string {
  return `/webhooks/${pathSegment("id", id)}`;
}
