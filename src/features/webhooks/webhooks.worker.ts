/**
 * The delivery worker: holds deliveries leased to this instance — born leased when the
 * dispatcher fans events out (the common case), or claimed when due (retries, and whatever
 * other instances left: webhookQueueRepository.claimDue, SKIP LOCKED, with a lease) — POSTs
 * each one signed to its endpoint, and writes every attempt back in batches. Any number of
 * instances run it against one database; a delivery is attempted only by the instance holding
 * its lease, and an attempt is started only while enough of the lease is left for it to finish
 * (so two instances never send the same attempt at once).
 *
 * Bounded work: at most `concurrency` attempts in flight, at most `endpointConcurrency` to any
 * one endpoint. Beyond those, the worker holds a few leased deliveries per endpoint ready to
 * start, so that fast receivers never wait for the next statement: twice the endpoint's slots for
 * an endpoint it knows nothing about or that answers slowly, up to 32 times for one that
 * answers fast — as many as its slots can start before the lease would be too short (an
 * attempt is never started on a lease that might lapse during it; such a delivery is given
 * back instead). Everything else stays in the database for other instances. A receiver that
 * hangs occupies only its own endpoint's slots, for at most the attempt timeout each; other
 * endpoints keep flowing. An idle worker leases only twice its slots first: the first
 * attempts of a burst start after a short statement, while the next one leases the rest.
 *
 * Retries (API.md §5): attempt n failing schedules attempt n+1 after retryScheduleMs[n-1]
 * (±jitter); a failure with no delay left makes the delivery `failed`. Only a 2xx delivers; a
 * 3xx is a failure (redirects are not followed). When an endpoint that was unreachable (no
 * answer, or 502/503/504) answers 2xx again, its retries waiting out a backoff for the same
 * reason are made due at once: the backoff exists to spare a receiver that is down.
 */
import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import type { GuardedHttpClient, PostOutcome } from "../../infra/http-client.ts";
import type { AttemptResultClass, DeliveryOutcome, WebhookMetrics } from "./webhooks.metrics.ts";
import type { AttemptResult, ClaimedRow, LeaseRequest, WebhookQueueRepository } from "./webhooks.repository.ts";
import { deliveryHeaders, signingKey, type SigningKey } from "./webhooks.signing.ts";
import { delay, Wakeup } from "./webhooks.wakeup.ts";

/** Bytes of each answer kept with its attempt. */
export const RESPONSE_BODY_KEPT_BYTES = 1024;
/** Default lease beyond two attempt timeouts (one waiting for a slot, one running). */
const LEASE_MARGIN_MS = 5000;
/** An attempt starts only if its lease has this much left beyond the attempt timeout. */
const LEASE_SAFETY_MS = 2000;
/** Results are written together: after this many, or this long after the first. */
const FLUSH_BATCH = 500;
const FLUSH_DELAY_MS = 50;
/** Claimed deliveries held per endpoint, in multiples of its slots: at least, and at most. */
const MIN_HOLD_FACTOR = 2;
const MAX_HOLD_FACTOR = 32;
/** What an idle worker leases first, in multiples of its slots (then as much as it holds). */
const STARTING_BATCH_FACTOR = 2;
/** Weight of the newest attempt in an endpoint's moving average of attempt durations. */
const DURATION_EWMA_WEIGHT = 0.2;
/** How many recently attempted endpoints get a room sized by their pace even while holding nothing. */
const RECENT_ENDPOINTS = 256;
/** Consecutive "receiver unavailable" failures after which a 2xx counts as a recovery. */
const RECOVERY_STREAK = 3;
/** At most one recovery sweep per endpoint per this time. */
const RECOVERY_SWEEP_INTERVAL_MS = 10_000;
const MAX_ERROR_BACKOFF_MS = 30_000;

export interface DeliveryWorkerOptions {
  /** Delay before retry n (ms); its length is the number of retries after the first attempt. */
  retryScheduleMs: readonly number[];
  attemptTimeoutMs: number;
  pollIntervalMs: number;
  /** Attempts in flight in this instance, all endpoints together. */
  concurrency: number;
  /** Attempts in flight in this instance to any one endpoint. */
  endpointConcurrency: number;
  /** Claim lease; default 2 × attemptTimeoutMs + 5 s (an attempt may wait one timeout for a slot, then run one). */
  leaseMs?: number;
  /** Relative spread of retry delays (0.2 = ±20 %). */
  jitter?: number;
  random?: () => number;
  /** Wall clock for the signature timestamps (ms since the epoch). */
  now?: () => number;
  /** How long stop() lets attempts in flight finish before interrupting them. */
  stopGraceMs?: number;
}

export interface DeliveryWorkerDeps {
  queue: WebhookQueueRepository;
  http: GuardedHttpClient;
  /** Opens a sealed endpoint secret (keyring.open bound to the endpoint id). */
  openSecret: (sealed: string, endpointId: string) => string;
  metrics: WebhookMetrics;
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/** Room set aside for deliveries a fan-out or a claim is about to lease; `adopt` or `cancel` returns it. */
export interface Reservation extends LeaseRequest {
  /** performance.now() before the leasing statement was sent. */
  startedAt: number;
}

interface HeldDelivery {
  row: ClaimedRow;
  /** performance.now() by which the lease has surely lapsed (measured from before the claim). */
  leaseEndsAt: number;
}

export class DeliveryWorker {
  private running = false;
  private claimLoop?: Promise<void>;
  private readonly wakeup = new Wakeup();

  private readonly waiting = new Map<string, HeldDelivery[]>();
  private waitingCount = 0;
  private readonly activeByEndpoint = new Map<string, number>();
  private activeCount = 0;
  /** Room reserved by leasing statements in flight. */
  private reservedCount = 0;
  /** The last claim found nothing due: freed room alone is no reason to look again before the poll. */
  private lastClaimEmpty = false;
  /** Endpoints attempted lately (most recent last, at most RECENT_ENDPOINTS), whose pace sizes their room. */
  private readonly recentEndpoints = new Map<string, true>();
  private onRoom?: () => void;
  private readonly inflight = new Set<Promise<void>>();
  private readonly interrupt = new AbortController();

  private results: AttemptResult[] = [];
  private flushTimer?: NodeJS.Timeout;
  private flushChain: Promise<void> = Promise.resolve();
  private toRelease: HeldDelivery[] = [];

  /** Per endpoint: its signing keys (secrets opened once) and its parsed URL. */
  private readonly endpoints = new Map<string, { sealed: string; previous: string | null; keys: SigningKey[]; url: string; target: URL }>();
  private readonly unavailableStreak = new Map<string, number>();
  /** Moving average of attempt durations per endpoint (ms), which sizes what is held for it. */
  private readonly durationEwma = new Map<string, number>();
  private readonly lastRecoverySweep = new Map<string, number>();

  private readonly leaseMs: number;
  private readonly slotsPerEndpoint: number;
  private readonly holdLimit: number;
  private readonly minClaim: number;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(private readonly deps: DeliveryWorkerDeps, private readonly options: DeliveryWorkerOptions) {
    this.leaseMs = options.leaseMs ?? 2 * options.attemptTimeoutMs + LEASE_MARGIN_MS;
    if (this.leaseMs < options.attemptTimeoutMs + LEASE_SAFETY_MS) throw new Error("the lease must outlast an attempt");
    this.slotsPerEndpoint = Math.min(options.endpointConcurrency, options.concurrency);
    this.holdLimit = Math.max(2 * options.concurrency, MAX_HOLD_FACTOR * this.slotsPerEndpoint);
    // Leasing statements cost about the same for 1 row or 100: take room in sizeable batches.
    this.minClaim = Math.max(1, Math.floor(this.holdLimit / 8));
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    // Every attempt in flight listens on it.
    setMaxListeners(0, this.interrupt.signal);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.claimLoop = this.runClaims();
  }

  /** Deliveries may be due (new ones were created, or one was redelivered). */
  wake(): void {
    this.lastClaimEmpty = false;
    this.wakeup.wake();
  }

  /**
   * Stops claiming, gives back what was claimed but not started, lets attempts in flight end
   * (interrupting them after the grace period: they are retried, not counted), and writes
   * every result.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wakeup.wake();
    await this.claimLoop;
    for (const list of this.waiting.values()) this.toRelease.push(...list);
    this.waiting.clear();
    this.waitingCount = 0;
    const grace = setTimeout(() => this.interrupt.abort(), this.options.stopGraceMs ?? Math.min(this.options.attemptTimeoutMs, 3000));
    await Promise.allSettled([...this.inflight]);
    clearTimeout(grace);
    await this.releaseHeld();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    await this.flush({ drain: true, maxFailures: 3 });
  }

  // ───────────────────────────── claiming ─────────────────────────────

  private async runClaims(): Promise<void> {
    let failures = 0;
    while (this.running) {
      const reservation = this.reserve();
      let claimed = 0;
      if (reservation) {
        try {
          const rows = await this.deps.queue.claimDue({ ...reservation, scanLimit: Math.max(4 * reservation.limit, 100) });
          failures = 0;
          claimed = rows.length;
          this.lastClaimEmpty = claimed === 0;
          this.adopt(reservation, rows);
        } catch (err) {
          this.cancel(reservation);
          failures++;
          this.deps.log.warn({ err }, "could not claim webhook deliveries; retrying");
          await this.wakeup.sleep(Math.min(this.options.pollIntervalMs * 2 ** failures, MAX_ERROR_BACKOFF_MS));
          continue;
        }
        if (!this.running) break;
        // A full batch suggests more is due: claim again once there is room.
        if (claimed === reservation.limit) continue;
      }
      await this.wakeup.sleep(this.options.pollIntervalMs);
    }
  }

  /**
   * Sets room aside for a statement about to lease deliveries (a claim, or a fan-out that
   * leases what it creates): undefined while stopped or while too little is free to be worth a
   * statement.
   */
  reserve(): Reservation | undefined {
    if (!this.running) return undefined;
    const held = this.activeCount + this.waitingCount + this.reservedCount;
    let room = this.holdLimit - held;
    if (room < this.minClaim && !(held === 0 && room > 0)) return undefined;
    // Idle: start with a batch the slots can take at once, which a short statement returns, so the
    // first attempts of a burst go out while the next statement leases the rest.
    if (held === 0) room = Math.min(room, STARTING_BATCH_FACTOR * this.options.concurrency);
    const { exclude, roomByEndpoint } = this.endpointRoom();
    this.reservedCount += room;
    return { limit: room, exclude, room: roomByEndpoint, defaultRoom: MIN_HOLD_FACTOR * this.slotsPerEndpoint, leaseMs: this.leaseMs, startedAt: performance.now() };
  }

  /** Takes the deliveries a reservation's statement leased, and starts what it can. */
  adopt(reservation: Reservation, rows: ClaimedRow[]): void {
    this.reservedCount -= reservation.limit;
    for (const row of rows) this.hold({ row, leaseEndsAt: reservation.startedAt + this.leaseMs });
    if (this.running) {
      this.pump();
    } else {
      // Leased while stopping: give them straight back.
      this.toRelease.push(...rows.map((row) => ({ row, leaseEndsAt: 0 })));
      void this.releaseHeld();
    }
  }

  /** The statement failed: nothing was leased. */
  cancel(reservation: Reservation): void {
    this.reservedCount -= reservation.limit;
  }

  /** `fn` is told when room frees up (the dispatcher waits for it before fanning out more). */
  onRoomFreed(fn: () => void): void {
    this.onRoom = fn;
  }

  /**
   * How many claimed deliveries to hold for an endpoint: what its slots can start, at its
   * recent pace, while a lease still has room for a whole attempt.
   */
  private holdLimitOf(endpointId: string): number {
    const average = this.durationEwma.get(endpointId);
    if (average === undefined) return MIN_HOLD_FACTOR * this.slotsPerEndpoint;
    const waitBudgetMs = this.leaseMs - this.options.attemptTimeoutMs - LEASE_SAFETY_MS;
    const rounds = 1 + Math.floor(waitBudgetMs / Math.max(average, 1));
    return this.slotsPerEndpoint * Math.min(MAX_HOLD_FACTOR, Math.max(MIN_HOLD_FACTOR, rounds));
  }

  private heldFor(endpointId: string): number {
    return (this.activeByEndpoint.get(endpointId) ?? 0) + (this.waiting.get(endpointId)?.length ?? 0);
  }

  /**
   * Endpoints already holding their share, and what the others held or lately attempted may
   * still take (any other endpoint may take the default, twice its slots).
   */
  private endpointRoom(): { exclude: string[]; roomByEndpoint: Record<string, number> } {
    const exclude: string[] = [];
    const roomByEndpoint: Record<string, number> = {};
    for (const endpointId of new Set([...this.activeByEndpoint.keys(), ...this.waiting.keys(), ...this.recentEndpoints.keys()])) {
      const room = this.holdLimitOf(endpointId) - this.heldFor(endpointId);
      if (room <= 0) exclude.push(endpointId);
      else roomByEndpoint[endpointId] = room;
    }
    return { exclude, roomByEndpoint };
  }

  private hold(delivery: HeldDelivery): void {
    const list = this.waiting.get(delivery.row.endpoint_id);
    if (list) list.push(delivery);
    else this.waiting.set(delivery.row.endpoint_id, [delivery]);
    this.waitingCount++;
  }

  /** Starts held deliveries while slots are free, one endpoint after another (round robin). */
  private pump(): void {
    let started = true;
    while (started && this.running && this.activeCount < this.options.concurrency && this.waitingCount > 0) {
      started = false;
      for (const endpointId of [...this.waiting.keys()]) {
        if (this.activeCount >= this.options.concurrency) break;
        if ((this.activeByEndpoint.get(endpointId) ?? 0) >= this.options.endpointConcurrency) continue;
        const list = this.waiting.get(endpointId)!;
        const delivery = list.shift()!;
        this.waitingCount--;
        this.waiting.delete(endpointId);
        // Back of the line: the next round serves the other endpoints first.
        if (list.length > 0) this.waiting.set(endpointId, list);
        this.launch(delivery);
        started = true;
      }
    }
  }

  private launch(delivery: HeldDelivery): void {
    if (delivery.leaseEndsAt - performance.now() < this.options.attemptTimeoutMs + LEASE_SAFETY_MS) {
      // Too little lease left to finish an attempt before another instance may claim it.
      this.toRelease.push(delivery);
      void this.releaseHeld();
      return;
    }
    const endpointId = delivery.row.endpoint_id;
    this.activeCount++;
    this.activeByEndpoint.set(endpointId, (this.activeByEndpoint.get(endpointId) ?? 0) + 1);
    const attempt = this.attempt(delivery.row)
      .catch((err) => this.deps.log.error({ err, deliveryId: delivery.row.id }, "webhook attempt crashed"))
      .finally(() => {
        this.inflight.delete(attempt);
        this.activeCount--;
        const left = (this.activeByEndpoint.get(endpointId) ?? 1) - 1;
        if (left > 0) this.activeByEndpoint.set(endpointId, left);
        else this.activeByEndpoint.delete(endpointId);
        this.pump();
        // Claim more once this endpoint's supply runs low, or the worker's overall.
        if (this.running && (this.heldFor(endpointId) <= (3 * this.holdLimitOf(endpointId)) / 4 || 2 * (this.activeCount + this.waitingCount) <= this.holdLimit)) {
          if (!this.lastClaimEmpty) this.wakeup.wake();
          this.onRoom?.();
        }
      });
    this.inflight.add(attempt);
  }

  private async releaseHeld(): Promise<void> {
    const batch = this.toRelease;
    this.toRelease = [];
    if (batch.length === 0) return;
    try {
      await this.deps.queue.release(batch.map((d) => ({ id: d.row.id, lease: d.row.lease })));
    } catch (err) {
      // Their leases lapse by themselves; they are only retried a little later.
      this.deps.log.warn({ err, count: batch.length }, "could not give back webhook deliveries; they return when their lease ends");
    }
  }

  // ───────────────────────────── attempting ─────────────────────────────

  private async attempt(row: ClaimedRow): Promise<void> {
    const attemptedAt = new Date(this.now());
    let outcome: PostOutcome;
    try {
      const endpoint = this.endpointOf(row);
      const headers = deliveryHeaders({
        deliveryId: row.id,
        eventType: row.event_type,
        body: row.payload,
        timestampSeconds: Math.floor(attemptedAt.getTime() / 1000),
        keys: endpoint.keys,
      });
      outcome = await this.deps.http.post(endpoint.target, {
        headers,
        body: row.payload,
        timeoutMs: this.options.attemptTimeoutMs,
        keepBodyBytes: RESPONSE_BODY_KEPT_BYTES,
        signal: this.interrupt.signal,
      });
    } catch (err) {
      this.deps.log.error({ err, deliveryId: row.id, endpointId: row.endpoint_id }, "could not prepare a webhook attempt");
      outcome = { statusCode: null, durationMs: 0, bodyPrefix: null, failure: "network", error: "could not sign the delivery: the endpoint's secret cannot be opened with the configured ENCRYPTION_KEY(S)" };
    }
    const interrupted = this.interrupt.signal.aborted && outcome.failure !== null;
    const status = outcome.statusCode;
    const delivered = outcome.failure === null && status !== null && status >= 200 && status < 300;
    const attemptNumber = row.attempt_count + 1;
    const retryDelayMs = this.options.retryScheduleMs[attemptNumber - 1];

    let result: AttemptResult["outcome"];
    let deliveryOutcome: DeliveryOutcome | undefined;
    if (delivered) {
      result = "succeeded";
      deliveryOutcome = "delivered";
    } else if (interrupted) {
      result = "pending";
    } else if (retryDelayMs === undefined) {
      result = "failed";
      deliveryOutcome = "failed";
    } else {
      result = "pending";
      deliveryOutcome = "retry_scheduled";
    }
    this.deps.metrics.recordAttempt(resultClass(outcome), outcome.durationMs / 1000, deliveryOutcome);

    this.results.push({
      deliveryId: row.id,
      lease: row.lease,
      attempt: {
        id: `wha_${randomUUID().replaceAll("-", "")}`,
        attemptedAt: attemptedAt.toISOString(),
        statusCode: status,
        durationMs: outcome.durationMs,
        error: interrupted ? "interrupted: the server shut down during the attempt; it will be retried" : describeFailure(outcome, delivered),
        responseBody: outcome.bodyPrefix,
      },
      outcome: result,
      retryDelayMs: result === "pending" && !interrupted ? this.jittered(retryDelayMs!) : 0,
      counts: !interrupted,
    });
    this.scheduleFlush();
    if (!interrupted) {
      this.trackAvailability(row.endpoint_id, outcome, delivered);
      const previous = this.durationEwma.get(row.endpoint_id);
      const duration = outcome.failure === "timeout" ? this.options.attemptTimeoutMs : outcome.durationMs;
      this.durationEwma.set(row.endpoint_id, previous === undefined ? duration : previous + DURATION_EWMA_WEIGHT * (duration - previous));
      if (this.durationEwma.size > 10_000) this.durationEwma.clear();
      this.recentEndpoints.delete(row.endpoint_id);
      this.recentEndpoints.set(row.endpoint_id, true);
      if (this.recentEndpoints.size > RECENT_ENDPOINTS) this.recentEndpoints.delete(this.recentEndpoints.keys().next().value!);
    }
  }

  /** The endpoint's signing keys and parsed URL, computed once per secret or URL change. */
  private endpointOf(row: ClaimedRow): { keys: SigningKey[]; target: URL } {
    const cached = this.endpoints.get(row.endpoint_id);
    if (cached && cached.sealed === row.secret_sealed && cached.previous === row.previous_secret_sealed && cached.url === row.url) return cached;
    const keys = [signingKey(this.deps.openSecret(row.secret_sealed, row.endpoint_id))];
    if (row.previous_secret_sealed) keys.push(signingKey(this.deps.openSecret(row.previous_secret_sealed, row.endpoint_id)));
    const entry = { sealed: row.secret_sealed, previous: row.previous_secret_sealed, keys, url: row.url, target: new URL(row.url) };
    if (this.endpoints.size >= 10_000) this.endpoints.clear();
    this.endpoints.set(row.endpoint_id, entry);
    return entry;
  }

  /** `delayMs` spread by ±jitter, so retries of a burst of failures do not return as a burst. */
  private jittered(delayMs: number): number {
    const jitter = this.options.jitter ?? 0.2;
    return Math.max(0, Math.round(delayMs * (1 + jitter * (2 * this.random() - 1))));
  }

  /** Recovery: a 2xx after a run of "unavailable" failures makes the endpoint's waiting retries due. */
  private trackAvailability(endpointId: string, outcome: PostOutcome, delivered: boolean): void {
    if (!delivered) {
      if (isUnavailable(outcome)) this.unavailableStreak.set(endpointId, (this.unavailableStreak.get(endpointId) ?? 0) + 1);
      else this.unavailableStreak.delete(endpointId);
      if (this.unavailableStreak.size > 10_000) this.unavailableStreak.clear();
      return;
    }
    const streak = this.unavailableStreak.get(endpointId) ?? 0;
    this.unavailableStreak.delete(endpointId);
    if (streak < RECOVERY_STREAK) return;
    const now = performance.now();
    if (now - (this.lastRecoverySweep.get(endpointId) ?? -Infinity) < RECOVERY_SWEEP_INTERVAL_MS) return;
    this.lastRecoverySweep.set(endpointId, now);
    if (this.lastRecoverySweep.size > 10_000) this.lastRecoverySweep.clear();
    this.deps.queue.makeRetriesDue([endpointId]).then(
      (count) => {
        if (count > 0) this.wakeup.wake();
      },
      (err) => this.deps.log.warn({ err, endpointId }, "could not bring a recovered endpoint's retries forward"),
    );
  }

  // ───────────────────────────── writing results ─────────────────────────────

  private scheduleFlush(): void {
    if (this.results.length >= FLUSH_BATCH) {
      void this.flush();
    } else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        void this.flush();
      }, FLUSH_DELAY_MS);
    }
  }

  /**
   * Writes buffered results, a batch at a time; retries while running (`maxFailures` when
   * stopping). Results that arrive while a batch is written wait for their own timer unless they
   * fill a batch, so that under load the writes stay few and large (`drain` writes everything).
   */
  private flush({ drain = false, maxFailures = Infinity }: { drain?: boolean; maxFailures?: number } = {}): Promise<void> {
    this.flushChain = this.flushChain.then(async () => {
      let failures = 0;
      while (this.results.length > 0) {
        const batch = this.results.splice(0, FLUSH_BATCH);
        try {
          await this.deps.queue.complete(batch);
          failures = 0;
        } catch (err) {
          failures++;
          this.results.unshift(...batch);
          if (failures >= maxFailures || (!this.running && failures >= 3)) {
            // The leases lapse and the deliveries are attempted again: at least once still holds.
            this.deps.log.error({ err, count: this.results.length }, "could not record webhook attempts; they will be retried");
            this.results = [];
            return;
          }
          this.deps.log.warn({ err, count: batch.length }, "could not record webhook attempts yet; retrying");
          await delay(Math.min(100 * 2 ** failures, 5000));
          continue;
        }
        if (!drain && this.results.length < FLUSH_BATCH) break;
      }
    });
    return this.flushChain;
  }
}

function resultClass(outcome: PostOutcome): AttemptResultClass {
  if (outcome.failure) return outcome.failure;
  const status = outcome.statusCode ?? 0;
  if (status >= 200 && status < 300) return "2xx";
  if (status >= 300 && status < 400) return "3xx";
  if (status >= 400 && status < 500) return "4xx";
  return "5xx";
}

/** No answer, or a gateway saying the receiver behind it is down. */
function isUnavailable(outcome: PostOutcome): boolean {
  if (outcome.failure === "timeout" || outcome.failure === "network") return true;
  return outcome.statusCode === 502 || outcome.statusCode === 503 || outcome.statusCode === 504;
}

function describeFailure(outcome: PostOutcome, delivered: boolean): string | null {
  if (delivered) return null;
  if (outcome.failure) return outcome.error;
  const status = outcome.statusCode!;
  if (status >= 300 && status < 400) {
    const location = outcome.location ? ` (Location: ${outcome.location.slice(0, 200)})` : "";
    return `HTTP ${status}: redirects are not followed${location}`;
  }
  return `HTTP ${status}`;
}
