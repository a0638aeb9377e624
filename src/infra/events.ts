/**
 * The one way features record an event (API.md §5): a row in the `events` outbox, written with
 * the transaction client of the state change that caused it, so an event exists exactly when
 * its change committed. Webhook delivery reads the outbox; the payload stored here is the
 * exact body every delivery sends.
 */
import { newId } from "../shared/ids.ts";
import type { Tx } from "./db.ts";

export const EVENT_TYPES = [
  "otp.sent",
  "verification.succeeded",
  "verification.failed",
  "totp.enabled",
  "totp.disabled",
  "webauthn.registered",
  "webauthn.removed",
  "push.device_registered",
  "push.approved",
  "push.denied",
  "push.expired",
  "push.fatigue_suspected",
  "mfa.required",
  "webhook.test",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];
export type EventChannel = "sms" | "email" | "totp" | "webauthn" | "push";

export interface EventInput {
  appId: string;
  type: EventType;
  channel?: EventChannel | null;
  /** The caller's `userId`, when the request named one: delivered as `data.externalUserId`. */
  externalUserId?: string | null;
  data?: Record<string, unknown>;
  at: Date;
}

export interface EventPayload {
  id: string;
  event: EventType;
  channel?: EventChannel;
  createdAt: string;
  data: Record<string, unknown>;
}

export function buildEventPayload(id: string, input: EventInput): EventPayload {
  const data: Record<string, unknown> = {};
  if (input.externalUserId) data.externalUserId = input.externalUserId;
  for (const [key, value] of Object.entries(input.data ?? {})) if (value !== undefined) data[key] = value;
  return {
    id,
    event: input.type,
    ...(input.channel ? { channel: input.channel } : {}),
    createdAt: input.at.toISOString(),
    data,
  };
}

type EventRecordedListener = (event: { id: string; appId: string }) => void;
const recordedListeners = new Set<EventRecordedListener>();

/**
 * Tells `listener` each time this process records an event — synchronously, inside the
 * recording transaction, so before the event is visible: a hint to look soon (the webhook
 * dispatcher), not a promise that it committed. Returns the unsubscribe function.
 */
export function onEventRecorded(listener: EventRecordedListener): () => void {
  recordedListeners.add(listener);
  return () => recordedListeners.delete(listener);
}

/** Records `input` in the outbox with `tx` (the caller's transaction). Returns the payload. */
export async function recordEvent(tx: Tx, input: EventInput): Promise<EventPayload> {
  const id = newId("evt");
  const payload = buildEventPayload(id, input);
  await tx.event.create({
    data: {
      id,
      appId: input.appId,
      type: input.type,
      channel: input.channel ?? null,
      // Compact JSON, exactly what receivers get and sign-check (no trailing newline).
      payload: JSON.stringify(payload),
      createdAt: input.at,
    },
  });
  for (const listener of recordedListeners) {
    try {
      listener({ id, appId: input.appId });
    } catch {
      // A hint that fails must not fail the state change that recorded the event.
    }
  }
  return payload;
}

/**
 * The same hint for events a feature inserts with its own SQL, when the state change and its
 * events must be one statement (the TOTP verify hot path): call it once they are written.
 */
export function announceRecordedEvents(events: Array<{ id: string; appId: string }>): void {
  for (const event of events) {
    for (const listener of recordedListeners) {
      try {
        listener(event);
      } catch {
        // As in recordEvent: a failing hint never fails the change.
      }
    }
  }
}
