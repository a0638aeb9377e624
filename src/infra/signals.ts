/**
 * Cross-instance signals: "something about X changed, look again". A long poll subscribes to a
 * channel, and whichever instance changes the state publishes on it after its commit, so the
 * waiter wakes at once wherever it runs (API.md §4.5 `wait`).
 *
 * A signal carries no state, only a hint: a subscriber always re-reads the database. That makes
 * every transport's failure modes harmless: a duplicate wakes a waiter twice, a lost one costs
 * only latency (waiters also re-check on a slow timer, and every subscriber is woken whenever a
 * lost broker connection comes back).
 *
 * Transports: Redis pub/sub when REDIS_URL is set; otherwise PostgreSQL LISTEN/NOTIFY on a
 * dedicated connection; on the embedded PGlite (one process) an in-process emitter. Every
 * publish is also delivered in-process at once, so a waiter on the publishing instance never
 * depends on the broker's round trip.
 */
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type { Redis } from "ioredis";
import type { Database, Listener } from "./db.ts";

export type SignalHandler = (payload: string) => void;

export interface Signals {
  /** Short name for logs (`memory`, `postgres`, `redis`). */
  readonly name: string;
  /** Tells every subscriber of `channel` on every instance. Never throws: a lost signal only costs latency. */
  publish(channel: string, payload?: string): Promise<void>;
  /**
   * Calls `fn` for each signal on `channel` until the returned function is called. `fn` is
   * also called with "" after a broker reconnect (signals may have been missed meanwhile).
   */
  subscribe(channel: string, fn: SignalHandler): () => void;
  /** Resolves once signals published from now on will reach this instance. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** The one PostgreSQL channel / Redis channel all signals travel on, tagged with their own channel. */
const BROKER_CHANNEL = "latchkey_signals";
/** NOTIFY payloads must stay under 8000 bytes. */
const MAX_PAYLOAD_BYTES = 7000;
/** Longest `ready()` waits for a broker that is down. */
const READY_TIMEOUT_MS = 2000;
/** Emitted locally to every subscriber when a broker connection came back. */
const RESET = Symbol("reset");

interface Envelope {
  c: string;
  p: string;
  /** The publishing instance: its own echo is skipped (it was delivered locally already). */
  o: string;
}

class LocalHub {
  private readonly emitter = new EventEmitter();
  constructor() {
    this.emitter.setMaxListeners(0);
  }

  emit(channel: string, payload: string): void {
    this.emitter.emit(channel, payload);
  }

  reset(): void {
    this.emitter.emit(RESET);
  }

  subscribe(channel: string, fn: SignalHandler): () => void {
    const onReset = () => fn("");
    this.emitter.on(channel, fn);
    this.emitter.on(RESET, onReset);
    return () => {
      this.emitter.off(channel, fn);
      this.emitter.off(RESET, onReset);
    };
  }
}

function checkPayload(channel: string, payload: string): void {
  if (Buffer.byteLength(channel) + Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) {
    throw new Error(`signal on ${channel} is too large (at most ${MAX_PAYLOAD_BYTES} bytes)`);
  }
}

/** One process: PGlite deployments and unit tests. */
export function inProcessSignals(): Signals {
  const hub = new LocalHub();
  return {
    name: "memory",
    async publish(channel, payload = "") {
      hub.emit(channel, payload);
    },
    subscribe: (channel, fn) => hub.subscribe(channel, fn),
    ready: async () => undefined,
    close: async () => undefined,
  };
}

export interface BrokerSignalsOptions {
  /** Broker trouble (a lost connection, a failed publish): logged, never thrown. */
  onError?: (err: unknown) => void;
}

function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    promise.then(done, done);
  });
}

/** A random id of this instance's signals, so it can skip its own echoes. */
const instanceTag = () => randomBytes(8).toString("hex");

function parseEnvelope(raw: string): Envelope | undefined {
  try {
    const parsed = JSON.parse(raw) as Partial<Envelope>;
    return typeof parsed.c === "string" && typeof parsed.p === "string" && typeof parsed.o === "string" ? (parsed as Envelope) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * PostgreSQL LISTEN/NOTIFY: one dedicated LISTEN connection per instance; NOTIFY through the
 * pool. NOTIFY is delivered to every session listening on the same database.
 */
export function postgresSignals(db: Database & Required<Pick<Database, "listen">>, options: BrokerSignalsOptions = {}): Signals {
  const hub = new LocalHub();
  const origin = instanceTag();
  const listening: Promise<Listener> = db.listen(BROKER_CHANNEL, {
    onNotify(raw) {
      const envelope = parseEnvelope(raw);
      if (envelope && envelope.o !== origin) hub.emit(envelope.c, envelope.p);
    },
    onReconnect: () => hub.reset(),
    onError: (err) => options.onError?.(err),
  });
  // Waited for once: while the database is unreachable, waiters fall back to their re-check timer.
  const ready = settledWithin(listening, READY_TIMEOUT_MS);
  return {
    name: "postgres",
    async publish(channel, payload = "") {
      hub.emit(channel, payload);
      try {
        checkPayload(channel, payload);
        await db.query("SELECT pg_notify($1, $2)", [BROKER_CHANNEL, JSON.stringify({ c: channel, p: payload, o: origin } satisfies Envelope)]);
      } catch (err) {
        options.onError?.(err);
      }
    },
    subscribe: (channel, fn) => hub.subscribe(channel, fn),
    ready: () => ready,
    close: async () => (await listening).close(),
  };
}

/**
 * Redis pub/sub: a dedicated subscriber connection (a subscribed Redis connection can do
 * nothing else); PUBLISH through the shared client. ioredis re-subscribes after a reconnect.
 */
export function redisSignals(redis: Redis, options: BrokerSignalsOptions = {}): Signals {
  const hub = new LocalHub();
  const origin = instanceTag();
  // Commands queue while disconnected (the SUBSCRIBE below waits for the first connection).
  const subscriber = redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
  let everReady = false;
  subscriber.on("error", (err) => options.onError?.(err));
  subscriber.on("ready", () => {
    if (everReady) hub.reset();
    everReady = true;
  });
  subscriber.on("message", (_channel: string, raw: string) => {
    const envelope = parseEnvelope(raw);
    if (envelope && envelope.o !== origin) hub.emit(envelope.c, envelope.p);
  });
  const subscribed = subscriber.subscribe(BROKER_CHANNEL).then(() => undefined, (err: unknown) => options.onError?.(err));
  // Waited for once: while Redis is down, waiters fall back to their re-check timer.
  const ready = settledWithin(subscribed, READY_TIMEOUT_MS);
  return {
    name: "redis",
    async publish(channel, payload = "") {
      hub.emit(channel, payload);
      try {
        checkPayload(channel, payload);
        await redis.publish(BROKER_CHANNEL, JSON.stringify({ c: channel, p: payload, o: origin } satisfies Envelope));
      } catch (err) {
        options.onError?.(err);
      }
    },
    subscribe: (channel, fn) => hub.subscribe(channel, fn),
    ready: () => ready,
    async close() {
      subscriber.disconnect();
    },
  };
}

/** Redis when there is one, else PostgreSQL LISTEN/NOTIFY, else (PGlite) in-process. */
export function createSignals(input: { db: Database; redis?: Redis } & BrokerSignalsOptions): Signals {
  const { db, redis, ...options } = input;
  if (redis) return redisSignals(redis, options);
  if (db.listen) return postgresSignals(db as Database & Required<Pick<Database, "listen">>, options);
  return inProcessSignals();
}
