/**
 * The policy engine without I/O (API.md §8): each match condition alone, their AND, the
 * withinSeconds window, priority order of channels and policy names, IPv4-mapped addresses.
 */
import { describe, expect, it } from "vitest";
import { evaluate, lookbackStart, matchingPolicies, policyMatches, type EnginePolicy, type RequestFacts } from "../../../src/features/mfa/mfa.engine.ts";
import { CreatePolicyBody } from "../../../src/features/mfa/policies.schemas.ts";
import { createValidatorCompiler } from "../../../src/infra/validation.ts";

const NOW = new Date("2026-11-22T07:00:00.000Z");
const facts = (extra: Partial<RequestFacts> = {}): RequestFacts => ({ purpose: "login", newDevice: false, ...extra });
const policy = (name: string, extra: Partial<EnginePolicy> = {}): EnginePolicy => ({ name, match: {}, requiredChannels: ["totp"], withinSeconds: 300, ...extra });
const secondsAgo = (s: number) => new Date(NOW.getTime() - s * 1000);

describe("policyMatches: each condition", () => {
  it("a policy without conditions matches everything", () => {
    expect(policyMatches({}, facts())).toBe(true);
  });

  it("purposes: matches only the listed purposes (exactly)", () => {
    expect(policyMatches({ purposes: ["payment", "withdrawal"] }, facts({ purpose: "payment" }))).toBe(true);
    expect(policyMatches({ purposes: ["payment"] }, facts({ purpose: "login" }))).toBe(false);
    expect(policyMatches({ purposes: ["payment"] }, facts({ purpose: "Payment" }))).toBe(false);
  });

  it("minAmount: amount ≥ minAmount matches, below does not, no amount does not", () => {
    expect(policyMatches({ minAmount: 1000 }, facts({ amount: 1000 }))).toBe(true);
    expect(policyMatches({ minAmount: 1000 }, facts({ amount: 5000.5 }))).toBe(true);
    expect(policyMatches({ minAmount: 1000 }, facts({ amount: 999.99 }))).toBe(false);
    expect(policyMatches({ minAmount: 1000 }, facts())).toBe(false);
    expect(policyMatches({ minAmount: 0 }, facts({ amount: 0 }))).toBe(true);
  });

  it("ipCidrs: IPv4 and IPv6 ranges and single addresses; no IP does not match", () => {
    const match = { ipCidrs: ["203.0.113.0/24", "198.51.100.7", "2001:db8::/32"] };
    expect(policyMatches(match, facts({ ip: "203.0.113.200" }))).toBe(true);
    expect(policyMatches(match, facts({ ip: "198.51.100.7" }))).toBe(true);
    expect(policyMatches(match, facts({ ip: "198.51.100.8" }))).toBe(false);
    expect(policyMatches(match, facts({ ip: "2001:db8:1234::1" }))).toBe(true);
    expect(policyMatches(match, facts({ ip: "2001:db9::1" }))).toBe(false);
    expect(policyMatches(match, facts())).toBe(false);
  });

  it("ipCidrs: an IPv4-mapped IPv6 address is the IPv4 address it carries, on either side", () => {
    expect(policyMatches({ ipCidrs: ["1.2.3.4/32"] }, facts({ ip: "::ffff:1.2.3.4" }))).toBe(true);
    expect(policyMatches({ ipCidrs: ["1.2.3.0/24"] }, facts({ ip: "::ffff:102:305" }))).toBe(true);
    expect(policyMatches({ ipCidrs: ["::ffff:1.2.3.0/120"] }, facts({ ip: "1.2.3.9" }))).toBe(true);
    expect(policyMatches({ ipCidrs: ["1.2.3.4/32"] }, facts({ ip: "::ffff:1.2.3.5" }))).toBe(false);
  });

  it("ipCidrs: an entry that is not an IP or CIDR matches nothing, the others still work", () => {
    expect(policyMatches({ ipCidrs: ["not-an-ip", "10.0.0.0/8"] }, facts({ ip: "10.1.2.3" }))).toBe(true);
    expect(policyMatches({ ipCidrs: ["not-an-ip"] }, facts({ ip: "10.1.2.3" }))).toBe(false);
  });

  it("newDevice: true matches a new device only; false or absent imposes nothing", () => {
    expect(policyMatches({ newDevice: true }, facts({ newDevice: true }))).toBe(true);
    expect(policyMatches({ newDevice: true }, facts({ newDevice: false }))).toBe(false);
    expect(policyMatches({ newDevice: false }, facts({ newDevice: true }))).toBe(true);
    expect(policyMatches({ newDevice: false }, facts({ newDevice: false }))).toBe(true);
  });
});

describe("policyMatches: conditions are ANDed", () => {
  const match = { purposes: ["payment"], minAmount: 100, ipCidrs: ["10.0.0.0/8"], newDevice: true };
  const all = facts({ purpose: "payment", amount: 100, ip: "10.9.9.9", newDevice: true });

  it("matches only when every condition holds", () => {
    expect(policyMatches(match, all)).toBe(true);
  });

  it.each([
    ["purpose", { purpose: "login" }],
    ["amount", { amount: 99 }],
    ["ip", { ip: "11.0.0.1" }],
    ["device", { newDevice: false }],
  ])("one failing condition (%s) is enough to not match", (_name, change) => {
    expect(policyMatches(match, { ...all, ...change })).toBe(false);
  });
});

describe("evaluate", () => {
  it("no matching policy: allowed, nothing required or satisfied", () => {
    expect(evaluate([], new Map(), NOW)).toEqual({ allowed: true, satisfiedChannels: [], requiredChannels: [], matchedPolicies: [] });
  });

  it("a verification inside withinSeconds counts, one just outside does not", () => {
    const p = policy("p", { withinSeconds: 60 });
    expect(evaluate([p], new Map([["totp", secondsAgo(60)]]), NOW)).toMatchObject({ allowed: true, satisfiedChannels: ["totp"] });
    expect(evaluate([p], new Map([["totp", secondsAgo(61)]]), NOW)).toEqual({ allowed: false, satisfiedChannels: [], requiredChannels: ["totp"], matchedPolicies: ["p"] });
  });

  it("requiredChannels and matchedPolicies follow priority order; satisfied policies are not named", () => {
    const high = policy("high", { requiredChannels: ["webauthn", "totp"] });
    const middle = policy("middle", { requiredChannels: ["sms"] });
    const low = policy("low", { requiredChannels: ["totp", "push"] });
    const result = evaluate([high, middle, low], new Map([["sms", secondsAgo(10)]]), NOW);
    expect(result).toEqual({ allowed: false, satisfiedChannels: ["sms"], requiredChannels: ["webauthn", "totp", "push"], matchedPolicies: ["high", "low"] });
  });

  it("a channel fresh enough for one policy but too old for another is still required", () => {
    const loose = policy("loose", { withinSeconds: 3600 });
    const strict = policy("strict", { withinSeconds: 30 });
    const result = evaluate([loose, strict], new Map([["totp", secondsAgo(120)]]), NOW);
    expect(result).toEqual({ allowed: false, satisfiedChannels: [], requiredChannels: ["totp"], matchedPolicies: ["strict"] });
  });

  it("matchingPolicies keeps the given (priority) order and lookbackStart spans the longest window", () => {
    const policies = [policy("a", { match: { purposes: ["x"] } }), policy("b", { withinSeconds: 900 }), policy("c", { withinSeconds: 60 })];
    expect(matchingPolicies(policies, facts()).map((p) => p.name)).toEqual(["b", "c"]);
    expect(lookbackStart(matchingPolicies(policies, facts()), NOW)).toEqual(secondsAgo(900));
  });
});

describe("policy ipCidrs are checked when a policy is written", () => {
  const validate = createValidatorCompiler()({ schema: CreatePolicyBody, httpPart: "body", method: "POST", url: "/" }) as (body: unknown) => boolean;
  const policyWith = (ipCidrs: string[]) => ({ name: "p", requiredChannels: ["totp"], match: { ipCidrs } });

  it.each(["203.0.113.0/24", "198.51.100.7", "0.0.0.0/0", "2001:db8::/32", "::1", "::ffff:1.2.3.4", "::ffff:1.2.3.0/120", "fe80::1:2:3:4/64"])("accepts %j", (cidr) => {
    expect(validate(policyWith([cidr]))).toBe(true);
  });

  // An entry the engine cannot parse would match nothing: the policy would silently never apply.
  it.each(["10.0.0.0/33", "256.1.1.1", "10.0.0.*", "office", "10.0.0.0/", "2001:db8::/129", "10.0.0.0/8 ", "1.2.3"])("refuses %j", (cidr) => {
    expect(validate(policyWith([cidr]))).toBe(false);
  });
});
