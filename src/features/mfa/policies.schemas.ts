/**
 * MFA policy shapes (API.md §8): what the admin API accepts and answers, and what the policy
 * engine reads. A policy's conditions are ANDed; a condition that is absent matches everything.
 */
import { Type, type Static } from "typebox";

export const MFA_CHANNELS = ["sms", "email", "totp", "webauthn", "push"] as const;
export type MfaChannel = (typeof MFA_CHANNELS)[number];

const Channel = Type.Enum([...MFA_CHANNELS], { description: "A verification channel" });

const IPV4 = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(?:\\.(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}";
/**
 * An IPv4 address or CIDR (dotted decimal, prefix ≤ 32), or an IPv6 one (hex groups, an
 * embedded IPv4 tail allowed, prefix ≤ 128). Checked at the edge because an entry the engine
 * cannot parse matches nothing: a typo would silently switch the policy off.
 */
const IpOrCidr = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: `^(?:${IPV4}(?:/(?:3[0-2]|[12]?\\d))?|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){1,7}(?::${IPV4})?(?:/(?:12[0-8]|1[01]\\d|[1-9]?\\d))?)$`,
  description: "An IPv4/IPv6 address or CIDR: 203.0.113.0/24, 198.51.100.7, 2001:db8::/32",
});

export const PolicyMatch = Type.Object({
  purposes: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 50, uniqueItems: true, description: "Matches these purposes only" })),
  minAmount: Type.Optional(Type.Number({ minimum: 0, description: "Matches when context.amount ≥ this" })),
  ipCidrs: Type.Optional(Type.Array(IpOrCidr, { minItems: 1, maxItems: 100, description: "Matches when context.ip is inside one of these IPs/CIDRs (IPv4 or IPv6)" })),
  newDevice: Type.Optional(Type.Boolean({ description: "true: matches when context.deviceId is absent or has never passed a check for this user" })),
}, { additionalProperties: false });
export type PolicyMatch = Static<typeof PolicyMatch>;

const Name = Type.String({ minLength: 1, maxLength: 128 });
const RequiredChannels = Type.Array(Channel, { minItems: 1, maxItems: MFA_CHANNELS.length, uniqueItems: true, description: "Channels a matching request must have verified" });
const WithinSeconds = Type.Integer({ minimum: 1, maximum: 86_400, description: "How recent a verification must be to count (default 300)" });
const Priority = Type.Integer({ minimum: -1_000_000, maximum: 1_000_000, description: "Higher first in matchedPolicies (default 0)" });

export const CreatePolicyBody = Type.Object({
  name: Name,
  enabled: Type.Optional(Type.Boolean({ default: true })),
  priority: Type.Optional(Priority),
  match: Type.Optional(PolicyMatch),
  requiredChannels: RequiredChannels,
  withinSeconds: Type.Optional(WithinSeconds),
}, { additionalProperties: false });
export type CreatePolicyBody = Static<typeof CreatePolicyBody>;

export const UpdatePolicyBody = Type.Object({
  name: Type.Optional(Name),
  enabled: Type.Optional(Type.Boolean()),
  priority: Type.Optional(Priority),
  match: Type.Optional(PolicyMatch),
  requiredChannels: Type.Optional(RequiredChannels),
  withinSeconds: Type.Optional(WithinSeconds),
}, { additionalProperties: false, minProperties: 1 });
export type UpdatePolicyBody = Static<typeof UpdatePolicyBody>;

export const PolicyView = Type.Object({
  id: Type.String({ description: "pol_…" }),
  appId: Type.String(),
  name: Type.String(),
  enabled: Type.Boolean(),
  priority: Type.Integer(),
  match: PolicyMatch,
  requiredChannels: Type.Array(Type.String()),
  withinSeconds: Type.Integer(),
  createdAt: Type.String({ format: "date-time" }),
  updatedAt: Type.String({ format: "date-time" }),
});
