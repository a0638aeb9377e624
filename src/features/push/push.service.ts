/**
 * Push approval (API.md §4.5): devices, requests delivered through FCM, answers from the phone,
 * and the caller learning the answer — at once, through a long poll that any instance wakes.
 *
 * Invariants:
 * - A request is answered at most once: one conditional UPDATE (`status = 'pending' AND
 *   expires_at > now`) decides between concurrent answers; only its winner records events.
 * - A request expires exactly once, whoever notices first (the sweeper on any instance, or a
 *   verify/respond that finds it past its time): the same conditional UPDATE pattern.
 * - Fatigue limits (API.md §4.5: more than 3 pending, or 3 denials in 10 minutes) are checked
 *   and the request inserted while holding the end user's row lock, so concurrent sends
 *   cannot slip past them.
 * - Delivery happens after the commit; a request no device received is marked failed.
 * - Nothing on the wire to the phone reveals the match number.
 */
import { randomInt } from "node:crypto";
import type { Clock } from "../../infra/clock.ts";
import { randomToken, safeEqual, sha256Hex } from "../../infra/crypto.ts";
import type { Tx } from "../../infra/db.ts";
import { AppError } from "../../infra/errors.ts";
import { recordEvent } from "../../infra/events.ts";
import type { Metrics } from "../../infra/metrics.ts";
import type { PushDelivery, PushMessage, PushSender } from "../../infra/push.ts";
import type { Signals } from "../../infra/signals.ts";
import { newId } from "../../shared/ids.ts";
import type { AppSettings, Locale } from "../apps/app-settings.ts";
import { ensureEndUser } from "../users/users.repository.ts";
import {
  alreadyAnswered,
  deviceNotFound,
  noActiveDevice,
  pushExpired,
  requestNotFound,
  signatureRefused,
  wrongDevice,
} from "./push.errors.ts";
import type { DeviceRecord, PushPlatform, PushRepository, RequestRecord, TransitionedRequest } from "./push.repository.ts";
import { canonicalAnswer, normalizePublicKey, SIGNATURE_MAX_SKEW_SECONDS, verifyAnswerSignature } from "./push.signatures.ts";

/** Device tokens: 32 random bytes (API.md §1: ≥ 32 bytes of entropy), stored as SHA-256 only. */
const DEVICE_TOKEN_BYTES = 32;
const DEVICE_TOKEN_PREFIX = "pdt_";
const DEVICE_TOKEN_PATTERN = /^pdt_[A-Za-z0-9_-]{43}$/;
/** Bounds the fan-out of one send (and what one compromised backend key can register). */
export const MAX_ACTIVE_DEVICES_PER_USER = 20;
/** API.md §4.5: `wait` ≤ 30 s. */
export const MAX_WAIT_SECONDS = 30;
/** A waiting long poll re-reads at least this often, in case a signal was lost. */
const WAIT_RECHECK_MS = 5000;
/** Requests the sweeper expires per transaction, and the most transactions per sweep. */
const SWEEP_BATCH = 500;
const SWEEP_MAX_BATCHES = 20;
/** FCM refuses messages over 4096 bytes; keep room for FCM's own envelope. */
const FCM_PAYLOAD_BUDGET_BYTES = 3800;
/** Data keys FCM reserves (firebase.google.com/docs/cloud-messaging/concept-options#data_messages) and ours. */
const FCM_RESERVED_KEYS = new Set(["from", "message_type", "collapse_key", "notification"]);
const OUR_DATA_KEYS = new Set(["type", "requestId", "title", "body", "expiresAt", "numberMatching", "context", "purpose"]);

const DEFAULT_TEXT: Record<Locale, { title: string; body: string }> = {
  ko: { title: "로그인 승인 요청", body: "새로운 로그인 시도를 승인하시겠습니까?" },
  en: { title: "Sign-in request", body: "Approve the new sign-in attempt?" },
};

/** The signal channel of one request: published after every state change of it. */
export const requestChannel = (requestId: string) => `push:${requestId}`;

export interface PushServiceDeps {
  repo: PushRepository;
  settings: { get(appId: string): Promise<AppSettings> };
  clock: Clock;
  metrics: Metrics;
  sender: PushSender;
  signals: Signals;
  /** Where background failures (sweeper, device bookkeeping) and delivery problems are reported. */
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

/** Who answers a request: the app's backend (secret key) or one of the user's devices (X-Device-Token). */
export type Responder = { kind: "app"; appId: string } | { kind: "device"; device: DeviceRecord };

export interface DeviceView {
  deviceId: string;
  platform: PushPlatform;
  deviceName: string | null;
  active: boolean;
  signed: boolean;
  createdAt: string;
  lastSeenAt: string | null;
}

export interface StatusView {
  verified: boolean;
  status: "pending" | "approved" | "denied" | "expired" | "failed";
  respondedAt: string | null;
  requestId: string;
  expiresAt: string;
  reason?: string;
}

export function deviceView(device: DeviceRecord): DeviceView {
  return {
    deviceId: device.id,
    platform: device.platform,
    deviceName: device.deviceName,
    active: device.active,
    signed: device.publicKey !== null,
    createdAt: device.createdAt.toISOString(),
    lastSeenAt: device.lastSeenAt?.toISOString() ?? null,
  };
}

export function statusView(request: RequestRecord): StatusView {
  return {
    verified: request.status === "approved",
    status: request.status,
    respondedAt: request.respondedAt?.toISOString() ?? null,
    requestId: request.id,
    expiresAt: request.expiresAt.toISOString(),
    ...(request.reason ? { reason: request.reason } : {}),
  };
}

function invalid(field: string, message: string): AppError {
  return new AppError("VALIDATION_ERROR", { message: `${field.replace(/^body\./, "")} ${message}`, details: [{ field, message }] });
}

export class PushService {
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> | undefined;
  private closing = false;
  /** Wakes every waiting long poll (shutdown). */
  private readonly waiters = new Set<() => void>();

  constructor(private readonly deps: PushServiceDeps) {}

  // ── devices ──────────────────────────────────────────────────────────────────────────────

  async registerDevice(appId: string, input: {
    userId: string;
    fcmToken: string;
    platform: PushPlatform;
    deviceName?: string | null;
    publicKey?: string | object | null;
  }): Promise<{ deviceId: string; deviceToken: string }> {
    const { repo, clock } = this.deps;
    const publicKey = input.publicKey === undefined || input.publicKey === null ? null : normalizePublicKey(input.publicKey as string | Record<string, unknown>);
    const deviceName = input.deviceName?.trim() || null;
    const deviceToken = DEVICE_TOKEN_PREFIX + randomToken(DEVICE_TOKEN_BYTES);
    const now = clock.now();
    const deviceId = await repo.transaction(async (tx) => {
      const user = await ensureEndUser(tx, appId, input.userId);
      await repo.lockUser(tx, user.id);
      const existing = await repo.findDeviceByFcmToken(tx, appId, input.fcmToken);
      if (existing?.endUserId !== user.id && (await repo.countActiveDevices(tx, user.id)) >= MAX_ACTIVE_DEVICES_PER_USER) {
        throw new AppError("CONFLICT", { message: `this user already has ${MAX_ACTIVE_DEVICES_PER_USER} active devices: remove one first`, data: { reason: "too_many_devices" } });
      }
      const device = await repo.upsertDevice(tx, {
        appId,
        endUserId: user.id,
        fcmToken: input.fcmToken,
        platform: input.platform,
        deviceName,
        publicKey,
        deviceTokenHash: sha256Hex(deviceToken),
        at: now,
      });
      await recordEvent(tx, {
        appId,
        type: "push.device_registered",
        channel: "push",
        externalUserId: input.userId,
        data: { deviceId: device.id, platform: input.platform, deviceName, signed: publicKey !== null, reregistered: !device.created },
        at: now,
      });
      return device.id;
    });
    this.deps.metrics.channelOutcomes.inc({ channel: "push", outcome: "device_registered" });
    return { deviceId, deviceToken };
  }

  async listDevices(appId: string, userId: string): Promise<DeviceView[]> {
    return (await this.deps.repo.listDevices(appId, userId)).map(deviceView);
  }

  async removeDevice(appId: string, deviceId: string, userId?: string): Promise<void> {
    const device = await this.deps.repo.findDevice(appId, deviceId);
    if (!device || (userId !== undefined && device.externalUserId !== userId)) throw deviceNotFound();
    if (!(await this.deps.repo.deleteDevice(appId, deviceId))) throw deviceNotFound();
  }

  /** The active device a device token belongs to, or null (unknown, replaced, or deactivated). */
  async authenticateDevice(token: string): Promise<DeviceRecord | null> {
    if (!DEVICE_TOKEN_PATTERN.test(token)) return null;
    const device = await this.deps.repo.findDeviceByTokenHash(sha256Hex(token));
    return device?.active ? device : null;
  }

  // ── send ─────────────────────────────────────────────────────────────────────────────────

  async send(appId: string, input: {
    userId: string;
    title?: string;
    body?: string;
    data?: Record<string, string>;
    timeoutSeconds?: number;
    numberMatching?: boolean;
    context?: object;
    purpose?: string;
  }): Promise<{ requestId: string; status: "pending"; expiresAt: string; matchNumber?: string }> {
    const { repo, clock, metrics } = this.deps;
    const settings = (await this.deps.settings.get(appId)).push;
    const text = DEFAULT_TEXT[settings.defaultLocale];
    const title = input.title ?? text.title;
    const body = input.body ?? text.body;
    const purpose = input.purpose ?? "login";
    const now = clock.now();
    const expiresAt = new Date(now.getTime() + (input.timeoutSeconds ?? settings.timeoutSeconds) * 1000);
    // 10–99: two digits whatever the leading digit, so "the number as sent" is unambiguous.
    const matchNumber = input.numberMatching ? String(randomInt(10, 100)) : null;
    const requestId = newId("push");

    const data: Record<string, string> = {
      ...checkedCustomerData(input.data),
      type: "push_approval",
      requestId,
      title,
      body,
      purpose,
      expiresAt: expiresAt.toISOString(),
      numberMatching: matchNumber ? "true" : "false",
      ...(input.context ? { context: JSON.stringify(input.context) } : {}),
    };
    if (Buffer.byteLength(JSON.stringify({ data, notification: { title, body } })) > FCM_PAYLOAD_BUDGET_BYTES) {
      const message = "title, body, data and context together exceed FCM's 4 KB message limit";
      throw new AppError("VALIDATION_ERROR", { message, details: [{ field: "body", message }] });
    }

    const user = await repo.findUser(appId, input.userId);
    if (!user) throw noActiveDevice();
    const outcome = await repo.transaction(async (tx) => {
      await repo.lockUser(tx, user.id);
      const devices = await repo.activeDevices(tx, user.id);
      if (devices.length === 0) return { kind: "no_device" as const };
      const counts = await repo.fatigueCounts(tx, user.id, now, new Date(now.getTime() - settings.denialWindowSeconds * 1000));
      const refusal = counts.pending >= settings.maxPending
        ? { reason: "too_many_pending", until: counts.earliestPendingExpiry }
        : counts.denials >= settings.maxDenials
          ? { reason: "too_many_denials", until: counts.oldestDenialAt && new Date(counts.oldestDenialAt.getTime() + settings.denialWindowSeconds * 1000) }
          : null;
      if (refusal) {
        await recordEvent(tx, {
          appId,
          type: "push.fatigue_suspected",
          channel: "push",
          externalUserId: input.userId,
          data: { reason: refusal.reason, pendingRequests: counts.pending, recentDenials: counts.denials, purpose },
          at: now,
        });
        return { kind: "fatigue" as const, ...refusal };
      }
      await repo.insertRequest(tx, {
        id: requestId,
        appId,
        endUserId: user.id,
        title,
        body,
        data: input.data ?? null,
        context: (input.context as Record<string, unknown> | undefined) ?? null,
        purpose,
        matchNumber,
        expiresAt,
        createdAt: now,
      });
      return { kind: "created" as const, devices };
    });

    if (outcome.kind === "no_device") throw noActiveDevice();
    if (outcome.kind === "fatigue") {
      metrics.channelOutcomes.inc({ channel: "push", outcome: "fatigue_suspected" });
      const retryAfterSeconds = outcome.until ? Math.max(1, Math.ceil((outcome.until.getTime() - now.getTime()) / 1000)) : 60;
      throw new AppError("RATE_LIMITED", {
        message: outcome.reason === "too_many_pending"
          ? `this user already has ${settings.maxPending} pending push requests: wait for them to be answered or expire`
          : `this user denied ${settings.maxDenials} push requests in the last ${Math.round(settings.denialWindowSeconds / 60)} minutes: possible push fatigue attack`,
        retryAfterSeconds,
        data: { reason: outcome.reason },
      });
    }

    const delivered = await this.deliver(outcome.devices, { title, body, data, expiresAt });
    if (delivered === 0) {
      const failed = await repo.transaction(async (tx) => {
        const row = await repo.markFailed(tx, requestId);
        if (row) await recordEvent(tx, { appId, type: "verification.failed", channel: "push", externalUserId: row.externalUserId, data: { requestId, purpose, reason: "delivery_failed" }, at: clock.now() });
        return row;
      });
      if (failed) {
        await this.deps.signals.publish(requestChannel(requestId), "failed");
        metrics.channelOutcomes.inc({ channel: "push", outcome: "delivery_failed" });
        throw new AppError("DELIVERY_FAILED", {
          message: "no device of this user could be reached through FCM",
          data: { requestId, status: "failed", reason: "delivery_failed" },
        });
      }
    }
    metrics.channelOutcomes.inc({ channel: "push", outcome: "sent" });
    return { requestId, status: "pending", expiresAt: expiresAt.toISOString(), ...(matchNumber ? { matchNumber } : {}) };
  }

  /** Sends to each device; deactivates the ones FCM reports gone. Returns how many were reached. */
  private async deliver(devices: DeviceRecord[], message: Omit<PushMessage, "token">): Promise<number> {
    let outcomes: PushDelivery[];
    try {
      outcomes = await this.deps.sender.send(devices.map((device) => ({ ...message, token: device.fcmToken })));
    } catch (err) {
      outcomes = devices.map(() => ({ ok: false, failure: "unavailable", detail: (err as Error)?.message ?? "send failed" }));
    }
    let delivered = 0;
    await Promise.all(devices.map(async (device, index) => {
      const outcome = outcomes[index] ?? { ok: false, failure: "unavailable", detail: "no outcome" };
      if (outcome.ok) {
        delivered++;
        return;
      }
      const context = { deviceId: device.id, provider: this.deps.sender.name, failure: outcome.failure, detail: outcome.detail };
      if (outcome.failure === "unregistered" || outcome.failure === "invalid_token") {
        await this.deps.repo.deactivateDevice(device.id, device.fcmToken).then(
          () => this.deps.log?.info(context, "push device deactivated: its FCM token is no longer valid"),
          (err) => this.deps.log?.warn({ ...context, err }, "could not deactivate a push device"),
        );
        this.deps.metrics.channelOutcomes.inc({ channel: "push", outcome: "device_deactivated" });
      } else {
        this.deps.log?.warn(context, "push delivery failed");
      }
    }));
    return delivered;
  }

  // ── respond ──────────────────────────────────────────────────────────────────────────────

  async respond(responder: Responder, input: {
    requestId: string;
    action: "approve" | "deny";
    matchNumber?: string;
    signature?: string;
    timestamp?: number;
    deviceId?: string;
  }): Promise<{ requestId: string; status: "approved" | "denied"; reason?: string; respondedAt: string }> {
    const { repo, clock, metrics } = this.deps;
    const now = clock.now();
    const appId = responder.kind === "app" ? responder.appId : responder.device.appId;
    const request = await repo.findRequest(input.requestId);
    // Another app's request does not exist for this caller (nothing crosses apps).
    if (!request || request.appId !== appId) throw requestNotFound();

    let signer: DeviceRecord | undefined;
    if (responder.kind === "device") {
      if (request.endUserId !== responder.device.endUserId) throw wrongDevice();
      if (input.deviceId !== undefined && input.deviceId !== responder.device.id) throw wrongDevice();
      signer = responder.device;
    } else if (input.deviceId !== undefined) {
      const device = await repo.findDevice(appId, input.deviceId);
      if (!device) throw deviceNotFound();
      if (device.endUserId !== request.endUserId) throw wrongDevice();
      signer = device;
    } else if (input.signature !== undefined) {
      throw invalid("body.deviceId", "is required with a signature relayed by the app (which device signed it?)");
    }

    await this.assertAnswerable(request, now);
    if (signer?.publicKey) this.checkSignature(signer.publicKey, input, now);

    let status: "approved" | "denied";
    let reason: string | null = null;
    if (input.action === "deny") {
      status = "denied";
      reason = "user_denied";
    } else if (request.matchNumber !== null) {
      if (input.matchNumber === undefined) throw invalid("body.matchNumber", "is required: this request uses number matching");
      // A wrong number is a denial (API.md §4.5): the user is probably approving someone else's login.
      status = safeEqual(input.matchNumber, request.matchNumber) ? "approved" : "denied";
      if (status === "denied") reason = "number_mismatch";
    } else {
      status = "approved";
    }

    const deviceId = signer?.id ?? null;
    const answered = await repo.transaction(async (tx) => {
      const row = await repo.answer(tx, { requestId: request.id, appId, status, reason, deviceId, at: now });
      if (!row) return null;
      const common = { requestId: row.id, purpose: row.purpose, ...(deviceId ? { deviceId } : {}) };
      if (status === "approved") {
        const verificationId = await repo.insertVerification(tx, { appId, externalUserId: row.externalUserId, purpose: row.purpose, reference: row.id, at: now });
        await recordEvent(tx, { appId, type: "push.approved", channel: "push", externalUserId: row.externalUserId, data: common, at: now });
        await recordEvent(tx, { appId, type: "verification.succeeded", channel: "push", externalUserId: row.externalUserId, data: { ...common, verificationId }, at: now });
      } else {
        await recordEvent(tx, { appId, type: "push.denied", channel: "push", externalUserId: row.externalUserId, data: { ...common, reason }, at: now });
        await recordEvent(tx, { appId, type: "verification.failed", channel: "push", externalUserId: row.externalUserId, data: { ...common, reason }, at: now });
      }
      return row;
    });
    if (!answered) {
      // Lost the race (or the clock passed the expiry meanwhile): say why, change nothing.
      const latest = await repo.findRequest(request.id);
      if (latest) await this.assertAnswerable(latest, now);
      throw alreadyAnswered(latest?.status ?? "unknown");
    }

    await this.deps.signals.publish(requestChannel(request.id), status);
    metrics.channelOutcomes.inc({ channel: "push", outcome: status === "approved" ? "succeeded" : reason === "number_mismatch" ? "number_mismatch" : "denied" });
    if (deviceId) {
      repo.touchDevice(deviceId, now).catch((err) => this.deps.log?.warn({ err, deviceId }, "could not record a push device's last answer"));
    }
    return { requestId: request.id, status, ...(reason ? { reason } : {}), respondedAt: now.toISOString() };
  }

  /** Throws 410 for an expired request (expiring it if nobody did yet), 409 for an answered one. */
  private async assertAnswerable(request: RequestRecord, now: Date): Promise<void> {
    if (request.status === "pending" && request.expiresAt.getTime() <= now.getTime()) {
      await this.expireRequest(request.id, now);
      throw pushExpired();
    }
    if (request.status === "expired") throw pushExpired();
    if (request.status !== "pending") throw alreadyAnswered(request.status);
  }

  private checkSignature(publicKey: string, input: { requestId: string; action: "approve" | "deny"; matchNumber?: string; signature?: string; timestamp?: number }, now: Date): void {
    if (input.signature === undefined || input.timestamp === undefined) throw signatureRefused("signature_required");
    if (Math.abs(now.getTime() / 1000 - input.timestamp) > SIGNATURE_MAX_SKEW_SECONDS) throw signatureRefused("signature_stale");
    const message = canonicalAnswer({ requestId: input.requestId, action: input.action, matchNumber: input.matchNumber, timestamp: input.timestamp });
    if (!verifyAnswerSignature(publicKey, message, input.signature)) throw signatureRefused("signature_invalid");
  }

  // ── status / long poll ───────────────────────────────────────────────────────────────────

  /**
   * The request's status. With `waitSeconds`, holds the answer until the status changes, the
   * wait ends, or `signal` aborts (the client went away) — a long poll woken by the signal
   * any instance publishes after its commit.
   */
  async status(appId: string, requestId: string, options: { userId?: string; waitSeconds?: number; signal?: AbortSignal } = {}): Promise<StatusView> {
    const read = async (): Promise<RequestRecord> => {
      const request = await this.deps.repo.findRequest(requestId);
      if (!request || request.appId !== appId || (options.userId !== undefined && request.externalUserId !== options.userId)) throw requestNotFound();
      const now = this.deps.clock.now();
      if (request.status === "pending" && request.expiresAt.getTime() <= now.getTime()) {
        await this.expireRequest(request.id, now);
        return (await this.deps.repo.findRequest(requestId)) ?? request;
      }
      return request;
    };
    const waitMs = Math.min(MAX_WAIT_SECONDS, Math.max(0, options.waitSeconds ?? 0)) * 1000;
    const request = waitMs > 0 ? await this.waitForChange(requestId, read, waitMs, options.signal) : await read();
    return statusView(request);
  }

  private async waitForChange(requestId: string, read: () => Promise<RequestRecord>, waitMs: number, signal?: AbortSignal): Promise<RequestRecord> {
    const deadline = Date.now() + waitMs;
    let woken = false;
    let wake = () => {
      woken = true;
    };
    const onSignal = () => {
      woken = true;
      wake();
    };
    // Subscribe before the first read, so an answer landing in between is not missed.
    const unsubscribe = this.deps.signals.subscribe(requestChannel(requestId), onSignal);
    signal?.addEventListener("abort", onSignal);
    this.waiters.add(onSignal);
    try {
      await this.deps.signals.ready();
      for (;;) {
        woken = false;
        const current = await read();
        const remainingMs = deadline - Date.now();
        if (current.status !== "pending" || remainingMs <= 0 || signal?.aborted || this.closing) return current;
        // Wake at the expiry too, so the answer says "expired" as soon as it is.
        const untilExpiryMs = current.expiresAt.getTime() - this.deps.clock.now().getTime() + 10;
        const sleepMs = Math.max(0, Math.min(remainingMs, WAIT_RECHECK_MS, untilExpiryMs));
        if (woken) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, sleepMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      unsubscribe();
      signal?.removeEventListener("abort", onSignal);
      this.waiters.delete(onSignal);
    }
  }

  // ── expiry ───────────────────────────────────────────────────────────────────────────────

  /** Expires one request if it is still pending past its time; the winner records the events. */
  private async expireRequest(requestId: string, now: Date): Promise<void> {
    const expired = await this.deps.repo.transaction(async (tx) => {
      const row = await this.deps.repo.expireOne(tx, requestId, now);
      if (row) await recordExpiry(tx, row, now);
      return row;
    });
    if (expired) await this.afterExpiry([expired]);
  }

  /**
   * Expires every pending request past its time. Any number of instances may run this at
   * once: each request is expired, and its events recorded, by exactly one of them.
   */
  async sweepExpired(): Promise<number> {
    let total = 0;
    for (let batch = 0; batch < SWEEP_MAX_BATCHES; batch++) {
      const now = this.deps.clock.now();
      const expired = await this.deps.repo.transaction(async (tx) => {
        const rows = await this.deps.repo.expireDue(tx, now, SWEEP_BATCH);
        for (const row of rows) await recordExpiry(tx, row, now);
        return rows;
      });
      await this.afterExpiry(expired);
      total += expired.length;
      if (expired.length < SWEEP_BATCH) break;
    }
    return total;
  }

  private async afterExpiry(rows: TransitionedRequest[]): Promise<void> {
    for (const row of rows) await this.deps.signals.publish(requestChannel(row.id), "expired");
    if (rows.length > 0) this.deps.metrics.channelOutcomes.inc({ channel: "push", outcome: "expired" }, rows.length);
  }

  /** Runs the sweeper every `intervalMs` (one sweep at a time on this instance). */
  startSweeper(intervalMs: number): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(() => {
      if (this.sweeping || this.closing) return;
      this.sweeping = this.sweepExpired()
        .catch((err) => this.deps.log?.warn({ err }, "push expiry sweep failed; retrying at the next interval"))
        .finally(() => {
          this.sweeping = undefined;
        });
    }, intervalMs);
    this.sweepTimer.unref();
  }

  /** True once shutdown began: long polls answer at once. */
  get isClosing(): boolean {
    return this.closing;
  }

  /** Before shutdown: answer every waiting long poll now (with the current status). */
  releaseWaiters(): void {
    this.closing = true;
    for (const wakeWaiter of this.waiters) wakeWaiter();
  }

  async stop(): Promise<void> {
    this.releaseWaiters();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    await this.sweeping;
  }
}

async function recordExpiry(tx: Tx, row: TransitionedRequest, now: Date): Promise<void> {
  const data = { requestId: row.id, purpose: row.purpose };
  await recordEvent(tx, { appId: row.appId, type: "push.expired", channel: "push", externalUserId: row.externalUserId, data, at: now });
  await recordEvent(tx, { appId: row.appId, type: "verification.failed", channel: "push", externalUserId: row.externalUserId, data: { ...data, reason: "expired" }, at: now });
}

/** The caller's `data` for the device, refused when a key is FCM-reserved or one of ours. */
function checkedCustomerData(data: Record<string, string> | undefined): Record<string, string> {
  if (!data) return {};
  for (const key of Object.keys(data)) {
    const lower = key.toLowerCase();
    if (key === "" || FCM_RESERVED_KEYS.has(lower) || lower.startsWith("google") || lower.startsWith("gcm")) {
      throw invalid(`body.data.${key}`, "is a key FCM reserves (from, message_type, collapse_key, notification, google…, gcm…)");
    }
    if (OUR_DATA_KEYS.has(key)) throw invalid(`body.data.${key}`, "is set by Latchkey itself; use another key");
  }
  return data;
}
