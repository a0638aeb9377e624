/**
 * Managing an app's webhook endpoints (API.md §5): create (secret generated or supplied, shown
 * once, sealed at rest with the keyring bound to the endpoint id), list, read, change, delete,
 * rotate the secret (the previous one keeps signing for 24 h), send a test event, list
 * deliveries with their attempts, redeliver. Target URLs pass the SSRF guard here and again at
 * every delivery (the worker's connection re-resolves and re-checks).
 */
import { decodeCursor as decodePageCursor, encodeCursor } from "../../shared/cursor.ts";
import type { Clock } from "../../infra/clock.ts";
import type { Keyring } from "../../infra/crypto.ts";
import { buildEventPayload, type EventType } from "../../infra/events.ts";
import { BlockedAddressError, resolveCheckedAddresses, type AddressPolicy } from "../../infra/ssrf.ts";
import { newId } from "../../shared/ids.ts";
import { generateWebhookSecret } from "../apps/bootstrap.ts";
import { WEBHOOK_ERRORS } from "./webhooks.errors.ts";
import {
  newDeliveryId,
  type DeliveryRecord,
  type EndpointRecord,
  type ListPosition,
  type WebhookQueueRepository,
  type WebhooksRepository,
} from "./webhooks.repository.ts";

/** While a secret rotates, the previous one keeps signing this long (API.md §5: 24 h). */
export const PREVIOUS_SECRET_TTL_MS = 24 * 60 * 60 * 1000;
/** Each event fans out to every endpoint of its app: keep that bounded. */
export const MAX_ENDPOINTS_PER_APP = 50;
const DEFAULT_PAGE_SIZE = 20;

export interface EndpointView {
  id: string;
  url: string;
  description: string | null;
  events: string[];
  enabled: boolean;
  previousSecretExpiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface DeliveryView {
  id: string;
  eventId: string;
  endpointId: string;
  event: string;
  status: "pending" | "succeeded" | "failed";
  attemptCount: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
  attempts: Array<{ id: string; attemptedAt: string; statusCode: number | null; durationMs: number; error: string | null; responseBody: string | null }>;
}

export interface WebhooksServiceDeps {
  repo: WebhooksRepository;
  queue: WebhookQueueRepository;
  keyring: Keyring;
  clock: Clock;
  addressPolicy: AddressPolicy;
  /** Deliveries may be due now (test event, redelivery): wake the worker. */
  onDeliveryQueued: () => void;
}

export class WebhooksService {
  constructor(private readonly deps: WebhooksServiceDeps) {}

  async create(appId: string, input: { url: string; description?: string | null; events?: string[]; enabled?: boolean; secret?: string }): Promise<EndpointView & { secret: string }> {
    const url = await this.checkUrl(input.url);
    if ((await this.deps.repo.countEndpoints(appId)) >= MAX_ENDPOINTS_PER_APP) throw WEBHOOK_ERRORS.tooManyEndpoints(MAX_ENDPOINTS_PER_APP);
    const id = newId("whk");
    const secret = input.secret ?? generateWebhookSecret();
    const record = await this.deps.repo.insertEndpoint({
      id,
      appId,
      url,
      description: input.description ?? null,
      events: input.events ?? [],
      enabled: input.enabled ?? true,
      secretSealed: this.deps.keyring.seal(secret, id),
    });
    return { ...this.endpointView(record), secret };
  }

  async list(appId: string, page: { cursor?: string; limit?: number }): Promise<{ webhooks: EndpointView[]; nextCursor: string | null }> {
    const limit = page.limit ?? DEFAULT_PAGE_SIZE;
    const rows = await this.deps.repo.listEndpoints(appId, { after: page.cursor ? decodeCursor(page.cursor) : undefined, limit: limit + 1 });
    const shown = rows.slice(0, limit);
    return { webhooks: shown.map((r) => this.endpointView(r)), nextCursor: rows.length > limit ? encodeCursor(shown[shown.length - 1]!) : null };
  }

  async get(appId: string, id: string): Promise<EndpointView> {
    return this.endpointView(await this.endpoint(appId, id));
  }

  async update(appId: string, id: string, patch: { url?: string; description?: string | null; events?: string[]; enabled?: boolean }): Promise<EndpointView> {
    const change = { ...patch };
    if (patch.url !== undefined) {
      await this.endpoint(appId, id); // 404 before a URL complaint about someone else's id
      change.url = await this.checkUrl(patch.url);
    }
    const record = await this.deps.repo.updateEndpoint(appId, id, change);
    if (!record) throw WEBHOOK_ERRORS.endpointNotFound();
    if (patch.enabled === true) this.deps.onDeliveryQueued(); // deliveries that waited while it was disabled
    return this.endpointView(record);
  }

  async remove(appId: string, id: string): Promise<{ id: string; deleted: true }> {
    if (!(await this.deps.repo.deleteEndpoint(appId, id))) throw WEBHOOK_ERRORS.endpointNotFound();
    return { id, deleted: true };
  }

  /** A new secret; the current one becomes the previous one and keeps signing for 24 h. */
  async rotateSecret(appId: string, id: string, input: { secret?: string }): Promise<{ id: string; secret: string; previousSecretExpiresAt: string }> {
    const current = await this.endpoint(appId, id);
    const secret = input.secret ?? generateWebhookSecret();
    const previousSecretExpiresAt = new Date(this.deps.clock.now().getTime() + PREVIOUS_SECRET_TTL_MS);
    const rotated = await this.deps.repo.rotateSecret(appId, id, {
      expectedSealed: current.secretSealed,
      secretSealed: this.deps.keyring.seal(secret, id),
      previousSecretSealed: current.secretSealed,
      previousSecretExpiresAt,
    });
    if (!rotated) {
      if (!(await this.deps.repo.findEndpoint(appId, id))) throw WEBHOOK_ERRORS.endpointNotFound();
      throw WEBHOOK_ERRORS.rotationRace();
    }
    return { id, secret, previousSecretExpiresAt: previousSecretExpiresAt.toISOString() };
  }

  /**
   * Queues one event for this endpoint only, whatever it subscribes to: `webhook.test` by
   * default, or a sample of another type (its data `{ test: true, endpointId }`).
   */
  async sendTest(appId: string, id: string, input: { event?: EventType }): Promise<{ eventId: string; deliveryId: string; event: string; status: "pending" }> {
    const endpoint = await this.endpoint(appId, id);
    if (!endpoint.enabled) throw WEBHOOK_ERRORS.endpointDisabled();
    const type = input.event ?? "webhook.test";
    const eventId = newId("evt");
    const at = this.deps.clock.now();
    const payload = buildEventPayload(eventId, {
      appId,
      type,
      at,
      data: type === "webhook.test" ? { endpointId: id, message: "This is a test event from Latchkey." } : { test: true, endpointId: id },
    });
    const deliveryId = newDeliveryId();
    await this.deps.repo.insertTestDelivery({ appId, endpointId: id, eventId, type, payload: JSON.stringify(payload), createdAt: at, deliveryId });
    this.deps.onDeliveryQueued();
    return { eventId, deliveryId, event: type, status: "pending" };
  }

  async listDeliveries(appId: string, endpointId: string, query: { cursor?: string; limit?: number; status?: "pending" | "succeeded" | "failed" }): Promise<{ deliveries: DeliveryView[]; nextCursor: string | null }> {
    await this.endpoint(appId, endpointId);
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const rows = await this.deps.repo.listDeliveries(appId, endpointId, {
      before: query.cursor ? decodeCursor(query.cursor) : undefined,
      limit: limit + 1,
      status: query.status,
    });
    const shown = rows.slice(0, limit);
    return { deliveries: shown.map(deliveryView), nextCursor: rows.length > limit ? encodeCursor(shown[shown.length - 1]!) : null };
  }

  async getDelivery(appId: string, deliveryId: string): Promise<DeliveryView> {
    const row = await this.deps.repo.findDelivery(appId, deliveryId);
    if (!row) throw WEBHOOK_ERRORS.deliveryNotFound();
    return deliveryView(row);
  }

  /**
   * One more attempt now, whatever the delivery's state (a failed one gets exactly one; a
   * pending one stops waiting for its retry). Refused while an attempt is in flight.
   */
  async redeliver(appId: string, deliveryId: string): Promise<DeliveryView> {
    const outcome = await this.deps.queue.redeliver(appId, deliveryId);
    if (outcome === "missing") throw WEBHOOK_ERRORS.deliveryNotFound();
    if (outcome === "busy") throw WEBHOOK_ERRORS.deliveryInFlight();
    this.deps.onDeliveryQueued();
    return this.getDelivery(appId, deliveryId);
  }

  private async endpoint(appId: string, id: string): Promise<EndpointRecord> {
    const record = await this.deps.repo.findEndpoint(appId, id);
    if (!record) throw WEBHOOK_ERRORS.endpointNotFound();
    return record;
  }

  /** The URL in normal form, once it is http(s), carries no credentials and resolves only to allowed addresses. */
  private async checkUrl(raw: string): Promise<string> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw WEBHOOK_ERRORS.invalidUrl("must be an absolute URL such as https://example.com/hooks/latchkey");
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw WEBHOOK_ERRORS.invalidUrl("must start with https:// or http://");
    if (url.username || url.password) throw WEBHOOK_ERRORS.invalidUrl("must not contain a user name or password; authenticate deliveries by their signature");
    if (!url.hostname) throw WEBHOOK_ERRORS.invalidUrl("must name a host");
    try {
      await resolveCheckedAddresses(url.hostname, this.deps.addressPolicy);
    } catch (err) {
      throw WEBHOOK_ERRORS.invalidUrl(err instanceof BlockedAddressError ? err.message : `${url.hostname} does not resolve to any address`);
    }
    return url.href;
  }

  private endpointView(record: EndpointRecord): EndpointView {
    const rotating = record.previousSecretSealed && record.previousSecretExpiresAt && record.previousSecretExpiresAt > this.deps.clock.now();
    return {
      id: record.id,
      url: record.url,
      description: record.description,
      events: record.events,
      enabled: record.enabled,
      previousSecretExpiresAt: rotating ? record.previousSecretExpiresAt!.toISOString() : null,
      createdAt: record.createdAt.toISOString(),
      updatedAt: record.updatedAt.toISOString(),
    };
  }
}

function deliveryView(row: DeliveryRecord): DeliveryView {
  return {
    id: row.id,
    eventId: row.eventId,
    endpointId: row.endpointId,
    event: row.event.type,
    status: row.status,
    attemptCount: row.attemptCount,
    nextAttemptAt: row.status === "pending" ? row.nextAttemptAt.toISOString() : null,
    lastError: row.lastError,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    attempts: row.attempts.map((a) => ({
      id: a.id,
      attemptedAt: a.attemptedAt.toISOString(),
      statusCode: a.statusCode,
      durationMs: a.durationMs,
      error: a.error,
      responseBody: a.responseBody,
    })),
  };
}

function decodeCursor(cursor: string): ListPosition {
  const position = decodePageCursor(cursor);
  if (!position) throw WEBHOOK_ERRORS.invalidCursor();
  return position;
}
