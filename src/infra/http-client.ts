/**
 * Outbound HTTP to addresses customers choose (webhook receivers), over undici. Every
 * connection resolves its host through the SSRF guard (`guardedLookup`), so it goes only to an
 * address that was checked at connect time; IP-literal hosts, which skip the lookup, are
 * checked before the request. Redirects are never followed (undici's `request` does not
 * follow them, and none is configured): a 3xx is just an answer. Each call has one deadline
 * covering connect, send and reading the answer. This is the only module that imports undici.
 */
import { Agent, request } from "undici";
import type { LookupFunction } from "node:net";
import type { Readable } from "node:stream";
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
    async post(url, options) {
      const started = performance.now();
      const elapsed = () => Math.round(performance.now() - started);
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new Error(`no answer within ${options.timeoutMs} ms`));
      }, options.timeoutMs);
      const cancel = () => controller.abort(new Error("interrupted"));
      if (options.signal?.aborted) cancel();
      options.signal?.addEventListener("abort", cancel, { once: true });
      let statusCode: number | null = null;
      try {
        const target = typeof url === "string" ? new URL(url) : url;
        // IP literals never reach the lookup: check them here.
        assertAllowedLiteral(target.hostname, policy);
        const response = await request(target, {
          dispatcher: agent,
          method: "POST",
          headers: options.headers,
          body: options.body,
          signal: controller.signal,
        });
        statusCode = response.statusCode;
        const { kept, keptBytes } = await readPrefix(response.body, options.keepBodyBytes);
        const location = statusCode >= 300 && statusCode < 400 ? headerValue(response.headers.location) : undefined;
        return {
          statusCode,
          durationMs: elapsed(),
          bodyPrefix: keptBytes > 0 ? printable(Buffer.concat(kept, keptBytes)) : null,
          failure: null,
          error: null,
          ...(location ? { location } : {}),
        };
      } catch (err) {
        const guard = findGuardError(err);
        if (guard) return { statusCode, durationMs: elapsed(), bodyPrefix: null, failure: guard.name === "BlockedAddressError" ? "blocked" : "network", error: guardMessage(guard) };
        if (timedOut) return { statusCode, durationMs: elapsed(), bodyPrefix: null, failure: "timeout", error: `timed out: no complete answer within ${options.timeoutMs} ms` };
        return { statusCode, durationMs: elapsed(), bodyPrefix: null, failure: "network", error: networkMessage(err) };
      } finally {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", cancel);
      }
    },
    async close() {
      await agent.close().catch(() => undefined);
    },
  };
}

/** Reads an answer, keeping its first `keep` bytes; past MAX_READ_BYTES the rest is dropped with the connection. */
function readPrefix(body: Readable, keep: number): Promise<{ kept: Buffer[]; keptBytes: number }> {
  return new Promise((resolve, reject) => {
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let readBytes = 0;
    const done = () => resolve({ kept, keptBytes });
    body.on("data", (chunk: Buffer) => {
      readBytes += chunk.length;
      if (keptBytes < keep) {
        const part = chunk.subarray(0, keep - keptBytes);
        kept.push(part);
        keptBytes += part.length;
      }
      if (readBytes >= MAX_READ_BYTES) {
        body.off("end", done);
        body.destroy();
        done();
      }
    });
    body.once("end", done);
    body.once("error", reject);
  });
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

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

/** UTF-8 with invalid sequences replaced; NUL removed (PostgreSQL text cannot hold it). */
function printable(bytes: Buffer): string {
  const text = utf8.decode(bytes);
  return text.includes("\u0000") ? text.replaceAll("\u0000", "") : text;
}
