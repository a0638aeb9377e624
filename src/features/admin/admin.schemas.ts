/**
 * Route schemas for `/api/v1/admin` (API.md §9): the OpenAPI source and the edge validation.
 * Bodies are closed (`additionalProperties: false`): a misspelt field or setting is a 400
 * naming it, never a silent no-op. The settings schema mirrors, section by section and with
 * the same ranges, what `resolveAppSettings` (src/features/apps/app-settings.ts) reads.
 */
import { Type, type TSchema } from "typebox";
import { PolicyView } from "../mfa/policies.schemas.ts";
import { DeviceView } from "../push/push.schemas.ts";
import { CredentialView } from "../webauthn/webauthn.schemas.ts";

const DateTime = Type.String({ format: "date-time" });
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

// ── sessions ──────────────────────────────────────────────────────────────────────────────

export const ADMIN_ROLES = ["owner", "admin", "viewer"] as const;
const Role = Type.Enum([...ADMIN_ROLES], { description: "owner: everything; admin: one app's configuration; viewer: read only" });

export const LoginBody = Type.Object({
  email: Type.String({ minLength: 1, maxLength: 320 }),
  // Bounded so a login cannot be made to hash megabytes; long passphrases still fit.
  password: Type.String({ minLength: 1, maxLength: 1024 }),
}, { additionalProperties: false });

export const OperatorView = Type.Object({
  id: Type.String({ description: "adm_…" }),
  email: Type.String(),
  role: Role,
  appId: Nullable(Type.String({ description: "The one app an admin manages; null for owners and viewers" })),
});

const Exp = Type.String({ format: "date-time", description: "When the token expires (ISO 8601; the JWT's exp claim holds the same instant in unix seconds)" });

export const LoginData = Type.Object({
  token: Type.String({ description: "Send as Authorization: Bearer <token> on every /api/v1/admin call" }),
  user: OperatorView,
  exp: Exp,
});
export const RefreshData = Type.Object({
  token: Type.String({ description: "The new token; the one used for this call stops working" }),
  refreshedAt: DateTime,
  exp: Exp,
});
export const MeData = Type.Object({ user: OperatorView, exp: Exp });
export const LogoutData = Type.Object({ loggedOut: Type.Literal(true) });

// ── pages ─────────────────────────────────────────────────────────────────────────────────

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;
const Cursor = Type.String({ minLength: 1, maxLength: 512, description: "nextCursor of the previous page" });
const Limit = Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE, description: `Page size (default ${DEFAULT_PAGE_SIZE}, at most ${MAX_PAGE_SIZE})` });
export const PageQuery = Type.Object({ cursor: Type.Optional(Cursor), limit: Type.Optional(Limit) });
const NextCursor = Nullable(Type.String({ description: "Pass as cursor for the next page; null on the last page" }));

// ── app settings ──────────────────────────────────────────────────────────────────────────

/**
 * Every setting may be null: the patch is a JSON Merge Patch (RFC 7396), and null removes the
 * stored override so the deployment default applies again.
 */
const Reset = <T extends TSchema>(schema: T) => Type.Optional(Nullable(schema));
const section = (properties: Record<string, TSchema>, description: string) =>
  Reset(Type.Object(properties, { additionalProperties: false, description }));

const Locale = Type.Enum(["ko", "en"]);
const Template = Type.Object({
  text: Reset(Type.String({ minLength: 1, maxLength: 2000, description: "SMS text or email plain-text body; placeholders {appName}, {code}, {minutes}" })),
  subject: Reset(Type.String({ minLength: 1, maxLength: 256, description: "Email subject" })),
  html: Reset(Type.String({ minLength: 1, maxLength: 20_000, description: "Email HTML body (placeholder values are HTML-escaped)" })),
}, { additionalProperties: false });
const Templates = Type.Object({ ko: Reset(Template), en: Reset(Template) }, { additionalProperties: false });

/** The same host-name rule resolveAppSettings applies to rpId (lower-case labels, no scheme or port). */
const RP_ID_PATTERN = "^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$";
const Origin = Type.String({
  minLength: 1,
  maxLength: 512,
  pattern: "^(https?://[^/?#@\\s]+/?|android:apk-key-hash:[A-Za-z0-9_-]{16,128})$",
  description: "scheme://host[:port] (no path), or android:apk-key-hash:…",
});
const PerMinute = Type.Integer({ minimum: 1, maximum: 1_000_000 });

export const SettingsPatch = Type.Object({
  otp: section({
    codeLength: Reset(Type.Integer({ minimum: 4, maximum: 10, description: "Digits per SMS/email code (default OTP_CODE_LENGTH)" })),
    ttlSeconds: Reset(Type.Integer({ minimum: 30, maximum: 3600, description: "Code lifetime (default OTP_TTL_SECONDS)" })),
    maxAttempts: Reset(Type.Integer({ minimum: 1, maximum: 20, description: "Wrong codes per challenge (default OTP_MAX_ATTEMPTS)" })),
    allowedCountries: Reset(Type.Array(Type.String({ pattern: "^[A-Za-z]{2}$" }), { maxItems: 250, uniqueItems: true, description: "ISO 3166 countries SMS may go to (default DEFAULT_COUNTRY only)" })),
    testDestinations: Reset(Type.Array(Type.Object({
      destination: Type.String({ minLength: 1, maxLength: 320, description: "Phone number or email address" }),
      code: Type.String({ pattern: "^[0-9]{4,10}$", description: "The fixed code it always gets" }),
    }, { additionalProperties: false }), { maxItems: 100, description: "Destinations that never reach a provider (API.md §4.1)" })),
    templates: Reset(Type.Object({ sms: Reset(Templates), email: Reset(Templates) }, { additionalProperties: false })),
    defaultLocale: Reset(Locale),
    resendIntervalSeconds: Reset(Type.Integer({ minimum: 0, maximum: 3600, description: "Seconds between two sends to one destination (default 30)" })),
    maxSendsPerHour: Reset(Type.Integer({ minimum: 1, maximum: 100_000, description: "Sends per destination per rolling hour (default 5)" })),
  }, "SMS and email codes (API.md §4.1, §4.2)"),
  totp: section({
    issuer: Reset(Type.String({ minLength: 1, maxLength: 128, description: "Issuer shown in authenticator apps (default TOTP_ISSUER)" })),
    digits: Reset(Type.Enum([6, 8])),
    periodSeconds: Reset(Type.Enum([30, 60])),
    algorithm: Reset(Type.Enum(["SHA1", "SHA256", "SHA512"])),
    maxFailures: Reset(Type.Integer({ minimum: 1, maximum: 100, description: "Wrong codes in a row before the user is locked (default 5)" })),
    lockSeconds: Reset(Type.Integer({ minimum: 1, maximum: 86_400, description: "Lock length (default TOTP_LOCK_SECONDS)" })),
  }, "Authenticator apps, for factors set up from now on (API.md §4.3)"),
  webauthn: section({
    rpId: Reset(Type.String({ pattern: RP_ID_PATTERN, maxLength: 253, description: "Relying party id (default WEBAUTHN_RP_ID)" })),
    rpName: Reset(Type.String({ minLength: 1, maxLength: 128 })),
    origins: Reset(Type.Array(Origin, { minItems: 1, maxItems: 50, uniqueItems: true, description: "Origins ceremonies may come from (default WEBAUTHN_ORIGINS)" })),
    userVerification: Reset(Type.Enum(["required", "preferred", "discouraged"])),
    publishableKeyRegistration: Reset(Type.Boolean({ description: "Whether a publishable key may register credentials (default true)" })),
  }, "Passkeys (API.md §4.4)"),
  push: section({
    timeoutSeconds: Reset(Type.Integer({ minimum: 10, maximum: 600 })),
    maxPending: Reset(Type.Integer({ minimum: 1, maximum: 100 })),
    maxDenials: Reset(Type.Integer({ minimum: 1, maximum: 100 })),
    denialWindowSeconds: Reset(Type.Integer({ minimum: 60, maximum: 86_400 })),
    defaultLocale: Reset(Locale),
  }, "Push approval (API.md §4.5)"),
  rateLimits: section({
    globalPerMin: Reset(PerMinute),
    sendPerMin: Reset(PerMinute),
    verifyPerMin: Reset(PerMinute),
  }, "Per-IP request budgets per minute (API.md §3)"),
  mfa: section({
    requiredOnVerify: Reset(Type.Boolean({ description: "A verify that leaves required channels answers 403 MFA_REQUIRED (API.md §8)" })),
  }, "MFA policies (API.md §8)"),
}, { additionalProperties: false, description: "Merged into the stored settings (RFC 7396 JSON Merge Patch: objects merge, other values replace, null restores the default)" });

const AppName = Type.String({ minLength: 1, maxLength: 128 });

export const CreateAppBody = Type.Object({ name: AppName, settings: Type.Optional(SettingsPatch) }, { additionalProperties: false });
export const UpdateAppBody = Type.Object(
  { name: Type.Optional(AppName), settings: Type.Optional(SettingsPatch) },
  { additionalProperties: false, minProperties: 1 },
);

const Id = (description: string) => Type.String({ minLength: 1, maxLength: 64, description });
export const AppParams = Type.Object({ appId: Id("app_…") });

export const AdminAppView = Type.Object({
  appId: Type.String({ description: "app_…" }),
  name: Type.String(),
  settings: Type.Object({}, { additionalProperties: true, description: "The stored overrides" }),
  effectiveSettings: Type.Object({}, { additionalProperties: true, description: "What the channels use: the overrides over the deployment defaults" }),
  createdAt: DateTime,
  updatedAt: DateTime,
});
export const AppList = Type.Object({ apps: Type.Array(AdminAppView), nextCursor: NextCursor });

// ── keys ──────────────────────────────────────────────────────────────────────────────────

export const CreateKeyBody = Type.Object({
  kind: Type.Enum(["secret", "publishable"], { description: "secret (2fa_…, server side) or publishable (pk_…, browser-safe calls only, API.md §7)" }),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
}, { additionalProperties: false });
export const KeyParams = Type.Object({ keyId: Id("key_…") });

const keyFields = {
  id: Type.String({ description: "key_…" }),
  appId: Type.String(),
  kind: Type.Enum(["secret", "publishable"]),
  name: Nullable(Type.String()),
  prefix: Type.String({ description: "The key's first characters, to tell keys apart" }),
  createdAt: DateTime,
  lastUsedAt: Nullable(DateTime),
  revokedAt: Nullable(DateTime),
};
export const KeyView = Type.Object(keyFields);
export const KeyList = Type.Object({ keys: Type.Array(KeyView), nextCursor: NextCursor });
export const CreatedKey = Type.Object({ ...keyFields, key: Type.String({ description: "The key itself, shown only in this answer" }) });
export const RotatedKey = Type.Object({
  ...keyFields,
  key: Type.String({ description: "The new key, shown only in this answer" }),
  replaces: Type.String({ description: "The id of the key this one replaces (now revoked)" }),
});

// ── policies ──────────────────────────────────────────────────────────────────────────────

export const PolicyParams = Type.Object({ policyId: Id("pol_…") });
export const PolicyList = Type.Object({ policies: Type.Array(PolicyView), nextCursor: NextCursor });
export const DeletedPolicy = Type.Object({ id: Type.String(), deleted: Type.Literal(true) });

// ── webhooks (bodies and answers are the webhooks feature's own) ──────────────────────────

export const WebhookParams = Type.Object({ webhookId: Id("whk_…") });
export const AdminDeliveryParams = Type.Object({ deliveryId: Id("whd_…") });

// ── end users ─────────────────────────────────────────────────────────────────────────────

/** `known-devices`: the devices the user passed an MFA check with (a `newDevice` policy treats them as known). */
export const FACTORS = ["totp", "webauthn", "push", "backup_codes", "destination-lock", "known-devices"] as const;
const UserId = Type.String({ minLength: 1, maxLength: 128, description: "The app's own id for the user (userId in the channel APIs)" });
export const UserParams = Type.Object({ appId: Id("app_…"), userId: UserId });
export const FactorParams = Type.Object({
  appId: Id("app_…"),
  userId: Type.String({ minLength: 1, maxLength: 320, description: "The userId; for destination-lock, the phone number or email address (URL-encoded), normalized as the OTP channels do" }),
  factor: Type.Enum([...FACTORS], { description: "What to remove" }),
});
export const FactorQuery = Type.Object({
  credentialId: Type.Optional(Type.String({ minLength: 1, maxLength: 1400, description: "webauthn: remove only this credential (default: all of the user's)" })),
  deviceId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "push: remove only this device (default: all of the user's)" })),
});

export const FactorsView = Type.Object({
  userId: Type.String(),
  totp: Type.Object({
    enabled: Type.Boolean(),
    pending: Type.Boolean({ description: "Set up but not yet confirmed by a first code" }),
    createdAt: Nullable(DateTime),
    lastUsedAt: Nullable(DateTime),
    backupCodesRemaining: Type.Integer(),
  }),
  webauthn: Type.Object({ credentials: Type.Array(CredentialView) }),
  push: Type.Object({ devices: Type.Array(DeviceView) }),
});
export const FactorRemoval = Type.Object({
  userId: Type.String({ description: "The user, or for destination-lock the normalized destination, masked" }),
  factor: Type.Enum([...FACTORS]),
  removed: Type.Integer({ description: "Credentials, devices or backup codes removed; 1 for a factor or a lifted lock" }),
});

// ── audit log ─────────────────────────────────────────────────────────────────────────────

export const AuditQuery = Type.Object({
  appId: Type.Optional(Id("Only entries about this app")),
  actor: Type.Optional(Type.String({ minLength: 1, maxLength: 320, description: "Only this actor: an operator id (adm_…) or email, or a key id (key_…)" })),
  action: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "Only this action (admin.keys.revoke); a trailing * matches a prefix (admin.keys.*)" })),
  from: Type.Optional(Type.String({ format: "date-time", description: "Entries at or after this time" })),
  to: Type.Optional(Type.String({ format: "date-time", description: "Entries at or before this time" })),
  cursor: Type.Optional(Cursor),
  limit: Type.Optional(Limit),
});
export const AuditEntryView = Type.Object({
  id: Type.String(),
  createdAt: DateTime,
  actorType: Type.String({ description: "admin | api_key | ephemeral_key | publishable_key | system | anonymous" }),
  actorId: Nullable(Type.String()),
  appId: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  action: Type.String(),
  target: Nullable(Type.String()),
  outcome: Type.String({ description: "success | failure | denied" }),
  details: Nullable(Type.Object({}, { additionalProperties: true })),
});
export const AuditList = Type.Object({ entries: Type.Array(AuditEntryView), nextCursor: NextCursor });
