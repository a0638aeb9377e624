/**
 * What an API-only instance (WEBHOOK_WORKER=false) tells the instances that deliver
 * (src/features/webhooks/webhooks.delivery.ts), with a recording signals transport: a signal
 * per burst of recorded events at once, and once more a little later — the first one leaves
 * before the recording transaction commits, and a commit that takes longer than the
 * dispatchers' eager looks must not wait for their poll. Across real processes and brokers:
 * webhooks.api-only.test.ts.
 */
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/config.ts";
import { announceRecordedEvents } from "../../../src/infra/events.ts";
import { createWebhookDelivery, DELIVERIES_DUE_SIGNAL, EVENTS_RECORDED_SIGNAL, webhookSettings, type WebhookDelivery, type WebhookSignals } from "../../../src/features/webhooks/webhooks.delivery.ts";

class RecordingSignals implements WebhookSignals {
  readonly published: Array<{ channel: string; at: number }> = [];
  async publish(channel: string): Promise<void> {
    this.published.push({ channel, at: performance.now() });
  }
  subscribe(): () => void {
    return () => undefined;
  }
}

let delivery: WebhookDelivery | undefined;
afterEach(async () => {
  await delivery?.stop();
  delivery = undefined;
});

function apiOnly(signals: RecordingSignals): WebhookDelivery {
  const settings = webhookSettings(loadConfig({ WEBHOOK_WORKER: "false" }));
  // An API-only instance touches neither the database nor the queue.
  delivery = createWebhookDelivery({ settings, signals, log: { warn: () => undefined, error: () => undefined } } as unknown as Parameters<typeof createWebhookDelivery>[0]);
  delivery.start();
  return delivery;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("an API-only instance's signals", () => {
  it("signals a burst of recorded events once at once, and once more about a second later", async () => {
    const signals = new RecordingSignals();
    apiOnly(signals);
    const started = performance.now();
    for (let i = 0; i < 20; i++) announceRecordedEvents([{ id: `evt_${i}`, appId: "app_1" }]);
    expect(signals.published.map((p) => p.channel)).toEqual([EVENTS_RECORDED_SIGNAL]);
    await sleep(1300);
    expect(signals.published.map((p) => p.channel)).toEqual([EVENTS_RECORDED_SIGNAL, EVENTS_RECORDED_SIGNAL]);
    expect(signals.published[1]!.at - started).toBeGreaterThanOrEqual(800);
  });

  it("a test event or redelivery asked of it is signalled to the instances with a worker", async () => {
    const signals = new RecordingSignals();
    apiOnly(signals).wake();
    expect(signals.published.map((p) => p.channel)).toEqual([DELIVERIES_DUE_SIGNAL]);
  });

  it("says nothing once stopped", async () => {
    const signals = new RecordingSignals();
    await apiOnly(signals).stop();
    announceRecordedEvents([{ id: "evt_after", appId: "app_1" }]);
    await sleep(1000);
    expect(signals.published).toEqual([]);
  });
});
