/**
 * Route schemas of `POST /api/v1/mfa/check` (API.md §8) and the `data.mfa` object successful
 * verifies carry. The check's body is ours to define, so it is closed: a misspelt context field
 * answers 400 instead of silently matching no policy.
 */
import { Type, type Static } from "typebox";
import { MFA_CHANNELS } from "./policies.schemas.ts";

const Channel = Type.Enum([...MFA_CHANNELS], { description: "A verification channel" });
const Channels = (description: string) => Type.Array(Channel, { description });

export const CheckContext = Type.Object({
  ip: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "The end user's IP address (IPv4 or IPv6); policies with ipCidrs match on it" })),
  amount: Type.Optional(Type.Number({ minimum: 0, description: "The amount at stake; policies with minAmount match when amount ≥ minAmount" })),
  deviceId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "Your own id for the end user's device; a device becomes known once a check naming it is allowed" })),
}, { additionalProperties: false, description: "Facts policies match on; a policy condition whose fact is missing does not hold (newDevice: a missing deviceId counts as a new device)" });
export type CheckContext = Static<typeof CheckContext>;

export const CheckBody = Type.Object({
  userId: Type.String({ minLength: 1, maxLength: 128, description: "Your own id for the end user" }),
  purpose: Type.String({ minLength: 1, maxLength: 64, pattern: "^[^\\u0000-\\u001f\\u007f]+$", description: "The action being attempted (login, payment, …), as given to the verify calls" }),
  context: Type.Optional(CheckContext),
}, { additionalProperties: false });
export type CheckBody = Static<typeof CheckBody>;

export const CheckData = Type.Object({
  allowed: Type.Literal(true),
  satisfiedChannels: Channels("Channels the matching policies require that this user verified for this purpose recently enough (empty when no policy matched)"),
});

/** `data.mfa` of a successful verify that named `userId` and `purpose` (API.md §8). */
export const MfaProgress = Type.Object({
  satisfied: Type.Boolean({ description: "Whether every channel the matching policies require is now verified" }),
  remainingChannels: Channels("Channels still to verify, highest-priority policy first"),
}, { description: "MFA policy progress (API.md §8): present when the verify named userId and purpose" });
