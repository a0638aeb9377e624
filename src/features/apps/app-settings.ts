/**
 * Per-app settings: the app's overrides (App.settings JSON) over the deployment defaults
 * (Config). Channels read their section from `AppSettings`; the admin API (§9) writes them.
 * Unknown or ill-typed stored values fall back to the default instead of failing a request.
 */
import type { Config } from "../../config.ts";
import type { Clock } from "../../infra/clock.ts";
import type { AppsRepository } from "./apps.repository.ts";

export type Locale = "ko" | "en";

export interface MessageTemplate {
  /** SMS text, or the email's plain-text body. Placeholders: {appName}, {code}, {minutes}. */
  text?: string;
  /** Email subject (same placeholders). */
  subject?: string;
  /** Email HTML body (placeholders as above, values HTML-escaped). */
  html?: string;
}

export interface OtpSettings {
  codeLength: number;
  ttlSeconds: number;
  maxAttempts: number;
  /** ISO 3166 countries SMS may be sent to (SMS-pumping defence). */
  allowedCountries: string[];
  /** Destinations (E.164 phone or lower-case email) with a fixed code that never reach a provider. */
  testDestinations: Array<{ destination: string; code: string }>;
  /** Per-channel, per-locale template overrides. */
  templates: { sms: Partial<Record<Locale, MessageTemplate>>; email: Partial<Record<Locale, MessageTemplate>> };
  defaultLocale: Locale;
  /** Per destination: minimum seconds between two sends (API.md §3: 30, `RESEND_TOO_SOON`). */
  resendIntervalSeconds: number;
  /** Per destination: sends per rolling hour (API.md §3: 5, `RATE_LIMITED`). */
  maxSendsPerHour: number;
}

export type TotpAlgorithm = "SHA1" | "SHA256" | "SHA512";

export interface TotpSettings {
  issuer: string;
  digits: 6 | 8;
  periodSeconds: 30 | 60;
  algorithm: TotpAlgorithm;
  /** Wrong codes in a row before the user is locked. */
  maxFailures: number;
  lockSeconds: number;
}

export type UserVerificationRequirement = "required" | "preferred" | "discouraged";

export interface WebauthnSettings {
  /** Relying party id: the registrable domain the credentials are scoped to (WebAuthn §4, "RP ID"). */
  rpId: string;
  rpName: string;
  /** Exact origins (scheme://host[:port]) a ceremony may come from. */
  origins: string[];
  /** Asked of authenticators in options; "required" also makes verification demand the UV flag. */
  userVerification: UserVerificationRequirement;
  /**
   * Whether a publishable key may register credentials (API.md §7 allows it). A publishable key
   * is public, so with this on, whoever has it can add a passkey to any userId: turn it off to
   * keep registration behind your server's secret key.
   */
  publishableKeyRegistration: boolean;
}

export interface PushSettings {
  /** Lifetime of a request when the send names none (API.md §4.5: default 120, at most 600). */
  timeoutSeconds: number;
  /** Pending requests a user may have at once; a send beyond them is push fatigue (API.md §4.5: 3). */
  maxPending: number;
  /** Denials within `denialWindowSeconds` after which sends are refused (API.md §4.5: 3 in 10 minutes). */
  maxDenials: number;
  denialWindowSeconds: number;
  /** Language of the default notification title and text. */
  defaultLocale: Locale;
}

/** Per-IP request budgets per minute (API.md §3); an app may loosen or tighten the deployment's. */
export interface RateLimitSettings {
  globalPerMin: number;
  sendPerMin: number;
  verifyPerMin: number;
}

export interface MfaSettings {
  /** MFA_REQUIRED_ON_VERIFY (API.md §8): a verify that leaves required channels answers 403 MFA_REQUIRED. */
  requiredOnVerify: boolean;
}

export interface AppSettings {
  appId: string;
  appName: string;
  otp: OtpSettings;
  totp: TotpSettings;
  webauthn: WebauthnSettings;
  push: PushSettings;
  rateLimits: RateLimitSettings;
  mfa: MfaSettings;
  /** The raw stored object, for sections not modelled here yet. */
  raw: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => Boolean(v) && typeof v === "object" && !Array.isArray(v);
const section = (raw: Record<string, unknown>, name: string) => (isObject(raw[name]) ? raw[name] : {});
const intIn = (v: unknown, min: number, max: number, fallback: number) => (Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? (v as number) : fallback);
const oneOf = <T>(v: unknown, values: readonly T[], fallback: T): T => (values.includes(v as T) ? (v as T) : fallback);
const str = (v: unknown, fallback: string) => (typeof v === "string" && v.trim() ? v : fallback);
/** A host name usable as an RP id: lower-case labels, no scheme, port or path. */
const RP_ID_PATTERN = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** `https://example.com` (a trailing slash is forgiven) or an Android app's `android:apk-key-hash:…`; else undefined. */
const toOrigin = (v: unknown): string | undefined => {
  if (typeof v !== "string") return undefined;
  if (/^android:apk-key-hash:[A-Za-z0-9_-]{16,128}$/.test(v)) return v;
  try {
    const url = new URL(v);
    const bare = url.pathname === "/" && !url.search && !url.hash && !url.username;
    return (url.protocol === "https:" || url.protocol === "http:") && bare ? url.origin : undefined;
  } catch {
    return undefined;
  }
};
const origins = (v: unknown, fallback: string[]): string[] => {
  const parsed = Array.isArray(v) ? v.map(toOrigin) : [];
  return parsed.length > 0 && parsed.every((o) => o !== undefined) ? (parsed as string[]) : [...fallback];
};

export function resolveAppSettings(app: { id: string; name: string; settings: unknown }, config: Config): AppSettings {
  const raw = isObject(app.settings) ? app.settings : {};
  const otp = section(raw, "otp");
  const totp = section(raw, "totp");
  const webauthn = section(raw, "webauthn");
  const push = section(raw, "push");
  const rateLimits = section(raw, "rateLimits");
  const mfa = section(raw, "mfa");
  const templates = section(otp, "templates");
  return {
    appId: app.id,
    appName: app.name,
    raw,
    otp: {
      codeLength: intIn(otp.codeLength, 4, 10, config.OTP_CODE_LENGTH),
      ttlSeconds: intIn(otp.ttlSeconds, 30, 3600, config.OTP_TTL_SECONDS),
      maxAttempts: intIn(otp.maxAttempts, 1, 20, config.OTP_MAX_ATTEMPTS),
      allowedCountries: Array.isArray(otp.allowedCountries) && otp.allowedCountries.every((c) => typeof c === "string")
        ? (otp.allowedCountries as string[]).map((c) => c.toUpperCase())
        : [config.DEFAULT_COUNTRY],
      testDestinations: Array.isArray(otp.testDestinations)
        ? (otp.testDestinations as unknown[]).filter(
            (d): d is { destination: string; code: string } => isObject(d) && typeof d.destination === "string" && typeof d.code === "string",
          )
        : [],
      templates: {
        sms: (isObject(templates.sms) ? templates.sms : {}) as OtpSettings["templates"]["sms"],
        email: (isObject(templates.email) ? templates.email : {}) as OtpSettings["templates"]["email"],
      },
      defaultLocale: oneOf(otp.defaultLocale, ["ko", "en"] as const, config.DEFAULT_LOCALE),
      resendIntervalSeconds: intIn(otp.resendIntervalSeconds, 0, 3600, 30),
      maxSendsPerHour: intIn(otp.maxSendsPerHour, 1, 100_000, 5),
    },
    totp: {
      issuer: str(totp.issuer, config.TOTP_ISSUER),
      digits: oneOf(totp.digits, [6, 8] as const, 6),
      periodSeconds: oneOf(totp.periodSeconds ?? totp.period, [30, 60] as const, 30),
      algorithm: oneOf(totp.algorithm, ["SHA1", "SHA256", "SHA512"] as const, "SHA1"),
      maxFailures: intIn(totp.maxFailures, 1, 100, 5),
      lockSeconds: intIn(totp.lockSeconds, 1, 86400, config.TOTP_LOCK_SECONDS),
    },
    webauthn: {
      rpId: typeof webauthn.rpId === "string" && RP_ID_PATTERN.test(webauthn.rpId) ? webauthn.rpId : config.WEBAUTHN_RP_ID,
      rpName: str(webauthn.rpName, config.WEBAUTHN_RP_NAME),
      origins: origins(webauthn.origins, config.WEBAUTHN_ORIGINS),
      userVerification: oneOf(webauthn.userVerification, ["required", "preferred", "discouraged"] as const, "preferred"),
      publishableKeyRegistration: oneOf(webauthn.publishableKeyRegistration, [true, false] as const, true),
    },
    push: {
      timeoutSeconds: intIn(push.timeoutSeconds, 10, 600, config.PUSH_TIMEOUT_SECONDS),
      maxPending: intIn(push.maxPending, 1, 100, 3),
      maxDenials: intIn(push.maxDenials, 1, 100, 3),
      denialWindowSeconds: intIn(push.denialWindowSeconds, 60, 86400, 600),
      defaultLocale: oneOf(push.defaultLocale, ["ko", "en"] as const, config.DEFAULT_LOCALE),
    },
    rateLimits: {
      globalPerMin: intIn(rateLimits.globalPerMin, 1, 1_000_000, config.RATE_LIMIT_GLOBAL_PER_MIN),
      sendPerMin: intIn(rateLimits.sendPerMin, 1, 1_000_000, config.RATE_LIMIT_SEND_PER_MIN),
      verifyPerMin: intIn(rateLimits.verifyPerMin, 1, 1_000_000, config.RATE_LIMIT_VERIFY_PER_MIN),
    },
    mfa: {
      requiredOnVerify: oneOf(mfa.requiredOnVerify, [true, false] as const, config.MFA_REQUIRED_ON_VERIFY),
    },
  };
}

/** How long resolved settings are reused; settings changes apply everywhere within this time. */
const SETTINGS_CACHE_TTL_MS = 2000;

/** Resolved settings per app, cached briefly so a request costs no extra round trip for them. */
export class AppSettingsProvider {
  private readonly cache = new Map<string, { settings: AppSettings; expiresAt: number }>();
  constructor(private readonly apps: AppsRepository, private readonly config: Config, private readonly clock: Clock) {}

  async get(appId: string): Promise<AppSettings> {
    const now = this.clock.now().getTime();
    const hit = this.cache.get(appId);
    if (hit && hit.expiresAt > now) return hit.settings;
    const app = await this.apps.findById(appId);
    if (!app) throw new Error(`app ${appId} not found`);
    const settings = resolveAppSettings(app, this.config);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(appId, { settings, expiresAt: now + SETTINGS_CACHE_TTL_MS });
    return settings;
  }

  /** Drops the cached settings of one app (after an update on this instance). */
  invalidate(appId: string): void {
    this.cache.delete(appId);
  }
}
