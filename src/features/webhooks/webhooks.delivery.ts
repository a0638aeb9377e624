/**
 * Webhook delivery in one instance: the outbox dispatcher, the delivery worker, their shared
 * HTTP client and metrics, and the sweep of expired idempotency records, started and stopped
 * together (webhooks.routes.ts ties them to the app's onReady/onClose). Settings come from
 * config (WEBHOOK_*) and may be overridden through `buildApp(config, { webhooks })` — tests use
 * a retry schedule in milliseconds and a fixed DNS table.
 */
import type { Config } from "../../config.ts";
import type { Clock } from "../../infra/clock.ts";
import type { Keyring } from "../../infra/crypto.ts";
import type { Database } from "../../infra/db.ts";
import { onEventRecorded } from "../../infra/events.ts";
import { createGuardedHttpClient, type GuardedHttpClient } from "../../infra/http-client.ts";
import { idempotencyRepository } from "../../infra/idempotency.repository.ts";
import { systemResolver, type AddressPolicy, type HostResolver } from "../../infra/ssrf.ts";
import { HINT_WINDOW_MS, OutboxDispatcher } from "./webhooks.dispatcher.ts";
import type { WebhookMetrics } from "./webhooks.metrics.ts";
import type { WebhookQueueRepository } from "./webhooks.repository.ts";
import { DeliveryWorker } from "./webhooks.worker.ts";

/** `buildApp(config, { webhooks })`: overrides of the WEBHOOK_* settings for this instance. */
export interface WebhookDeps {
  /** Run the dispatcher and the delivery worker here (default WEBHOOK_WORKER). False for document-only builds. */
  worker?: boolean;
  retryScheduleMs?: number[];
  attemptTimeoutMs?: number;
  pollIntervalMs?: number;
  concurrency?: number;
  endpointConcurrency?: number;
  leaseMs?: number;
  /** DNS for the SSRF guard (tests: a fixed table). */
  resolveHost?: HostResolver;
  /** Jitter source (tests: fixed). */
  random?: () => number;
  /** How long stop() lets attempts in flight finish. */
  stopGraceMs?: number;
}

export interface WebhookSettings {
  runWorker: boolean;
  retryScheduleMs: number[];
  attemptTimeoutMs: number;
  pollIntervalMs: number;
  concurrency: number;
  endpointConcurrency: number;
  leaseMs?: number;
  addressPolicy: AddressPolicy;
  random?: () => number;
  stopGraceMs?: number;
}

export function webhookSettings(config: Config, deps: WebhookDeps = {}): WebhookSettings {
  return {
    runWorker: deps.worker ?? config.WEBHOOK_WORKER,
    retryScheduleMs: deps.retryScheduleMs ?? config.WEBHOOK_RETRY_SCHEDULE_MS,
    attemptTimeoutMs: deps.attemptTimeoutMs ?? config.WEBHOOK_TIMEOUT_MS,
    pollIntervalMs: deps.pollIntervalMs ?? config.WEBHOOK_POLL_INTERVAL_MS,
    concurrency: deps.concurrency ?? config.WEBHOOK_CONCURRENCY,
    endpointConcurrency: deps.endpointConcurrency ?? config.WEBHOOK_ENDPOINT_CONCURRENCY,
    leaseMs: deps.leaseMs,
    addressPolicy: { allowPrivate: config.WEBHOOK_ALLOW_PRIVATE, resolve: deps.resolveHost ?? systemResolver },
    random: deps.random,
    stopGraceMs: deps.stopGraceMs,
  };
}

/**
 * Cross-instance "look again" signals (src/infra/signals.ts: Redis, PostgreSQL NOTIFY or
 * in-process). Only a hint: every instance also polls.
 */
export interface WebhookSignals {
  publish(channel: string, payload?: string): Promise<void>;
  subscribe(channel: string, fn: (payload: string) => void): () => void;
}

/**
 * "Deliveries were created or made due; claim some": published after a fan-out leaves
 * deliveries this instance cannot take, and after a delivery becomes due now (test events,
 * redeliveries) on an instance that runs no worker.
 */
export const DELIVERIES_DUE_SIGNAL = "webhooks.due";
/**
 * "Events were just recorded; fan them out": published by an instance that runs no dispatcher
 * (WEBHOOK_WORKER=false) when it records an event, so that the instances that deliver find it
 * within milliseconds of its commit rather than at their next poll.
 */
export const EVENTS_RECORDED_SIGNAL = "webhooks.events";
/** At most one signal per channel per this time from one instance (a hint, not a message per event). */
const SIGNAL_INTERVAL_MS = 50;
/**
 * An events signal is sent before the recording transaction commits, and a dispatcher keeps
 * looking for HINT_WINDOW_MS after one; shortly before that window closes, it is sent once
 * more, for a commit that took longer.
 */
const EVENTS_SIGNAL_FOLLOW_UP_MS = HINT_WINDOW_MS - 100;

/** Expired Idempotency-Key records are swept this often (they are already ignored once expired). */
const IDEMPOTENCY_SWEEP_INTERVAL_MS = 10 * 60_000;

export interface WebhookDelivery {
  start(): void;
  stop(): Promise<void>;
  /** Deliveries may be due now (a test event, a redelivery): wakes this instance's worker, or tells the instances that have one. */
  wake(): void;
}

export function createWebhookDelivery(input: {
  db: Database;
  queue: WebhookQueueRepository;
  keyring: Keyring;
  clock: Clock;
  metrics: WebhookMetrics;
  settings: WebhookSettings;
  signals?: WebhookSignals;
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}): WebhookDelivery {
  const { settings, log } = input;
  let http: GuardedHttpClient | undefined;
  let worker: DeliveryWorker | undefined;
  let dispatcher: OutboxDispatcher | undefined;
  let started = false;
  const unsubscribers: Array<() => void> = [];
  let sweep: NodeJS.Timeout | undefined;
  const lastSignalAt = new Map<string, number>();
  /** Tells the other instances (throttled): their workers help with what this one queued, or their dispatchers fan out what it recorded. */
  const announce = (channel: string) => {
    const now = performance.now();
    if (!input.signals || now - (lastSignalAt.get(channel) ?? -Infinity) < SIGNAL_INTERVAL_MS) return;
    lastSignalAt.set(channel, now);
    void input.signals.publish(channel).catch(() => undefined);
  };

  let followUp: NodeJS.Timeout | undefined;
  const announceEvents = () => {
    announce(EVENTS_RECORDED_SIGNAL);
    followUp ??= setTimeout(() => {
      followUp = undefined;
      lastSignalAt.delete(EVENTS_RECORDED_SIGNAL);
      announce(EVENTS_RECORDED_SIGNAL);
    }, EVENTS_SIGNAL_FOLLOW_UP_MS);
    followUp.unref();
  };

  return {
    start() {
      if (started) return;
      started = true;
      if (!settings.runWorker) {
        // An API-only instance: the instances that deliver learn of its events at once.
        unsubscribers.push(onEventRecorded(announceEvents));
        return;
      }
      http = createGuardedHttpClient(settings.addressPolicy);
      const activeWorker = new DeliveryWorker(
        { queue: input.queue, http, openSecret: (sealed, endpointId) => input.keyring.open(sealed, endpointId), metrics: input.metrics, log },
        {
          retryScheduleMs: settings.retryScheduleMs,
          attemptTimeoutMs: settings.attemptTimeoutMs,
          pollIntervalMs: settings.pollIntervalMs,
          concurrency: settings.concurrency,
          endpointConcurrency: settings.endpointConcurrency,
          leaseMs: settings.leaseMs,
          random: settings.random,
          stopGraceMs: settings.stopGraceMs,
        },
      );
      worker = activeWorker;
      const activeDispatcher = new OutboxDispatcher({
        queue: input.queue,
        worker: activeWorker,
        pollIntervalMs: settings.pollIntervalMs,
        onDeliveriesCreated: () => {
          activeWorker.wake();
          announce(DELIVERIES_DUE_SIGNAL);
        },
        onError: (err) => log.warn({ err }, "could not fan out webhook events; retrying"),
      });
      dispatcher = activeDispatcher;
      activeWorker.onRoomFreed(() => activeDispatcher.roomFreed());
      unsubscribers.push(onEventRecorded(() => activeDispatcher.hint()));
      if (input.signals) {
        unsubscribers.push(input.signals.subscribe(DELIVERIES_DUE_SIGNAL, () => activeWorker.wake()));
        // Sent before the recording transaction commits: hint() keeps looking until the event shows.
        unsubscribers.push(input.signals.subscribe(EVENTS_RECORDED_SIGNAL, () => activeDispatcher.hint()));
      }
      activeWorker.start();
      activeDispatcher.start();

      const idempotency = idempotencyRepository(input.db.prisma);
      sweep = setInterval(() => {
        idempotency.purgeExpired(input.clock.now()).catch((err) => log.warn({ err }, "could not purge expired idempotency records"));
      }, IDEMPOTENCY_SWEEP_INTERVAL_MS);
      sweep.unref();
    },
    async stop() {
      if (!started) return;
      started = false;
      for (const unsubscribeOne of unsubscribers.splice(0)) unsubscribeOne();
      clearTimeout(followUp);
      followUp = undefined;
      if (sweep) clearInterval(sweep);
      await dispatcher?.stop();
      await worker?.stop();
      await http?.close();
      worker = undefined;
      dispatcher = undefined;
      http = undefined;
    },
    wake() {
      // Without a worker here, the instances that have one claim it.
      if (worker) worker.wake();
      else if (started) announce(DELIVERIES_DUE_SIGNAL);
    },
  };
}
