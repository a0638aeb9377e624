/**
 * Webhook metrics on the app's registry (GET /metrics):
 * - `latchkey_webhook_deliveries_total{outcome}` — what each attempt made of its delivery:
 *   `delivered` (2xx), `retry_scheduled` (failed, another attempt is scheduled), `failed`
 *   (failed, no attempt left);
 * - `latchkey_webhook_attempt_duration_seconds{result}` — attempt latency by result class
 *   (`2xx`, `3xx`, `4xx`, `5xx`, `timeout`, `network`, `blocked`);
 * - `latchkey_webhook_backlog{state}` — pending deliveries `due` now and `scheduled` for a
 *   retry, and `undispatched_events` not yet fanned out; read from the database at scrape time,
 *   so every instance reports the shared queue.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { BacklogCounts } from "./webhooks.repository.ts";

export type DeliveryOutcome = "delivered" | "retry_scheduled" | "failed";
export type AttemptResultClass = "2xx" | "3xx" | "4xx" | "5xx" | "timeout" | "network" | "blocked";

export interface WebhookMetrics {
  deliveries: Counter<"outcome">;
  attemptDuration: Histogram<"result">;
  /** Counts one attempt's outcome and latency (label children cached: this runs per attempt). */
  recordAttempt(result: AttemptResultClass, durationSeconds: number, outcome: DeliveryOutcome | undefined): void;
}

/** The metric named `name` if this registry has it already (two apps sharing one registry). */
function existing<T>(registry: Registry, name: string): T | undefined {
  return registry.getSingleMetric(name) as T | undefined;
}

export function createWebhookMetrics(registry: Registry, options: { backlog: () => Promise<BacklogCounts>; onError: (err: unknown) => void }): WebhookMetrics {
  const deliveries = existing<Counter<"outcome">>(registry, "latchkey_webhook_deliveries_total") ?? new Counter({
    name: "latchkey_webhook_deliveries_total",
    help: "Webhook attempts by what they made of their delivery: delivered, retry_scheduled or failed (no attempt left)",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const attemptDuration = existing<Histogram<"result">>(registry, "latchkey_webhook_attempt_duration_seconds") ?? new Histogram({
    name: "latchkey_webhook_attempt_duration_seconds",
    help: "Webhook attempt latency by result: 2xx, 3xx, 4xx, 5xx, timeout, network, blocked",
    labelNames: ["result"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  if (!existing(registry, "latchkey_webhook_backlog")) {
    new Gauge({
      name: "latchkey_webhook_backlog",
      help: "Webhook work waiting: deliveries due now, deliveries scheduled for a retry, events not yet fanned out",
      labelNames: ["state"],
      registers: [registry],
      async collect() {
        try {
          const counts = await options.backlog();
          this.set({ state: "due" }, counts.due);
          this.set({ state: "scheduled" }, counts.scheduled);
          this.set({ state: "undispatched_events" }, counts.undispatchedEvents);
        } catch (err) {
          // A scrape while the database is away keeps the last values instead of failing /metrics.
          options.onError(err);
        }
      },
    });
  }
  // Every outcome appears from the start, at zero, so rate() works before the first failure.
  for (const outcome of ["delivered", "retry_scheduled", "failed"] satisfies DeliveryOutcome[]) deliveries.inc({ outcome }, 0);
  const outcomes = new Map<DeliveryOutcome, ReturnType<typeof deliveries.labels>>();
  const results = new Map<AttemptResultClass, ReturnType<typeof attemptDuration.labels>>();
  return {
    deliveries,
    attemptDuration,
    recordAttempt(result, durationSeconds, outcome) {
      let timer = results.get(result);
      if (!timer) results.set(result, (timer = attemptDuration.labels(result)));
      timer.observe(durationSeconds);
      if (outcome) {
        let counter = outcomes.get(outcome);
        if (!counter) outcomes.set(outcome, (counter = deliveries.labels(outcome)));
        counter.inc();
      }
    },
  };
}
