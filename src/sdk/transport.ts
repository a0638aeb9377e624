/**
 * HTTP transport of the SDK: base URL, headers, timeouts, and the contract's
 * response envelope (API.md §2) turned into data or a {@link TwoFactorError}.
 * Every namespace goes through {@link HttpTransport.request}; nothing else
 * calls `fetch`.
 *
 * @module
 */
import { TwoFactorError, type ErrorData } from "./errors.ts";

/** The API's base path (API.md, top). */
const API_BASE_PATH = "/api/v1";
/** Default time allowed for one call, connection to last byte. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** How much of a non-JSON answer to keep in `details` for debugging. */
const BODY_PREVIEW_CHARS = 200;

/** A `fetch`-compatible function (the global one, undici's, node-fetch, a test double…). */
export type FetchFunction = (input: string, init: RequestInit) => Promise<Response>;

/** Settings of one {@link HttpTransport}. */
export interface TransportConfig {
  apiKey?: string | undefined;
  baseUrl: string;
  timeoutMs?: number | undefined;
  fetch?: FetchFunction | undefined;
  headers?: Record<string, string> | undefined;
}

/** A query-string value; `undefined` leaves the parameter out. */
export type QueryValue = string | number | boolean | undefined;

/** One API call. */
export interface RequestSpec {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** Path below `/api/v1`, starting with `/`, segments already encoded (see {@link pathSegment}). */
  path: string;
  query?: Record<string, QueryValue> | undefined;
  /** Sent as JSON; `undefined` sends no body. */
  body?: unknown;
  idempotencyKey?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Headers for this call only. */
  headers?: Record<string, string> | undefined;
  /** `false` leaves the API key out (calls authenticated by a device token). */
  authenticate?: boolean | undefined;
  /** Lower bound on this call's timeout (long polls hold the answer on purpose). */
  minTimeoutMs?: number | undefined;
}

/**
 * Normalizes a base URL to `<origin><prefix>/api/v1`: accepts it with or
 * without a trailing slash and with or without `/api/v1`, so
 * `http://localhost:3000`, `http://localhost:3000/` and
 * `http://localhost:3000/api/v1/` all give `http://localhost:3000/api/v1`.
 * A path prefix (a reverse proxy's `/2fa`) is kept.
 *
 * @throws TypeError when the URL is not an absolute http(s) URL or carries a query or fragment.
 */
export function normalizeBaseUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl.trim());
  } catch {
    throw new TypeError(`baseUrl must be an absolute URL, got ${JSON.stringify(baseUrl)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`baseUrl must use http or https, got ${url.protocol}`);
  }
  if (url.search !== "" || url.hash !== "") {
    throw new TypeError("baseUrl must not carry a query string or fragment");
  }
  let path = url.pathname.replace(/\/+$/, "");
  if (!path.endsWith(API_BASE_PATH)) path += API_BASE_PATH;
  return url.origin + path;
}

/**
 * Encodes one path segment (an id the caller gave us).
 *
 * `encodeURIComponent` leaves `.` alone, and URL parsing resolves `.`/`..`
 * segments (even as `%2E%2E`), so an id of `..` would silently address
 * another route: `DELETE /totp/..` is `DELETE /api/v1/`. Such ids are refused.
 *
 * @throws TypeError for an empty id, `.` or `..`.
 */
export function pathSegment(name: string, value: string): string {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`${name} must be a non-empty string`);
  }
  if (value === "." || value === "..") {
    throw new TypeError(`${name} must not be "." or ".."`);
  }
  return encodeURIComponent(value);
}

/**
 * Reads `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP date.
 * @returns whole seconds from `nowMs`, or `undefined` when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, nowMs: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** Sends API calls and unwraps the contract's envelope. */
export class HttpTransport {
  /** Normalized base URL, ending in `/api/v1`. */
  readonly baseUrl: string;
  readonly #apiKey: string | undefined;
  readonly #timeoutMs: number;
  readonly #fetch: FetchFunction;
  readonly #headers: Record<string, string>;

  constructor(config: TransportConfig) {
    this.baseUrl = normalizeBaseUrl(config.baseUrl);
    this.#apiKey = config.apiKey === "" ? undefined : config.apiKey;
    const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new TypeError(`timeoutMs must be a positive number, got ${timeoutMs}`);
    }
    this.#timeoutMs = timeoutMs;
    // Looked up per call, not bound once, so a later global polyfill or stub still applies.
    this.#fetch = config.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#headers = { ...config.headers };
  }

  /**
   * Performs one call.
   * @returns the envelope's `data` (`undefined` when the server sent none).
   * @throws TwoFactorError for every failure the server or the network reports.
   * @throws the signal's reason when the caller's `signal` aborts the call.
   */
  async request<T>(spec: RequestSpec): Promise<T> {
    const url = this.#url(spec);
    const headers = this.#headersFor(spec);
    const timeoutMs = Math.max(this.#timeoutMs, spec.minTimeoutMs ?? 0);

    spec.signal?.throwIfAborted();
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const forwardAbort = (): void => controller.abort(spec.signal?.reason);
    spec.signal?.addEventListener("abort", forwardAbort, { once: true });

    let response: Response;
    let text: string;
    try {
      const init: RequestInit = { method: spec.method, headers, signal: controller.signal };
      if (spec.body !== undefined) init.body = JSON.stringify(spec.body);
      response = await this.#fetch(url, init);
      // The timer keeps running while the body streams in: a stalled body is a timeout too.
      text = await response.text();
    } catch (err) {
      if (timedOut) {
        throw new TwoFactorError({
          code: "TIMEOUT",
          status: 0,
          message: `${spec.method} ${spec.path} got no complete answer within ${timeoutMs} ms`,
          cause: err,
        });
      }
      if (spec.signal?.aborted) throw spec.signal.reason;
      throw new TwoFactorError({
        code: "NETWORK_ERROR",
        status: 0,
        message: `${spec.method} ${spec.path} failed: ${describeCause(err)}`,
        cause: err,
      });
    } finally {
      clearTimeout(timer);
      spec.signal?.removeEventListener("abort", forwardAbort);
    }

    return unwrapEnvelope<T>(response, text);
  }

  #url(spec: RequestSpec): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(spec.query ?? {})) {
      if (value !== undefined) params.set(name, String(value));
    }
    const query = params.toString();
    return this.baseUrl + spec.path + (query === "" ? "" : `?${query}`);
  }

  #headersFor(spec: RequestSpec): Headers {
    // Headers, not a plain object: names are case-insensitive, so a caller's
    // `accept` is replaced by ours rather than sent beside it.
    const headers = new Headers(this.#headers);
    for (const [name, value] of Object.entries(spec.headers ?? {})) headers.set(name, value);
    headers.set("Accept", "application/json");
    if (spec.authenticate !== false && this.#apiKey !== undefined) headers.set("X-API-Key", this.#apiKey);
    if (spec.body !== undefined) headers.set("Content-Type", "application/json");
    if (spec.idempotencyKey !== undefined) headers.set("Idempotency-Key", spec.idempotencyKey);
    return headers;
  }
}

/** Turns an answer into `data`, or throws the {@link TwoFactorError} it describes. */
function unwrapEnvelope<T>(response: Response, text: string): T {
  const { status } = response;
  const ok = status >= 200 && status < 300;
  // A 2xx without a body (204) has nothing to unwrap.
  if (ok && text.trim() === "") return undefined as T;

  const envelope = parseJsonObject(text);
  if (envelope === undefined) {
    const contentType = response.headers.get("content-type") ?? "";
    throw new TwoFactorError({
      code: "INVALID_RESPONSE",
      status,
      message: `Expected a JSON answer, got HTTP ${status} ${contentType || "without a content type"}`,
      details: { contentType, bodyPreview: text.slice(0, BODY_PREVIEW_CHARS) },
    });
  }

  if (ok && envelope["success"] !== false) return envelope["data"] as T;

  const code = typeof envelope["code"] === "string" ? envelope["code"] : `HTTP_${status}`;
  const message =
    firstString(envelope["error"], envelope["message"]) ?? `Request failed with HTTP ${status} (${code})`;
  const data = envelope["data"];
  throw new TwoFactorError({
    code,
    status,
    message,
    details: envelope["details"],
    data: isObject(data) ? (data as ErrorData) : undefined,
    requiredChannels: stringArray(envelope["requiredChannels"]),
    matchedPolicies: stringArray(envelope["matchedPolicies"]),
    retryAfter: parseRetryAfter(response.headers.get("retry-after")),
  });
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringArray(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : undefined;
}

function firstString(...values: unknown[]): string | undefined {
  return values.find((value): value is string => typeof value === "string" && value !== "");
}

/** undici hides the useful part ("ECONNREFUSED") in `cause`. */
function describeCause(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause;
  if (cause instanceof Error && cause.message !== "") return `${err.message} (${cause.message})`;
  return err.message;
}

/**
 * Picks the transport fields out of a POST method's options, so that a caller
 * passing extra keys (plain JavaScript) cannot override `method` or `path`.
 */
export function postOptions(options: {
  idempotencyKey?: string | undefined;
  signal?: AbortSignal | undefined;
}): Pick<RequestSpec, "idempotencyKey" | "signal"> {
  return { idempotencyKey: options.idempotencyKey, signal: options.signal };
}
