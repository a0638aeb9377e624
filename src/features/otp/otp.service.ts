/**
 * The challenge engine the SMS and email channels share (API.md §3, §4.1, §4.2): a code from
 * the CSPRNG, stored only as an HMAC under a key derived from the keyring, delivered after the
 * challenge is committed, and verified with atomic attempt accounting. Each channel supplies
 * a driver: how to normalize and mask its destinations, which ones it refuses, how it delivers.
 *
 * Send:   lock the destination's guard row → check its lock and send limits → replace the live
 *         code for the same purpose → insert the challenge (`sending`) → commit → deliver →
 *         mark it `pending` + `otp.sent`, or `failed` + `verification.failed` → 502.
 * Verify: read the newest challenge and the guard → compare the code (constant time) → one
 *         conditional UPDATE that takes an attempt and, for the right code, marks it verified;
 *         the database decides which of N concurrent requests get an attempt or the success.
 */
import { createHmac, randomInt } from "node:crypto";
import type { Logger } from "pino";
import type { AppSettings, Locale } from "../apps/app-settings.ts";
import type { Clock } from "../../infra/clock.ts";
import { safeEqual, type Keyring } from "../../infra/crypto.ts";
import { AppError } from "../../infra/errors.ts";
import { recordEvent, type EventInput, type EventType } from "../../infra/events.ts";
import type { Metrics } from "../../infra/metrics.ts";
import type { Tx } from "../../infra/db.ts";
import { newId } from "../../shared/ids.ts";
import { OTP_ERRORS } from "./otp.errors.ts";
import { LIVE_STATUSES, type ChallengeRecord, type DestinationKey, type OtpChannel, type OtpStore } from "./otp.repository.ts";

/** `purpose` when the request names none (API.md §4). */
export const DEFAULT_PURPOSE = "login";
/**
 * Consecutive wrong codes per destination, across challenges, before it is locked: NIST SP
 * 800-63B §5.2.2 ("no more than 100 consecutive failed authentication attempts").
 */
export const DESTINATION_MAX_CONSECUTIVE_FAILURES = 100;
/** How long such a lock lasts (API.md §3), unless an operator lifts it. */
export const DESTINATION_LOCK_SECONDS = 24 * 60 * 60;
/** The per-destination send-rate window (API.md §3: 5 per hour). */
const SEND_WINDOW_MS = 60 * 60 * 1000;
/** Names the HMAC key of stored codes; a new version of the scheme gets a new label. */
const CODE_HMAC_LABEL = "latchkey/otp-code-hmac/v1";

/** A destination as the caller sent it, validated and normalized by the channel. */
export interface OtpDestination {
  /** Stored and compared: E.164 phone or lower-case email. */
  value: string;
  /** What responses and events show (`+82******5678`, `a***@example.com`). */
  masked: string;
  /** ISO 3166 country of a phone number, when known. */
  country?: string;
}

export interface DeliveryInput {
  appId: string;
  destination: OtpDestination;
  code: string;
  settings: AppSettings;
  locale: Locale;
  ttlSeconds: number;
}

/** What makes a channel a channel. */
export interface OtpChannelDriver {
  readonly channel: OtpChannel;
  /** Throws INVALID_PHONE / INVALID_EMAIL for what cannot be a destination. */
  normalize(raw: string): OtpDestination;
  /** Throws (e.g. COUNTRY_NOT_ALLOWED) for destinations this app may not send to, before anything is stored or sent. */
  assertAllowed?(destination: OtpDestination, settings: AppSettings): void;
  /** Resolves once the provider accepted the message; throws otherwise. */
  deliver(input: DeliveryInput): Promise<void>;
}

export interface OtpServiceDeps {
  store: OtpStore;
  clock: Clock;
  metrics: Metrics;
  keyring: Keyring;
  settings: { get(appId: string): Promise<AppSettings> };
  driver: OtpChannelDriver;
  logger?: Pick<Logger, "warn">;
}

export interface SendInput {
  appId: string;
  destination: string;
  purpose?: string;
  userId?: string;
  locale?: string;
}

export interface SendResult {
  requestId: string;
  /** Masked destination. */
  destination: string;
  expiresAt: Date;
  expiresIn: number;
  test: boolean;
}

export interface VerifyInput {
  appId: string;
  destination: string;
  code: string;
  purpose?: string;
  userId?: string;
}

export interface VerifyResult {
  verified: true;
  verificationId: string;
  requestId: string;
  test: boolean;
}

export interface StatusResult {
  pending: boolean;
  expiresAt: Date | null;
  attemptsRemaining: number;
  verifiedAt: Date | null;
}

/** Thrown inside a transaction to roll it back when a conditional UPDATE found nothing to change. */
class LostRace extends Error {}

/** A code of `length` decimal digits, uniformly from the CSPRNG (leading zeros kept). */
export function generateCode(length: number): string {
  return String(randomInt(0, 10 ** length)).padStart(length, "0");
}

/** `en-US`, `ko_KR`, `EN` → the supported base language; undefined for anything else. */
export function resolveLocale(requested: string | undefined, fallback: Locale): Locale {
  const language = requested?.trim().toLowerCase().split(/[-_]/)[0];
  return language === "ko" || language === "en" ? language : fallback;
}

export class OtpService {
  private readonly hmacKeys = new Map<string, Buffer>();

  constructor(private readonly deps: OtpServiceDeps) {}

  get channel(): OtpChannel {
    return this.deps.driver.channel;
  }

  async send(input: SendInput): Promise<SendResult> {
    const { store, clock, driver } = this.deps;
    const destination = driver.normalize(input.destination);
    const settings = await this.deps.settings.get(input.appId);
    const purpose = input.purpose ?? DEFAULT_PURPOSE;
    const testCode = this.testCodeFor(settings, destination);
    const test = testCode !== undefined;
    // Test destinations never reach a provider and cost nothing: no geo check, no send limits.
    if (!test) driver.assertAllowed?.(destination, settings);

    const key = this.keyOf(input.appId, destination);
    const now = clock.now();
    const id = newId("otp");
    const code = testCode ?? generateCode(settings.otp.codeLength);
    const ttlSeconds = settings.otp.ttlSeconds;
    const expiresAt = new Date(now.getTime() + ttlSeconds * 1000);
    const eventData = { requestId: id, destination: destination.masked, purpose, ...(test ? { test: true } : {}) };

    const { resendIntervalSeconds, maxSendsPerHour } = settings.otp;
    await store.transaction(async (repo, tx) => {
      // The guard row lock serializes sends to this destination: the history read below sees
      // every challenge an earlier send committed, so concurrent sends cannot both pass.
      const guard = await repo.lockDestination(key, now);
      this.assertNotLocked(guard.lockedUntil, now, false);
      const admission = await repo.admitChallenge({
        id,
        appId: input.appId,
        channel: key.channel,
        destination: key.destination,
        purpose,
        externalUserId: input.userId ?? null,
        codeHash: this.hashCode(id, code),
        status: test ? "pending" : "sending",
        maxAttempts: settings.otp.maxAttempts,
        test,
        expiresAt,
        createdAt: now,
      }, {
        windowStart: new Date(now.getTime() - SEND_WINDOW_MS),
        resendBefore: new Date(now.getTime() - resendIntervalSeconds * 1000),
        maxInWindow: maxSendsPerHour,
      });
      if (!admission.admitted) {
        const sinceLast = admission.lastLive ? now.getTime() - admission.lastLive.getTime() : Infinity;
        if (sinceLast < resendIntervalSeconds * 1000) {
          throw OTP_ERRORS.resendTooSoon((resendIntervalSeconds * 1000 - sinceLast) / 1000, resendIntervalSeconds);
        }
        throw OTP_ERRORS.destinationRateLimited((admission.oldest!.getTime() + SEND_WINDOW_MS - now.getTime()) / 1000, maxSendsPerHour);
      }
      if (test) await this.event(tx, input.appId, "otp.sent", input.userId, eventData);
    });

    if (test) {
      this.count("test_sent");
    } else {
      // After the commit (STYLE.md §9): the challenge exists before any message leaves.
      await this.deliver({ id, input, destination, code, settings, ttlSeconds, eventData });
    }
    return { requestId: id, destination: destination.masked, expiresAt, expiresIn: ttlSeconds, test };
  }

  async verify(input: VerifyInput): Promise<VerifyResult> {
    const { store, clock, driver } = this.deps;
    const destination = driver.normalize(input.destination);
    const purpose = input.purpose ?? DEFAULT_PURPOSE;
    const key = this.keyOf(input.appId, destination);
    const now = clock.now();

    const { challenge, guard } = await store.findLatest(key, purpose);
    this.assertNotLocked(guard?.lockedUntil ?? null, now, true);
    if (!challenge) throw OTP_ERRORS.notFound();
    // A code sent for one end user does not verify another.
    if (input.userId && challenge.externalUserId && input.userId !== challenge.externalUserId) {
      throw OTP_ERRORS.notFound("no code is pending for this destination, purpose and userId");
    }
    const externalUserId = input.userId ?? challenge.externalUserId;
    const eventData = { requestId: challenge.id, destination: destination.masked, purpose, ...(challenge.test ? { test: true } : {}) };

    const dead = this.deadChallengeError(challenge, now);
    if (dead) {
      if (dead.code === "OTP_EXPIRED") {
        await store.transaction((_repo, tx) => this.event(tx, input.appId, "verification.failed", externalUserId, { ...eventData, reason: "expired" }));
        this.count("expired");
      }
      throw dead;
    }

    try {
      if (this.codeMatches(challenge, input.code)) {
        const verificationId = newId("ver");
        const records = {
          verificationId,
          appId: input.appId,
          externalUserId,
          channel: key.channel,
          purpose,
          event: this.eventInput(input.appId, "verification.succeeded", externalUserId, eventData),
        };
        if (guard && guard.consecutiveFailures > 0) {
          // A right code ends the destination's run of failures: guard row first (lock order).
          await store.transaction(async (repo, tx) => {
            await repo.resetFailures(key, now);
            if (!(await repo.consumeVerified(challenge.id, now))) throw new LostRace();
            await repo.insertVerification({ id: verificationId, appId: input.appId, externalUserId, channel: key.channel, purpose, reference: challenge.id, createdAt: now });
            await recordEvent(tx, records.event);
          });
        } else if (!(await store.consumeVerified(challenge.id, now, records))) {
          throw new LostRace();
        }
        this.count("succeeded");
        return { verified: true, verificationId, requestId: challenge.id, test: challenge.test };
      }

      const outcome = await store.transaction(async (repo, tx) => {
        const lockUntil = new Date(now.getTime() + DESTINATION_LOCK_SECONDS * 1000);
        const guardAfter = await repo.recordFailure(key, now, { threshold: DESTINATION_MAX_CONSECUTIVE_FAILURES, lockUntil });
        const attempt = await repo.consumeFailedAttempt(challenge.id, now);
        if (!attempt) throw new LostRace();
        const attemptsRemaining = attempt.maxAttempts - attempt.attempts;
        const reason = attempt.status === "exhausted" ? "too_many_attempts" : "invalid_code";
        await this.event(tx, input.appId, "verification.failed", externalUserId, { ...eventData, reason, attemptsRemaining, ...(guardAfter.lockedNow ? { destinationLocked: true } : {}) });
        return { attemptsRemaining, exhausted: attempt.status === "exhausted", lockedNow: guardAfter.lockedNow };
      });
      this.count(outcome.exhausted ? "too_many_attempts" : "invalid_code");
      if (outcome.lockedNow) {
        this.count("locked");
        throw OTP_ERRORS.locked(DESTINATION_LOCK_SECONDS, true);
      }
      throw outcome.exhausted ? OTP_ERRORS.tooManyAttempts() : OTP_ERRORS.invalidCode(outcome.attemptsRemaining);
    } catch (err) {
      if (!(err instanceof LostRace)) throw err;
      // Another request changed the challenge between our read and our update: answer from
      // what it is now, the same whether this request's code was right or wrong.
      const current = await store.findById(challenge.id);
      throw (current && this.deadChallengeError(current, clock.now())) ?? OTP_ERRORS.notFound();
    }
  }

  async status(input: { appId: string; destination: string; purpose?: string }): Promise<StatusResult> {
    const destination = this.deps.driver.normalize(input.destination);
    const key = this.keyOf(input.appId, destination);
    const now = this.deps.clock.now();
    const { challenge, guard } = await this.deps.store.findLatest(key, input.purpose ?? DEFAULT_PURPOSE);
    if (!challenge) return { pending: false, expiresAt: null, attemptsRemaining: 0, verifiedAt: null };
    const locked = Boolean(guard?.lockedUntil && guard.lockedUntil > now);
    const pending = !locked && this.deadChallengeError(challenge, now) === undefined;
    return {
      pending,
      expiresAt: challenge.expiresAt,
      attemptsRemaining: pending ? challenge.maxAttempts - challenge.attempts : 0,
      verifiedAt: challenge.verifiedAt,
    };
  }

  private async deliver(args: {
    id: string;
    input: SendInput;
    destination: OtpDestination;
    code: string;
    settings: AppSettings;
    ttlSeconds: number;
    eventData: Record<string, unknown>;
  }): Promise<void> {
    const { id, input, destination, code, settings, ttlSeconds, eventData } = args;
    const { store, driver } = this.deps;
    const locale = resolveLocale(input.locale, settings.otp.defaultLocale);
    try {
      await driver.deliver({ appId: input.appId, destination, code, settings, locale, ttlSeconds });
    } catch (err) {
      // The challenge dies: nobody can verify a code the provider did not take.
      await store.markFailed(id, this.eventInput(input.appId, "verification.failed", input.userId, { ...eventData, reason: "delivery_failed" }));
      this.count("delivery_failed");
      this.deps.logger?.warn({ requestId: id, channel: driver.channel, reason: err instanceof AppError ? err.message : "provider error", cause: (err as { cause?: Error })?.cause?.message }, "code delivery failed");
      throw OTP_ERRORS.deliveryFailed(err, `the ${driver.channel === "sms" ? "SMS" : "email"} could not be delivered`);
    }
    await store.markDelivered(id, this.eventInput(input.appId, "otp.sent", input.userId, eventData));
    this.count("sent");
  }

  /** Why this challenge can no longer be verified, or undefined while it can. */
  private deadChallengeError(challenge: ChallengeRecord, now: Date): AppError | undefined {
    switch (challenge.status) {
      case "verified":
        return OTP_ERRORS.alreadyUsed();
      case "exhausted":
        return OTP_ERRORS.tooManyAttempts();
      case "failed":
        return OTP_ERRORS.notFound("the last code could not be delivered; request a new one");
      case "replaced":
        return OTP_ERRORS.notFound();
    }
    if (!LIVE_STATUSES.includes(challenge.status)) return OTP_ERRORS.notFound();
    if (challenge.attempts >= challenge.maxAttempts) return OTP_ERRORS.tooManyAttempts();
    if (challenge.expiresAt.getTime() <= now.getTime()) return OTP_ERRORS.expired();
    return undefined;
  }

  private assertNotLocked(lockedUntil: Date | null, now: Date, forVerify: boolean): void {
    if (lockedUntil && lockedUntil.getTime() > now.getTime()) {
      throw OTP_ERRORS.locked((lockedUntil.getTime() - now.getTime()) / 1000, forVerify);
    }
  }

  private keyOf(appId: string, destination: OtpDestination): DestinationKey {
    return { appId, channel: this.deps.driver.channel, destination: destination.value };
  }

  /** The fixed code of a test destination of this app, if `destination` is one. */
  private testCodeFor(settings: AppSettings, destination: OtpDestination): string | undefined {
    for (const entry of settings.otp.testDestinations) {
      let value: string;
      try {
        value = this.deps.driver.normalize(entry.destination).value;
      } catch {
        continue; // an entry of the other channel, or a typo in the settings
      }
      if (value === destination.value) return entry.code.trim();
    }
    return undefined;
  }

  /**
   * `v1.<keyId>.<hex HMAC-SHA256(K, challengeId:code)>` where K is derived from the keyring
   * key `keyId`: the code never rests in clear, the server-side key is the pepper, and binding
   * the challenge id makes one hash useless for any other challenge.
   */
  private hashCode(challengeId: string, code: string, keyId = this.deps.keyring.currentKeyId): string {
    return `v1.${keyId}.${createHmac("sha256", this.hmacKey(keyId)).update(`${challengeId}:${code}`).digest("hex")}`;
  }

  private hmacKey(keyId: string): Buffer {
    let key = this.hmacKeys.get(keyId);
    if (!key) {
      key = this.deps.keyring.deriveKey(CODE_HMAC_LABEL, keyId);
      this.hmacKeys.set(keyId, key);
    }
    return key;
  }

  /** Constant-time comparison; spaces and dashes the user typed are ignored. */
  private codeMatches(challenge: ChallengeRecord, typed: string): boolean {
    const [version, keyId] = challenge.codeHash.split(".");
    if (version !== "v1" || !keyId) return false;
    let expected: string;
    try {
      expected = this.hashCode(challenge.id, typed.replace(/[\s-]/g, ""), keyId);
    } catch {
      return false; // hashed under a key no longer in the keyring: the code cannot be checked
    }
    return safeEqual(expected, challenge.codeHash);
  }

  private eventInput(appId: string, type: EventType, externalUserId: string | null | undefined, data: Record<string, unknown>): EventInput {
    return { appId, type, channel: this.deps.driver.channel, externalUserId: externalUserId ?? null, data, at: this.deps.clock.now() };
  }

  private event(tx: Tx, appId: string, type: EventType, externalUserId: string | null | undefined, data: Record<string, unknown>) {
    return recordEvent(tx, this.eventInput(appId, type, externalUserId, data));
  }

  private count(outcome: string): void {
    this.deps.metrics.channelOutcomes.inc({ channel: this.deps.driver.channel, outcome });
  }
}
