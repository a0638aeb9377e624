/**
 * Outbound HTTP to addresses customers choose (webhook receivers), over undici. Every
 * connection resolves its host through the SSRF guard (`guardedLookup`), so it goes only to an
 * address that was checked at connect time; IP-literal hosts, which skip the lookup, are
 * checked before the request. Redirects are never followed (a dispatch follows nothing): a 3xx
 * is just an answer. Each call has one deadline covering connect, send and reading the answer.
 * This is the only module that imports undici.
 *
 * Calls go straight to the agent's `dispatch` with a handler that keeps only what an attempt
 * records (status, the Location of a 3xx, the first bytes of the body): no response stream and
 * no AbortController per call — half the CPU of undici's `request` per call, and a webhook
 * worker makes thousands a second.
 */
import { Agent, type Dispatcher } from "undici";
import type { IncomingHttpHeaders } from "node:http";
import type { LookupFunction } from "node:net";
import { assertAllowedLiteral, findGuardError, guardedLookup, type AddressPolicy, type BlockedAddressError, type UnresolvableHostError } from "./ssrf.ts";

export interface PostOptions {
  headers: Record<string, string>;
  /** Sent exactly as given (UTF-8). */
  body: string;
  /** Deadline of the whole exchange, connect to last byte read. */
  timeoutMs: number;
  /** How much of the answer to keep (bytes); the rest is read up to 64 KiB, then dropped. */
  keepBodyBytes: number;
  /** Ends the call early (shutdown); the outcome is then a network failure. */
  signal?: AbortSignal;
}

export type PostFailure = "timeout" | "network" | "blocked";

export interface PostOutcome {
  /** The receiver's HTTP status, or null when there was no answer. */
  statusCode: number | null;
  /** Whole milliseconds from the start of the call to its end. */
  durationMs: number;
  /** The first `keepBodyBytes` of the answer as UTF-8 (invalid sequences replaced), or null. */
  bodyPrefix: string | null;
  /** Why there was no usable answer; null when an answer arrived in time. */
  failure: PostFailure | null;
  /** A short, secret-free description of the failure. */
  error: string | null;
  /** The Location header of a 3xx, for the error message. */
  location?: string;
}

export interface GuardedHttpClient {
  /** `url` may be a parsed URL (callers posting to the same target often parse it once). */
  post(url: string | URL, options: PostOptions): Promise<PostOutcome>;
  close(): Promise<void>;
}

/** An answer larger than this is cut off (the connection is dropped rather than drained). */
const MAX_READ_BYTES = 64 * 1024;

export function createGuardedHttpClient(policy: AddressPolicy): GuardedHttpClient {
  const agent = new Agent({
    connect: { lookup: guardedLookup(policy) as unknown as LookupFunction },
    // Receivers are mostly few and busy: keep connections for reuse, but not forever.
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 30_000,
  });

  return {
    post(url, options) {
      const started = performance.now();
      let target: URL;
      try {
        target = typeof url === "string" ? new URL(url) : url;
        // IP literals never reach the lookup: check them here.
        assertAllowedLiteral(target.hostname, policy);
      } catch (err) {
        return Promise.resolve(failed(err, null, Math.round(performance.now() - started), false));
      }
      return new Promise<PostOutcome>((resolve) => {
        const call = new PostCall(options, started, resolve);
        agent.dispatch({ origin: target.origin, path: `${target.pathname}${target.search}`, method: "POST", headers: options.headers, body: options.body }, call);
      });
    },
    async close() {
      await agent.close().catch(() => undefined);
    },
  };
}

/**
 * One call's handler (undici's dispatch handler interface). It settles exactly once: on the
 * answer's end, on an error, at the deadline or on the caller's signal — the last two without
 * waiting for undici, which is then told to abort (at once if the request is under way, or as
 * soon as it would start).
 */
class PostCall implements Dispatcher.DispatchHandler {
  private settled = false;
  private controller?: Dispatcher.DispatchController;
  private abortReason?: Error;
  private statusCode: number | null = null;
  private location?: string;
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  private readBytes = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly interrupt = () => this.stop(new Error("interrupted"), false);

  constructor(private readonly options: PostOptions, private readonly started: number, private readonly resolve: (outcome: PostOutcome) => void) {
    this.timer = setTimeout(() => this.stop(new Error(`no answer within ${options.timeoutMs} ms`), true), options.timeoutMs);
    if (options.signal?.aborted) this.interrupt();
    else options.signal?.addEventListener("abort", this.interrupt, { once: true });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason) controller.abort(this.abortReason);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // 1xx informational answers come before the real one.
    if (statusCode < 200) return;
    this.statusCode = statusCode;
    if (statusCode >= 300 && statusCode < 400) {
      const location = headers.location;
      this.location = Array.isArray(location) ? location[0] : location;
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.readBytes += chunk.length;
    if (this.keptBytes < this.options.keepBodyBytes) {
      const part = chunk.subarray(0, this.options.keepBodyBytes - this.keptBytes);
      this.kept.push(part);
      this.keptBytes += part.length;
    }
    if (this.readBytes >= MAX_READ_BYTES) {
      // Enough of it: answer with what was read, and drop the connection rather than drain it.
      this.answered();
      controller.abort(new Error("answer too large; the rest was not read"));
    }
  }

  onResponseEnd(): void {
    this.answered();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.settle(failed(err, this.statusCode, this.elapsed(), false));
  }

  /** The deadline passed or the caller gave up: settle now, and stop the request. */
  private stop(reason: Error, timedOut: boolean): void {
    if (this.settled) return;
    this.settle(failed(reason, this.statusCode, this.elapsed(), timedOut, this.options.timeoutMs));
    if (this.controller) this.controller.abort(reason);
    else this.abortReason = reason;
  }

  private answered(): void {
    this.settle({
      statusCode: this.statusCode,
      durationMs: this.elapsed(),
      bodyPrefix: this.keptBytes > 0 ? printable(Buffer.concat(this.kept, this.keptBytes)) : null,
      failure: null,
      error: null,
      ...(this.location ? { location: this.location } : {}),
    });
  }

  private settle(outcome: PostOutcome): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.options.signal?.removeEventListener("abort", this.interrupt);
    this.resolve(outcome);
  }

  private elapsed(): number {
    return Math.round(performance.now() - this.started);
  }
}

/** The outcome of a call that got no usable answer. */
function failed(err: unknown, statusCode: number | null, durationMs: number, timedOut: boolean, timeoutMs = 0): PostOutcome {
  const guard = findGuardError(err);
  if (guard) return { statusCode, durationMs, bodyPrefix: null, failure: guard.name === "BlockedAddressError" ? "blocked" : "network", error: guardMessage(guard) };
  if (timedOut) return { statusCode, durationMs, bodyPrefix: null, failure: "timeout", error: `timed out: no complete answer within ${timeoutMs} ms` };
  return { statusCode, durationMs, bodyPrefix: null, failure: "network", error: networkMessage(err) };
}

function guardMessage(err: BlockedAddressError | UnresolvableHostError): string {
  return err.name === "BlockedAddressError" ? `refused: ${err.message}` : `DNS: ${err.message}`;
}

/** `connect ECONNREFUSED 127.0.0.1:8080`, `socket hang up`, … without stack or internals. */
function networkMessage(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  const message = typeof e?.message === "string" && e.message ? e.message : String(err);
  const code = typeof e?.code === "string" ? e.code : typeof e?.cause?.code === "string" ? e.cause.code : undefined;
  const text = code && !message.includes(code) ? `${code}: ${message}` : message;
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

/** UTF-8 with invalid sequences replaced; NUL removed (PostgreSQL text cannot hold it). */
function printable(bytes: Buffer): string {
  const text = utf8.decode(bytes);
  return text.includes("\u0000") ? text.replaceAll("\u0000", "") : text;
}
