/**
 * The outbox dispatcher: turns recorded events (rows in `events`, API.md §5) into one delivery
 * per subscribed endpoint, in batches, each batch one statement (see
 * webhookQueueRepository.fanOut). Any number of instances run it; SKIP LOCKED keeps them off
 * each other's batches.
 *
 * The deliveries it creates are born leased to this instance's worker, as many as the worker
 * has room for, so most deliveries go out without a separate claim. While the worker is full
 * and events are waiting, the dispatcher waits for room instead of fanning out deliveries it
 * cannot take (another instance with room takes those events meanwhile).
 *
 * When this process records an event it is told at once (`hint`), but inside the recording
 * transaction, before the event is visible. So after a hint the dispatcher looks again at
 * short, growing intervals for about a second, which finds the event within milliseconds of
 * its commit; otherwise it polls (`pollIntervalMs`), which is also how events recorded by
 * other instances are found.
 */
import { delay, Wakeup } from "./webhooks.wakeup.ts";
import type { ClaimedRow, WebhookQueueRepository } from "./webhooks.repository.ts";
import type { Reservation } from "./webhooks.worker.ts";

/** The worker side the dispatcher leases for. */
export interface LeasingWorker {
  reserve(): Reservation | undefined;
  adopt(reservation: Reservation, rows: ClaimedRow[]): void;
  cancel(reservation: Reservation): void;
}

export interface OutboxDispatcherOptions {
  queue: Pick<WebhookQueueRepository, "fanOut">;
  worker: LeasingWorker;
  pollIntervalMs: number;
  /** Events per statement at most. */
  batchSize?: number;
  /** Told how many deliveries a batch created (to wake the delivery worker). */
  onDeliveriesCreated: (count: number) => void;
  onError: (err: unknown) => void;
}

/** How long after a hint the dispatcher keeps looking eagerly for the hinted event's commit. */
export const HINT_WINDOW_MS = 1000;
/** Eager looks start this soon after a hint and back off to MAX_EAGER_DELAY_MS. */
const FIRST_EAGER_DELAY_MS = 1;
const MAX_EAGER_DELAY_MS = 100;
/** Between two looks that found less than a full batch, at least this long (bounds idle queries under load). */
const MIN_GAP_MS = 2;
const MAX_ERROR_BACKOFF_MS = 30_000;

export class OutboxDispatcher {
  private running = false;
  private loop?: Promise<void>;
  private readonly wakeup = new Wakeup();
  private hintedUntil = 0;
  private eagerDelayMs = FIRST_EAGER_DELAY_MS;
  private readonly batchSize: number;

  constructor(private readonly options: OutboxDispatcherOptions) {
    this.batchSize = options.batchSize ?? 500;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wakeup.wake();
    await this.loop;
  }

  /** An event was just recorded in this process (its transaction may not have committed yet). */
  hint(): void {
    this.hintedUntil = performance.now() + HINT_WINDOW_MS;
    this.eagerDelayMs = FIRST_EAGER_DELAY_MS;
    this.wakeup.wake();
  }

  /** The worker has room again. */
  roomFreed(): void {
    this.wakeup.wake();
  }

  private async run(): Promise<void> {
    let failures = 0;
    /** The last look found a full batch: more events are waiting. */
    let backlog = false;
    while (this.running) {
      const lease = this.options.worker.reserve();
      if (!lease) {
        // The worker is full: wait until it has room (or the next poll) before fanning out more.
        // Events wait safely in the outbox; another instance with room may take them meanwhile.
        await this.wakeup.sleep(this.options.pollIntervalMs);
        continue;
      }
      // Fan out about as many events as there is room for (most events have one endpoint).
      const limit = Math.min(this.batchSize, Math.max(1, lease.limit));
      let events = 0;
      try {
        const result = await this.options.queue.fanOut(limit, lease);
        this.options.worker.adopt(lease, result.leased);
        events = result.events;
        failures = 0;
        if (result.deliveries > result.leased.length) this.options.onDeliveriesCreated(result.deliveries - result.leased.length);
      } catch (err) {
        this.options.worker.cancel(lease);
        failures++;
        this.options.onError(err);
        await this.wakeup.sleep(Math.min(this.options.pollIntervalMs * 2 ** failures, MAX_ERROR_BACKOFF_MS));
        continue;
      }
      if (!this.running) break;
      backlog = events === limit;
      if (backlog) continue;
      if (events > 0) this.eagerDelayMs = FIRST_EAGER_DELAY_MS;
      await delay(MIN_GAP_MS);
      if (performance.now() < this.hintedUntil) {
        await this.wakeup.sleep(this.eagerDelayMs);
        this.eagerDelayMs = Math.min(this.eagerDelayMs * 2, MAX_EAGER_DELAY_MS);
      } else {
        await this.wakeup.sleep(this.options.pollIntervalMs);
      }
    }
  }
}
