/**
 * How much the delivery worker leases at a time (src/features/webhooks/webhooks.worker.ts),
 * against an in-memory queue and an HTTP client whose answers the test releases: an idle
 * worker starts with a batch its slots take at once, so the first attempts of a burst go out
 * after a short statement; then it leases up to what it holds.
 */
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import type { GuardedHttpClient, PostOutcome } from "../../../src/infra/http-client.ts";
import { createWebhookMetrics } from "../../../src/features/webhooks/webhooks.metrics.ts";
import type { ClaimedRow, WebhookQueueRepository } from "../../../src/features/webhooks/webhooks.repository.ts";
import { DeliveryWorker } from "../../../src/features/webhooks/webhooks.worker.ts";

const CONCURRENCY = 4;

/** Answers nothing until `answerAll` (or the worker's interrupt). */
class HeldHttp implements GuardedHttpClient {
  readonly calls: Array<(outcome: PostOutcome) => void> = [];
  post(_url: string | URL, options: { signal?: AbortSignal }): Promise<PostOutcome> {
    return new Promise((resolve) => {
      this.calls.push(resolve);
      options.signal?.addEventListener("abort", () => resolve({ statusCode: null, durationMs: 0, bodyPrefix: null, failure: "network", error: "interrupted" }), { once: true });
    });
  }
  answerAll(): void {
    for (const answer of this.calls.splice(0)) answer({ statusCode: 200, durationMs: 1, bodyPrefix: "ok", failure: null, error: null });
  }
  async close(): Promise<void> {}
}

function rows(count: number, from = 0): ClaimedRow[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `whd_${from + i}`,
    endpoint_id: "whe_1",
    event_id: `evt_${from + i}`,
    attempt_count: 0,
    lease: "2026-12-05 00:00:00+00",
    event_type: "webhook.test",
    payload: "{}",
    url: "http://127.0.0.1:9/hooks",
    secret_sealed: "sealed",
    previous_secret_sealed: null,
  }));
}

const queue = {
  claimDue: async () => [],
  complete: async () => undefined,
  release: async () => undefined,
  makeRetriesDue: async () => 0,
} as unknown as WebhookQueueRepository;

let worker: DeliveryWorker | undefined;
afterEach(async () => {
  await worker?.stop();
  worker = undefined;
});

/** A started worker, once its claim loop's first look (which finds nothing) is over. */
async function startWorker(http: HeldHttp): Promise<DeliveryWorker> {
  worker = new DeliveryWorker(
    {
      queue,
      http,
      openSecret: () => "whsec_dGVzdA==",
      metrics: createWebhookMetrics(new Registry(), { backlog: async () => ({ due: 0, scheduled: 0, undispatchedEvents: 0 }), onError: () => undefined }),
      log: { warn: () => undefined, error: () => undefined },
    },
    { retryScheduleMs: [1000], attemptTimeoutMs: 1000, pollIntervalMs: 60_000, concurrency: CONCURRENCY, endpointConcurrency: CONCURRENCY, stopGraceMs: 10 },
  );
  worker.start();
  await new Promise((r) => setImmediate(r));
  return worker;
}

describe("leasing", () => {
  it("an idle worker first leases twice its slots, then as much as it may hold", async () => {
    const http = new HeldHttp();
    const w = await startWorker(http);
    const first = w.reserve()!;
    expect(first.limit).toBe(2 * CONCURRENCY);

    w.adopt(first, rows(first.limit));
    expect(http.calls.length).toBe(CONCURRENCY); // the slots are busy at once, the rest wait ready
    const second = w.reserve()!;
    // It holds 8 of the 128 it may (32 × its 4 slots for one endpoint).
    expect(second.limit).toBe(32 * CONCURRENCY - 2 * CONCURRENCY);
    w.adopt(second, []);
  });

  it("leases a small batch again once everything it held is done", async () => {
    const http = new HeldHttp();
    const w = await startWorker(http);
    const first = w.reserve()!;
    w.adopt(first, rows(first.limit));
    while (http.calls.length > 0) {
      http.answerAll();
      await new Promise((r) => setImmediate(r));
    }
    expect(w.reserve()!.limit).toBe(2 * CONCURRENCY);
  });
});
