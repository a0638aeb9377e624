/**
 * MFA policy decisions (API.md §8): `check` for `POST /mfa/check`, `progressAfterVerify` for
 * the `data.mfa` of successful verifies (mfa.routes.ts installs that hook). Reads the app's
 * enabled policies and the user's recent verifications, and lets mfa.engine.ts decide.
 */
import type { Clock } from "../../infra/clock.ts";
import type { EventChannel } from "../../infra/events.ts";
import { IpRangeError, parseIpRange } from "../../infra/ip-ranges.ts";
import { channelsRequiredBy, evaluate, lookbackStart, matchingPolicies, type Evaluation } from "./mfa.engine.ts";
import { invalidContextIp, mfaRequired } from "./mfa.errors.ts";
import type { MfaRepository } from "./mfa.repository.ts";
import type { CheckContext } from "./mfa.schemas.ts";
import type { PoliciesRepository, PolicyRecord } from "./policies.repository.ts";
import type { MfaChannel } from "./policies.schemas.ts";

export interface MfaServiceDeps {
  policies: PoliciesRepository;
  repo: MfaRepository;
  clock: Clock;
}

export interface DecideInput {
  appId: string;
  userId: string;
  purpose: string;
  context?: CheckContext;
}

const IPV4_DOTTED = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/**
 * A context IP must be one address written plainly: dotted-decimal IPv4 (not `127.1` or hex
 * forms, which parsers disagree on) or IPv6, never a range.
 */
export function isPlainIpAddress(ip: string): boolean {
  if (ip !== ip.trim() || ip.includes("/")) return false;
  if (!ip.includes(":") && !IPV4_DOTTED.test(ip)) return false;
  try {
    parseIpRange(ip);
    return true;
  } catch (err) {
    if (err instanceof IpRangeError) return false;
    throw err;
  }
}

/**
 * How long an app's enabled policies are reused. Every verify that names userId and purpose
 * consults them, so they are not read per request; a policy change applies on every instance
 * within this time (as app settings do).
 */
const POLICY_CACHE_TTL_MS = 2000;
const MAX_CACHED_APPS = 10_000;

export class MfaService {
  private readonly policyCache = new Map<string, { policies: Promise<PolicyRecord[]>; expiresAt: number }>();

  constructor(private readonly deps: MfaServiceDeps) {}

  private enabledPolicies(appId: string): Promise<PolicyRecord[]> {
    const now = this.deps.clock.now().getTime();
    const hit = this.policyCache.get(appId);
    if (hit && hit.expiresAt > now) return hit.policies;
    const policies = this.deps.policies.listByApp(appId, { enabledOnly: true });
    // A failed read is not cached: the next request tries again.
    policies.catch(() => this.policyCache.delete(appId));
    if (this.policyCache.size >= MAX_CACHED_APPS) this.policyCache.clear();
    this.policyCache.set(appId, { policies, expiresAt: now + POLICY_CACHE_TTL_MS });
    return policies;
  }

  /** The engine's decision for this user, purpose and context; writes nothing. */
  async decide(input: DecideInput): Promise<Evaluation> {
    const { repo, clock } = this.deps;
    const enabled = await this.enabledPolicies(input.appId);
    if (enabled.length === 0) return { allowed: true, satisfiedChannels: [], requiredChannels: [], matchedPolicies: [] };
    const now = clock.now();
    const { ip, amount, deviceId } = input.context ?? {};
    // Only a newDevice policy needs to know whether the device was seen.
    const known = deviceId !== undefined && enabled.some((p) => p.match.newDevice === true)
      ? await repo.isKnownDevice({ appId: input.appId, externalUserId: input.userId, deviceId })
      : false;
    const matched = matchingPolicies(enabled, { purpose: input.purpose, ip, amount, newDevice: !known });
    if (matched.length === 0) return { allowed: true, satisfiedChannels: [], requiredChannels: [], matchedPolicies: [] };
    const latest = await repo.latestVerifications({
      appId: input.appId,
      externalUserId: input.userId,
      purpose: input.purpose,
      channels: channelsRequiredBy(matched),
      since: lookbackStart(matched, now),
    });
    return evaluate(matched, latest, now);
  }

  /**
   * `POST /mfa/check`: allowed → the satisfied channels, and a named device becomes known;
   * otherwise `mfa.required` is recorded and MFA_REQUIRED thrown.
   */
  async check(input: DecideInput): Promise<{ allowed: true; satisfiedChannels: MfaChannel[] }> {
    const ip = input.context?.ip;
    if (ip !== undefined && !isPlainIpAddress(ip)) throw invalidContextIp();
    const evaluation = await this.decide(input);
    if (!evaluation.allowed) {
      await this.recordRequired({ appId: input.appId, userId: input.userId, purpose: input.purpose }, evaluation);
      throw mfaRequired(evaluation);
    }
    const deviceId = input.context?.deviceId;
    if (deviceId !== undefined) {
      await this.deps.repo.rememberDevice({ appId: input.appId, externalUserId: input.userId, deviceId }, this.deps.clock.now());
    }
    return { allowed: true, satisfiedChannels: evaluation.satisfiedChannels };
  }

  /**
   * After a successful verify: what the policies matching this purpose still need. A verify
   * carries no context (no IP, amount or device), so policies conditioned on ipCidrs or
   * minAmount do not match here, and a newDevice policy does (an unnamed device is new).
   */
  async progressAfterVerify(input: { appId: string; userId: string; purpose: string }): Promise<Evaluation> {
    return this.decide(input);
  }

  /** `mfa.required` in the outbox (API.md §5), delivered by webhooks. */
  async recordRequired(subject: { appId: string; userId: string; purpose: string; channel?: EventChannel; onceKey?: string }, evaluation: Evaluation): Promise<void> {
    await this.deps.repo.recordMfaRequired({
      appId: subject.appId,
      externalUserId: subject.userId,
      channel: subject.channel,
      data: { purpose: subject.purpose, requiredChannels: evaluation.requiredChannels, matchedPolicies: evaluation.matchedPolicies },
      at: this.deps.clock.now(),
      ...(subject.onceKey ? { onceKey: subject.onceKey } : {}),
    });
  }

  /** The user and purpose an approved push request was for (its recorded verification). */
  async pushSubject(appId: string, requestId: string): Promise<{ userId: string; purpose: string } | null> {
    const found = await this.deps.repo.findVerificationSubject({ appId, channel: "push", reference: requestId });
    return found ? { userId: found.externalUserId, purpose: found.purpose } : null;
  }
}
