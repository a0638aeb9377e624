/**
 * `POST /auth/ephemeral` (API.md §7). The same fields arrive as an HTML form (every value a
 * string) or as JSON (numbers and arrays allowed), so each field accepts both spellings.
 */
import { Type } from "typebox";

const DigitString = Type.String({ pattern: "^[0-9]{1,10}$" });
const CommaList = (description: string) => Type.Union([Type.String({ maxLength: 4096 }), Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 100 })], { description });
const UserId = Type.String({ minLength: 1, maxLength: 128 });

export const EphemeralKeyBody = Type.Object({
  app_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "With secret_key: authenticates a form post that carries no key header" })),
  secret_key: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: "The app's secret key (2fa_…), with app_id; never in the query string" })),
  epi: Type.Optional(Type.Union([Type.Integer(), DigitString], { description: "Lifetime in milliseconds (default 30000, at most 3600000)" })),
  ipa: Type.Optional(CommaList("IPs and CIDRs (IPv4/IPv6) the key may be used from, comma-separated; absent: any")),
  user_id: Type.Optional(UserId),
  userId: Type.Optional({ ...UserId, description: "The end user the key acts for (same as user_id)" }),
  scopes: Type.Optional(CommaList("Channels the key may use, comma-separated (default webauthn,totp,push_verify; also push, sms, email)")),
}, { additionalProperties: false });

export const EphemeralKeyResponse = Type.Object({
  success: Type.Literal(true),
  ephemeral_key: Type.String({ description: "ek_…; with Accept: text/plain the answer is this key alone" }),
  ephemeral_key_expires_at: Type.String({ format: "date-time" }),
  data: Type.Object({
    ephemeralKey: Type.String({ description: "The same key, inside the usual envelope" }),
    expiresAt: Type.String({ format: "date-time" }),
    scopes: Type.Array(Type.String()),
    userId: Type.Union([Type.String(), Type.Null()]),
    allowedIps: Type.Array(Type.String(), { description: "Empty: any IP" }),
  }),
});
