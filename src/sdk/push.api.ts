/**
 * Push approval (`client.push`, API.md §4.5): a login request pops up on the
 * user's phone, which approves or denies it.
 *
 * @module
 */
import { pathSegment, postOptions, type HttpTransport } from "./transport.ts";
import type { IsoDateTime, MfaProgress, PostRequestOptions, RequestOptions, UnspecifiedData } from "./types.ts";

/** Longest long poll the server holds (API.md §4.5: `wait` ≤ 30). */
const MAX_WAIT_SECONDS = 30;
/** Time a long poll may take beyond its `wait` before it counts as a timeout. */
const LONG_POLL_GRACE_MS = 10_000;

export type PushPlatform = "ios" | "android" | "web";
export type PushAction = "approve" | "deny";
/** `failed`: no device could be reached when it was sent (the send answered `DELIVERY_FAILED`). */
export type PushStatus = "pending" | "approved" | "denied" | "expired" | "failed";

/** Input of `client.push.registerDevice`. */
export interface PushRegisterDeviceInput {
  userId: string;
  /** Firebase Cloud Messaging registration token; registering it again updates that device. */
  fcmToken: string;
  platform: PushPlatform;
  deviceName?: string;
  /**
   * P-256 public key (JWK or base64 SPKI). A device that registers one must
   * sign every answer (see {@link PushRespondInput.signature}).
   */
  publicKey?: string | Record<string, unknown>;
}

/** `data` of `client.push.registerDevice`. */
export interface PushRegisterDeviceResult {
  deviceId: string;
  /** Secret shown once: the device answers requests with it (`X-Device-Token`). */
  deviceToken: string;
}

/** A device as `listDevices` shows it. */
export interface PushDevice {
  deviceId: string;
  platform: PushPlatform;
  deviceName: string | null;
  /** `false` once FCM reported its token unregistered or invalid; register it again to revive it. */
  active: boolean;
  /** `true` when it registered a public key and must sign its answers. */
  signed: boolean;
  createdAt: IsoDateTime;
  /** Last registration or answer. */
  lastSeenAt: IsoDateTime | null;
  [field: string]: unknown;
}

/** `data` of `client.push.listDevices`. */
export interface PushDeviceList {
  devices: PushDevice[];
}

/** Input of `client.push.send`. */
export interface PushSendInput {
  userId: string;
  title?: string;
  body?: string;
  /** Extra key/values delivered to the app with the notification. */
  data?: Record<string, string>;
  /** Seconds until the request expires; default 120. */
  timeoutSeconds?: number;
  /** Show a 2-digit number on your login screen that the user must pick on the phone. */
  numberMatching?: boolean;
  /** What the phone shows about the attempt (IP, location, browser, …). */
  context?: Record<string, unknown>;
  /** Free label recorded with the verification (`login`, `payment`, …); default `login`. */
  purpose?: string;
}

/** `data` of `client.push.send`. */
export interface PushSendResult {
  requestId: string;
  status: "pending";
  expiresAt: IsoDateTime;
  /** With `numberMatching`: show this on the login screen. */
  matchNumber?: string;
}

/** Third argument of `client.push.respond`. */
export interface PushRespondInput {
  /** With number matching: the number the user picked. */
  matchNumber?: string | number;
  /**
   * The device's `deviceToken`, sent as `X-Device-Token`. With it the call is
   * the device's own answer and the API key is not sent (a client built
   * without `apiKey` can use it); without it the app's key answers.
   */
  deviceToken?: string;
  /**
   * For devices with a public key: base64 ECDSA-SHA256 (DER or raw r‖s) over the UTF-8 string
   * `${requestId}.${action}.${matchNumber}.${timestamp}`, with `matchNumber` exactly as sent
   * (empty when none).
   */
  signature?: string;
  /** Unix seconds the signature was made (±300 s of the server's clock). */
  timestamp?: number;
  /** When your backend relays a device's signed answer with the API key: which device signed it. */
  deviceId?: string;
}

/** `data` of `client.push.respond`. */
export interface PushRespondResult {
  requestId: string;
  status: "approved" | "denied";
  /** `number_mismatch` when a wrong `matchNumber` turned the answer into a denial. */
  reason?: string;
  respondedAt: IsoDateTime;
  [field: string]: unknown;
}

/** Second argument of `client.push.verify`. */
export interface PushVerifyInput {
  userId?: string;
  /** Seconds (≤ 30) the server may hold the answer until the status changes (long poll). */
  wait?: number;
}

/** `data` of `client.push.verify`. */
export interface PushVerifyResult {
  /** `true` only when `status` is `approved`. */
  verified: boolean;
  status: PushStatus;
  respondedAt?: IsoDateTime | null;
  requestId?: string;
  expiresAt?: IsoDateTime;
  /** Why it ended without approval: `user_denied`, `number_mismatch`, `expired`, `delivery_failed`. */
  reason?: string;
  /** On approval: MFA progress for the request's user and purpose (API.md §8). */
  mfa?: MfaProgress;
  [field: string]: unknown;
}

/** Second argument of `client.push.waitForApproval`. */
export interface WaitForApprovalOptions {
  /** Give up after this long; default 120 000 ms (the default push lifetime). */
  timeoutMs?: number;
  /** `wait` of each long poll, seconds (capped at 30); default 25. */
  pollWaitSeconds?: number;
  /**
   * Least time between the starts of two polls, so a server that answers a
   * long poll at once is not hammered; default 1000 ms.
   */
  pollIntervalMs?: number;
  /** Passed to each `verify`. */
  userId?: string;
  /** Stops waiting; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** `client.push` — push approval on the user's registered devices (`/push/*`). */
export class PushApi {
  readonly #transport: HttpTransport;

  /** @internal Built by {@link TwoFactorClient}. */
  constructor(transport: HttpTransport) {
    this.#transport = transport;
  }

  /** `POST /push/devices` — registers (or updates, by `fcmToken`) a device of the user. */
  async registerDevice(input: PushRegisterDeviceInput, options: PostRequestOptions = {}): Promise<PushRegisterDeviceResult> {
    return this.#transport.request({ method: "POST", path: "/push/devices", body: input, ...postOptions(options) });
  }

  /** `GET /push/devices?userId=…` — the user's devices. */
  async listDevices(userId: string, options: RequestOptions = {}): Promise<PushDeviceList> {
    return this.#transport.request({ method: "GET", path: "/push/devices", query: { userId }, signal: options.signal });
  }

  /** `DELETE /push/devices/:deviceId` — removes a device. */
  async removeDevice(deviceId: string, options: RequestOptions = {}): Promise<UnspecifiedData> {
    return this.#transport.request({
      method: "DELETE",
      path: `/push/devices/${pathSegment("deviceId", deviceId)}`,
      signal: options.signal,
    });
  }

  /** `POST /push/send` — asks every active device of the user to approve; see {@link PushApi.waitForApproval}. */
  async send(input: PushSendInput, options: PostRequestOptions = {}): Promise<PushSendResult> {
    return this.#transport.request({ method: "POST", path: "/push/send", body: input, ...postOptions(options) });
  }

  /**
   * `POST /push/respond` — answers a request: from the device (give its
   * `deviceToken`) or from your server with the API key. A second answer
   * fails with `CONFLICT`, a late one with `PUSH_EXPIRED`.
   */
  async respond(
    requestId: string,
    action: PushAction,
    input: PushRespondInput = {},
    options: PostRequestOptions = {},
  ): Promise<PushRespondResult> {
    const { deviceToken, ...fields } = input;
    return this.#transport.request({
      method: "POST",
      path: "/push/respond",
      body: { ...fields, requestId, action },
      headers: deviceToken === undefined ? undefined : { "X-Device-Token": deviceToken },
      authenticate: deviceToken === undefined,
      ...postOptions(options),
    });
  }

  /**
   * `POST /push/verify` — the request's status. With `wait`, the server holds
   * the answer up to that many seconds until the status changes; the call's
   * timeout is stretched to cover it.
   */
  async verify(requestId: string, input: PushVerifyInput = {}, options: PostRequestOptions = {}): Promise<PushVerifyResult> {
    const wait = input.wait;
    return this.#transport.request({
      method: "POST",
      path: "/push/verify",
      body: { requestId, userId: input.userId, wait },
      minTimeoutMs: wait === undefined ? undefined : wait * 1000 + LONG_POLL_GRACE_MS,
      ...postOptions(options),
    });
  }

  /**
   * Polls {@link PushApi.verify} with long polls until the request is no
   * longer `pending` (approved, denied, expired or failed) and returns that final data.
   *
   * **On timeout it does not throw**: it returns the last data seen, whose
   * `status` is still `pending` — check `status` (or `verified`) rather than
   * relying on an exception. Errors from `verify` (network, `PUSH_EXPIRED`, …)
   * are thrown as they come.
   *
   * @example
   * ```ts
   * const { requestId } = await client.push.send({ userId });
   * const result = await client.push.waitForApproval(requestId, { timeoutMs: 60_000 });
   * if (result.status === "approved") logIn();
   * ```
   */
  async waitForApproval(requestId: string, options: WaitForApprovalOptions = {}): Promise<PushVerifyResult> {
    const { timeoutMs = 120_000, pollWaitSeconds = 25, pollIntervalMs = 1_000, userId, signal } = options;
    const deadline = Date.now() + timeoutMs;
    const maxWaitSeconds = Math.max(0, Math.min(MAX_WAIT_SECONDS, Math.floor(pollWaitSeconds)));

    for (;;) {
      const startedAt = Date.now();
      // Never hold a poll past the deadline; under a second left, ask without waiting.
      const wait = Math.min(maxWaitSeconds, Math.max(0, Math.floor((deadline - startedAt) / 1000)));
      const result = await this.verify(
        requestId,
        { userId, wait: wait > 0 ? wait : undefined },
        { signal },
      );
      if (result.status !== "pending") return result;

      const now = Date.now();
      if (now >= deadline) return result;
      const pauseMs = Math.min(deadline - now, startedAt + pollIntervalMs - now);
      // After this pause the loop polls once more, so even the last answer is fresh.
      if (pauseMs > 0) await sleep(pauseMs, signal);
    }
  }
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
