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
  | (string & {});

/** A webhook endpoint. */
export interface WebhookEndpoint {
  id: string;
  url: string;
  description: string | null;
  /** Subscribed event types; empty means all. */
  events: WebhookEventType[];
  enabled: boolean;
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
  description?: string;
  enabled?: boolean;
}

/** Input of `client.webhooks.update`: the fields to change. */
export type WebhookUpdateInput = Partial<WebhookCreateInput>;

/** `data` of `client.webhooks.list`. */
export interface WebhookEndpointList {
  webhooks: WebhookEndpoint[];
  nextCursor?: string | null;
}

/** `data` of `client.webhooks.rotateSecret`. */
export interface WebhookSecretRotation {
  /** The new secret, shown once. */
  secret: string;
  /** Until then deliveries carry two signatures, by the old and the new secret. */
  previousSecretExpiresAt?: IsoDateTime | null;
  [field: string]: unknown;
}

/** One try at delivering an event. */
export interface WebhookAttempt {
  attemptedAt: IsoDateTime;
  /** The receiver's HTTP status; `null` when it did not answer. */
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  [field: string]: unknown;
}

/** One event's delivery to one endpoint (its id is the `X-SecureKey-Delivery` header). */
export interface WebhookDelivery {
  id: string;
  eventId: string;
  endpointId: string;
  status: "pending" | "succeeded" | "failed";
  attemptCount: number;
  nextAttemptAt: IsoDateTime | null;
  lastError: string | null;
  createdAt: IsoDateTime;
  attempts?: WebhookAttempt[];
  [field: string]: unknown;
}

/** `data` of `client.webhooks.deliveries`. */
export interface WebhookDeliveryList {
  deliveries: WebhookDelivery[];
  nextCursor?: string | null;
}

/** Input of `client.webhooks.test`. */
export interface WebhookTestInput {
  /** Event type of the test event. */
  event?: WebhookEventType;
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
  async rotateSecret(id: string, options: PostRequestOptions = {}): Promise<WebhookSecretRotation> {
    return this.#transport.request({
      method: "POST",
      path: `${endpointPath(id)}/rotate-secret`,
      body: {},
      ...postOptions(options),
    });
  }

  /** `POST /webhooks/:id/test` — queues a test event for this endpoint. */
  async test(id: string, input: WebhookTestInput = {}, options: PostRequestOptions = {}): Promise<UnspecifiedData> {
    return this.#transport.request({
      method: "POST",
      path: `${endpointPath(id)}/test`,
      body: input,
      ...postOptions(options),
    });
  }

  /** `GET /webhooks/:id/deliveries` — recent deliveries with their attempts, a page at a time. */
  async deliveries(id: string, page: PageInput = {}, options: RequestOptions = {}): Promise<WebhookDeliveryList> {
    return this.#transport.request({
      method: "GET",
      path: `${endpointPath(id)}/deliveries`,
      query: { cursor: page.cursor, limit: page.limit },
      signal: options.signal,
    });
  }

  /** `POST /webhooks/deliveries/:deliveryId/redeliver` — sends a delivery again now. */
  async redeliver(deliveryId: string, options: PostRequestOptions = {}): Promise<UnspecifiedData> {
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
