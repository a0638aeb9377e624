/**
 * Request and response schemas of /totp (API.md §4.3). They validate input at the edge,
 * serialize every answer (stray fields never leak) and generate openapi.yaml.
 */
import { Type } from "typebox";
import { MfaProgress } from "../mfa/mfa.schemas.ts";

const UserId = Type.String({ minLength: 1, maxLength: 128, description: "Your own id for the end user (shown in webhooks as externalUserId)" });
const IsoDateOrNull = Type.Union([Type.String({ format: "date-time" }), Type.Null()]);

export const SetupBody = Type.Object({
  userId: UserId,
  accountName: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: "Label shown in the authenticator app (e.g. the user's email); defaults to userId" })),
  issuer: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 100,
    pattern: "^[^:]*$",
    description: "Issuer shown in the authenticator app; defaults to the app's totp.issuer setting (TOTP_ISSUER). No colon (Key Uri Format).",
  })),
  force: Type.Optional(Type.Boolean({ description: "Replace an enabled factor instead of failing with TOTP_ALREADY_ENABLED" })),
});

export const SetupData = Type.Object({
  secret: Type.String({ description: "Base32 secret (unpadded), for manual entry" }),
  uri: Type.String({ description: "otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=…&digits=…&period=…" }),
  qrCodeDataUrl: Type.String({ description: "data:image/png;base64,… QR code of uri" }),
});

export const VerifyBody = Type.Object({
  userId: UserId,
  token: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "The code from the authenticator app, or a backup code" })),
  code: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "Synonym of token" })),
  purpose: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "What the verification is for (default login); MFA policies match on it" })),
});

export const VerifyData = Type.Object({
  verified: Type.Literal(true),
  activated: Type.Optional(Type.Boolean({ description: "true on the verify that confirmed a pending factor" })),
  backupCodeUsed: Type.Optional(Type.Boolean({ description: "true when a backup code was used" })),
  backupCodesRemaining: Type.Optional(Type.Integer({ minimum: 0, description: "Unused backup codes left (with backupCodeUsed)" })),
  mfa: Type.Optional(MfaProgress),
});

export const UserIdQuery = Type.Object({ userId: UserId });
export const UserIdParams = Type.Object({ userId: UserId });
export const UserIdBody = Type.Object({ userId: UserId });

export const StatusData = Type.Object({
  enabled: Type.Boolean({ description: "A factor is set up and confirmed" }),
  pending: Type.Boolean({ description: "A factor is set up but not yet confirmed by a verify" }),
  createdAt: IsoDateOrNull,
  lastUsedAt: IsoDateOrNull,
  backupCodesRemaining: Type.Integer({ minimum: 0 }),
});

export const DisableData = Type.Object({
  disabled: Type.Literal(true),
});

export const BackupCodesData = Type.Object({
  backupCodes: Type.Array(Type.String(), { minItems: 10, maxItems: 10, description: "Ten one-time codes (XXXXX-XXXXX), shown only this once; they replace any earlier set" }),
});
