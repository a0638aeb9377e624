/**
 * The MFA policy engine (API.md §8), without I/O: which policies match a request, and which of
 * their required channels the user has verified recently enough. mfa.service.ts feeds it the
 * app's policies and the user's verifications.
 *
 * Rules:
 * - a policy matches when every condition it has holds (AND); a condition it lacks holds;
 *   `purposes` holds when it lists the purpose; `minAmount` when `amount ≥ minAmount` (no amount:
 *   does not hold); `ipCidrs` when the IP lies in one of them (no IP: does not hold; IPv4-mapped
 *   IPv6 compares as the IPv4 address it carries); `newDevice: true` when the device is new
 *   (no deviceId counts as new — an unknown device must not dodge the policy by staying silent);
 * - a required channel is satisfied for a policy when the user has a verification on it for
 *   this purpose no older than that policy's `withinSeconds`;
 * - the request is allowed when no matching policy leaves a channel unsatisfied.
 */
import { IpRangeError, ipInRanges, parseIpRange, type IpRange } from "../../infra/ip-ranges.ts";
import type { MfaChannel, PolicyMatch } from "./policies.schemas.ts";

/** What the engine needs of a policy (a PolicyRecord fits). */
export interface EnginePolicy {
  name: string;
  match: PolicyMatch;
  requiredChannels: string[];
  withinSeconds: number;
}

/** The facts of one request that policies match on. */
export interface RequestFacts {
  purpose: string;
  ip?: string;
  amount?: number;
  /** True when no deviceId was given or this user never passed a check with it. */
  newDevice: boolean;
}

export interface Evaluation {
  allowed: boolean;
  /** Channels the matching policies require that are verified recently enough for every one of them. */
  satisfiedChannels: MfaChannel[];
  /** Channels some matching policy still needs (the 403's requiredChannels). */
  requiredChannels: MfaChannel[];
  /** Names of the matching policies that still need a channel, in priority order. */
  matchedPolicies: string[];
}

const parsedRanges = new WeakMap<string[], IpRange[]>();

/**
 * A policy's ranges; an entry that is not an IP or CIDR (stored before validation, or by hand)
 * matches nothing rather than failing every check of the app.
 */
function rangesOf(cidrs: string[]): IpRange[] {
  let ranges = parsedRanges.get(cidrs);
  if (!ranges) {
    ranges = [];
    for (const cidr of cidrs) {
      try {
        ranges.push(parseIpRange(cidr));
      } catch (err) {
        if (!(err instanceof IpRangeError)) throw err;
      }
    }
    parsedRanges.set(cidrs, ranges);
  }
  return ranges;
}

/** Whether every condition of `match` holds for `facts`. */
export function policyMatches(match: PolicyMatch, facts: RequestFacts): boolean {
  if (match.purposes !== undefined && !match.purposes.includes(facts.purpose)) return false;
  if (match.minAmount !== undefined && (facts.amount === undefined || !(facts.amount >= match.minAmount))) return false;
  if (match.ipCidrs !== undefined && (facts.ip === undefined || !ipInRanges(facts.ip, rangesOf(match.ipCidrs)))) return false;
  if (match.newDevice === true && !facts.newDevice) return false;
  return true;
}

/** The policies (in the order given: highest priority first) that match `facts`. */
export function matchingPolicies<P extends EnginePolicy>(policies: P[], facts: RequestFacts): P[] {
  return policies.filter((policy) => policyMatches(policy.match, facts));
}

/** How far back verifications can count for any of `policies`, from `now`. */
export function lookbackStart(policies: EnginePolicy[], now: Date): Date {
  const longestSeconds = Math.max(0, ...policies.map((p) => p.withinSeconds));
  return new Date(now.getTime() - longestSeconds * 1000);
}

/** Every channel `policies` require, in first-mention order. */
export function channelsRequiredBy(policies: EnginePolicy[]): string[] {
  return [...new Set(policies.flatMap((p) => p.requiredChannels))];
}

/**
 * The decision over the matching policies (priority order), given the newest verification
 * per channel. Channel lists keep first-mention order, so the highest-priority policy's
 * channels come first, as do their names in matchedPolicies.
 */
export function evaluate(matched: EnginePolicy[], latestVerifiedAt: ReadonlyMap<string, Date>, now: Date): Evaluation {
  const required = new Set<string>();
  const satisfied = new Set<string>();
  const policyNames = new Set<string>();
  for (const policy of matched) {
    const cutoffMs = now.getTime() - policy.withinSeconds * 1000;
    let missing = false;
    for (const channel of policy.requiredChannels) {
      const at = latestVerifiedAt.get(channel);
      if (at !== undefined && at.getTime() >= cutoffMs) {
        satisfied.add(channel);
      } else {
        required.add(channel);
        missing = true;
      }
    }
    if (missing) policyNames.add(policy.name);
  }
  return {
    allowed: required.size === 0,
    // A channel fresh enough for one policy but too old for another still has to be verified.
    satisfiedChannels: [...satisfied].filter((c) => !required.has(c)) as MfaChannel[],
    requiredChannels: [...required] as MfaChannel[],
    matchedPolicies: [...policyNames],
  };
}
