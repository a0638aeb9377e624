/**
 * Every environment variable Latchkey reads, in one typed schema. `loadConfig` validates them
 * once at start; a bad value stops the server with one line naming the variable and what it
 * expects. Nothing is required to run locally. The README's configuration table is this list.
 */
import path from "node:path";

type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string };

interface VariableSpec<T> {
  /** What the README table says the variable does. */
  description: string;
  /** Shown in the README when there is a default. */
  defaultText?: string;
  /** Variables whose values must never be logged. */
  secret?: boolean;
  parse(raw: string | undefined): Parsed<T>;
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = (expected: string): Parsed<never> => ({ ok: false, expected });
const blank = (raw: string | undefined): raw is undefined => raw === undefined || raw.trim() === "";

function str(description: string, options: { default?: string; secret?: boolean } = {}): VariableSpec<string | undefined> {
  return {
    description,
    defaultText: options.default,
    secret: options.secret,
    parse: (raw) => ok(blank(raw) ? options.default : raw.trim()),
  };
}

function strWithDefault(description: string, fallback: string): VariableSpec<string> {
  return { description, defaultText: fallback, parse: (raw) => ok(blank(raw) ? fallback : raw.trim()) };
}

function int(description: string, fallback: number, min: number, max: number): VariableSpec<number> {
  return {
    description,
    defaultText: String(fallback),
    parse(raw) {
      if (blank(raw)) return ok(fallback);
      const value = Number(raw.trim());
      if (!Number.isInteger(value) || value < min || value > max) return bad(`an integer from ${min} to ${max}`);
      return ok(value);
    },
  };
}

function bool(description: string, fallback: boolean): VariableSpec<boolean> {
  return {
    description,
    defaultText: String(fallback),
    parse(raw) {
      if (blank(raw)) return ok(fallback);
      const v = raw.trim().toLowerCase();
      if (["true", "1", "yes", "on"].includes(v)) return ok(true);
      if (["false", "0", "no", "off"].includes(v)) return ok(false);
      return bad("true or false");
    },
  };
}

function oneOf<const T extends string>(description: string, values: readonly T[], fallback: T): VariableSpec<T> {
  return {
    description,
    defaultText: fallback,
    parse(raw) {
      if (blank(raw)) return ok(fallback);
      const v = raw.trim() as T;
      return values.includes(v) ? ok(v) : bad(`one of ${values.join(", ")}`);
    },
  };
}

function url(description: string, protocols: readonly string[], options: { secret?: boolean } = {}): VariableSpec<string | undefined> {
  return {
    description,
    secret: options.secret,
    parse(raw) {
      if (blank(raw)) return ok(undefined);
      try {
        const parsed = new URL(raw.trim());
        if (!protocols.includes(parsed.protocol)) return bad(`a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}`);
        return ok(raw.trim());
      } catch {
        return bad(`a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}`);
      }
    },
  };
}

function list(description: string, fallback: readonly string[]): VariableSpec<string[]> {
  return {
    description,
    defaultText: fallback.join(","),
    parse: (raw) =>
      ok(blank(raw) ? [...fallback] : raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0)),
  };
}

/** A comma-separated list of integers, each from `min` to `max` (at least one). */
function intList(description: string, fallback: readonly number[], min: number, max: number): VariableSpec<number[]> {
  return {
    description,
    defaultText: fallback.join(","),
    parse(raw) {
      if (blank(raw)) return ok([...fallback]);
      const values = raw.split(",").map((s) => Number(s.trim()));
      return values.length > 0 && values.every((v) => Number.isInteger(v) && v >= min && v <= max)
        ? ok(values)
        : bad(`a comma-separated list of integers from ${min} to ${max}`);
    },
  };
}

function base64Key(description: string): VariableSpec<Buffer | undefined> {
  return {
    description,
    secret: true,
    parse(raw) {
      if (blank(raw)) return ok(undefined);
      const bytes = Buffer.from(raw.trim(), "base64");
      return bytes.length === 32 ? ok(bytes) : bad("32 bytes encoded in base64 (openssl rand -base64 32)");
    },
  };
}

function base64KeyList(description: string): VariableSpec<Buffer[]> {
  return {
    description,
    secret: true,
    parse(raw) {
      if (blank(raw)) return ok([]);
      const keys = raw.split(",").map((s) => Buffer.from(s.trim(), "base64"));
      return keys.every((k) => k.length === 32) ? ok(keys) : bad("a comma-separated list of 32-byte base64 keys");
    },
  };
}

function apiKey(description: string): VariableSpec<string | undefined> {
  return {
    description,
    secret: true,
    parse(raw) {
      if (blank(raw)) return ok(undefined);
      const v = raw.trim();
      return /^2fa_[A-Za-z0-9_-]{32,200}$/.test(v) ? ok(v) : bad("a key of the form 2fa_ followed by at least 32 letters, digits, - or _");
    },
  };
}

function countryCode(description: string, fallback: string): VariableSpec<string> {
  return {
    description,
    defaultText: fallback,
    parse(raw) {
      if (blank(raw)) return ok(fallback);
      const v = raw.trim().toUpperCase();
      return /^[A-Z]{2}$/.test(v) ? ok(v) : bad("a two-letter ISO 3166 country code such as KR or US");
    },
  };
}

function trustProxy(description: string): VariableSpec<boolean | number | string[]> {
  return {
    description,
    defaultText: "false",
    parse(raw) {
      if (blank(raw)) return ok(false);
      const v = raw.trim();
      if (v === "true") return ok(true);
      if (v === "false") return ok(false);
      if (/^\d+$/.test(v)) return ok(Number(v));
      const entries = v.split(",").map((s) => s.trim()).filter(Boolean);
      const ipLike = /^[0-9a-fA-F:.]+(\/\d{1,3})?$/;
      return entries.every((e) => ipLike.test(e) || ["loopback", "linklocal", "uniquelocal"].includes(e))
        ? ok(entries)
        : bad("true, false, a hop count, or a comma-separated list of proxy IPs/CIDRs");
    },
  };
}

/** The schema. Order is the order of the README table. */
export const CONFIG_SCHEMA = {
  PORT: int("HTTP port", 3000, 1, 65535),
  HOST: strWithDefault("Address to listen on", "0.0.0.0"),
  LOG_LEVEL: oneOf("pino log level", ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const, "info"),
  NODE_ENV: oneOf("Runtime mode", ["development", "production", "test"] as const, "development"),
  DATA_DIR: strWithDefault("Where the embedded database and the generated encryption key live", "./data"),
  DATABASE_URL: url("PostgreSQL connection string; without it an embedded PostgreSQL (PGlite) under DATA_DIR is used", ["postgresql:", "postgres:"], { secret: true }),
  DATABASE_POOL_SIZE: int("Connections in the PostgreSQL pool that serves requests (an instance running the webhook worker opens up to 4 more, for the delivery queue)", 10, 1, 200),
  REDIS_URL: url("Redis for rate-limit counters and cross-instance signals; without it they live in memory", ["redis:", "rediss:"], { secret: true }),
  TRUST_PROXY: trustProxy("Which proxies' X-Forwarded-For to believe for the client IP"),
  API_KEY_CACHE_TTL_MS: int("How long a checked API key is cached; a revoked key stops working within this time", 2000, 0, 5000),

  BOOTSTRAP_APP_NAME: strWithDefault("Name of the app created on first start", "Default App"),
  BOOTSTRAP_API_KEY: apiKey("Use this secret key for the first app instead of generating one"),
  BOOTSTRAP_WEBHOOK_URL: url("Register this webhook endpoint for the first app", ["http:", "https:"]),
  BOOTSTRAP_WEBHOOK_SECRET: str("Signing secret for BOOTSTRAP_WEBHOOK_URL (generated when absent)", { secret: true }),
  ADMIN_EMAIL: str("Create this operator (role owner) on start if no operator has that email"),
  ADMIN_PASSWORD: str("Password for ADMIN_EMAIL (at least 12 characters)", { secret: true }),

  ENCRYPTION_KEY: base64Key("32-byte base64 key sealing TOTP and webhook secrets; generated once into DATA_DIR when absent"),
  ENCRYPTION_KEYS_OLD: base64KeyList("Earlier ENCRYPTION_KEY values, still used to decrypt during a rotation"),
  TOKEN_EXPIRATION: int("Admin session lifetime in seconds", 604800, 60, 31536000),

  DEFAULT_COUNTRY: countryCode("Region for phone numbers given without a country code", "KR"),
  DEFAULT_LOCALE: oneOf("Locale of messages when a request names none", ["ko", "en"] as const, "ko"),
  OTP_TTL_SECONDS: int("Lifetime of an SMS/email code", 180, 30, 3600),
  OTP_CODE_LENGTH: int("Digits in an SMS/email code", 6, 4, 10),
  OTP_MAX_ATTEMPTS: int("Wrong codes allowed per code", 5, 1, 20),
  SMS_PROVIDER: oneOf("How SMS leaves", ["console", "http", "twilio"] as const, "console"),
  SMS_HTTP_URL: url("Gateway URL for SMS_PROVIDER=http", ["http:", "https:"]),
  SMS_HTTP_TOKEN: str("Bearer token sent to SMS_HTTP_URL", { secret: true }),
  TWILIO_ACCOUNT_SID: str("Twilio account SID"),
  TWILIO_AUTH_TOKEN: str("Twilio auth token", { secret: true }),
  TWILIO_FROM: str("Twilio sender number"),
  TWILIO_BASE_URL: strWithDefault("Twilio API base URL", "https://api.twilio.com"),
  SMTP_URL: url("SMTP server for email codes (smtp://user:pass@host:port); without it emails are printed", ["smtp:", "smtps:"], { secret: true }),
  SMTP_FROM: strWithDefault("Sender of email codes", "Latchkey <no-reply@localhost>"),

  RATE_LIMIT_GLOBAL_PER_MIN: int("Requests per minute per client IP", 100, 1, 1_000_000),
  RATE_LIMIT_SEND_PER_MIN: int("OTP sends per minute per client IP", 3, 1, 1_000_000),
  RATE_LIMIT_VERIFY_PER_MIN: int("Verify attempts per minute per client IP", 10, 1, 1_000_000),

  TOTP_ISSUER: strWithDefault("Issuer shown in authenticator apps when the app sets none", "Latchkey"),
  TOTP_LOCK_SECONDS: int("How long 5 wrong TOTP codes lock a user", 900, 1, 86400),

  WEBAUTHN_RP_ID: strWithDefault("WebAuthn relying party id (your domain)", "localhost"),
  WEBAUTHN_RP_NAME: strWithDefault("WebAuthn relying party name", "Latchkey"),
  WEBAUTHN_ORIGINS: list("Origins allowed to use WebAuthn, comma-separated", ["http://localhost:3000"]),
  CORS_ORIGINS: list("Web page origins whose scripts may call the API with publishable or ephemeral keys (CORS), comma-separated, or * for any; default WEBAUTHN_ORIGINS", []),

  PUSH_PROVIDER: oneOf("How push approvals leave", ["console", "fcm"] as const, "console"),
  FIREBASE_SERVICE_ACCOUNT: str("Firebase service account for PUSH_PROVIDER=fcm: a file path or the JSON itself", { secret: true }),
  PUSH_TIMEOUT_SECONDS: int("Default lifetime of a push approval request", 120, 10, 600),
  PUSH_SWEEP_INTERVAL_MS: int("How often an instance marks push requests past their time expired (event push.expired, once whatever the number of instances)", 1000, 10, 60_000),

  WEBHOOK_ALLOW_PRIVATE: bool("Allow webhook URLs on loopback/private addresses", false),
  WEBHOOK_WORKER: bool("Deliver webhooks from this instance (false: an API-only instance; another one delivers)", true),
  WEBHOOK_RETRY_SCHEDULE_MS: intList(
    "Delays before each webhook retry, in ms (±20 % jitter); after the last one a delivery is failed",
    [30_000, 120_000, 600_000, 3_600_000, 21_600_000, 86_400_000],
    0,
    604_800_000,
  ),
  WEBHOOK_TIMEOUT_MS: int("Longest a webhook receiver may take to answer one attempt", 10_000, 100, 60_000),
  WEBHOOK_POLL_INTERVAL_MS: int("How often an instance looks for webhook work recorded by other instances", 1000, 10, 60_000),
  WEBHOOK_CONCURRENCY: int("Webhook attempts in flight per instance, all endpoints together", 64, 1, 1024),
  WEBHOOK_ENDPOINT_CONCURRENCY: int("Webhook attempts in flight per instance to any one endpoint", 16, 1, 1024),
  MFA_REQUIRED_ON_VERIFY: bool("Default for apps: a verify that leaves policy-required channels answers 403 MFA_REQUIRED", false),
} as const;

export type ConfigVariable = keyof typeof CONFIG_SCHEMA;
export const CONFIG_VARIABLES = Object.keys(CONFIG_SCHEMA) as ConfigVariable[];

type Values = { -readonly [K in ConfigVariable]: (typeof CONFIG_SCHEMA)[K] extends VariableSpec<infer T> ? T : never };

/** The validated configuration every module receives; nothing else reads `process.env`. */
export type Config = Values & {
  /** DATA_DIR resolved to an absolute path. */
  dataDir: string;
};

export class ConfigError extends Error {
  constructor(readonly variable: string, readonly expected: string) {
    super(`Invalid configuration: ${variable} must be ${expected}`);
    this.name = "ConfigError";
  }
}

/** Parses and checks every variable; throws a ConfigError naming the first bad one. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const values: Record<string, unknown> = {};
  for (const name of CONFIG_VARIABLES) {
    const result = (CONFIG_SCHEMA[name] as VariableSpec<unknown>).parse(env[name]);
    if (!result.ok) throw new ConfigError(name, result.expected);
    values[name] = result.value;
  }
  const config = values as Values;
  if (config.SMS_PROVIDER === "http" && !config.SMS_HTTP_URL) throw new ConfigError("SMS_HTTP_URL", "set when SMS_PROVIDER=http");
  if (config.SMS_PROVIDER === "twilio") {
    for (const name of ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"] as const) {
      if (!config[name]) throw new ConfigError(name, "set when SMS_PROVIDER=twilio");
    }
  }
  if (config.PUSH_PROVIDER === "fcm" && !config.FIREBASE_SERVICE_ACCOUNT) {
    throw new ConfigError("FIREBASE_SERVICE_ACCOUNT", "set when PUSH_PROVIDER=fcm (a path or the JSON itself)");
  }
  if (config.ADMIN_EMAIL && !/^[^\s@]+@[^\s@]+$/.test(config.ADMIN_EMAIL)) throw new ConfigError("ADMIN_EMAIL", "an email address");
  if (config.ADMIN_EMAIL && (!config.ADMIN_PASSWORD || config.ADMIN_PASSWORD.length < 12)) {
    throw new ConfigError("ADMIN_PASSWORD", "at least 12 characters when ADMIN_EMAIL is set");
  }
  for (const origin of config.CORS_ORIGINS) {
    if (origin !== "*" && !isBareOrigin(origin)) throw new ConfigError("CORS_ORIGINS", "comma-separated origins like https://shop.example (scheme, host, optional port; no path), or *");
  }
  if (config.BOOTSTRAP_WEBHOOK_SECRET && !config.BOOTSTRAP_WEBHOOK_URL) {
    throw new ConfigError("BOOTSTRAP_WEBHOOK_URL", "set when BOOTSTRAP_WEBHOOK_SECRET is set");
  }
  return { ...config, dataDir: path.resolve(config.DATA_DIR) };
}

/** `https://shop.example` or `http://localhost:3000`: an origin as browsers send it, nothing more. */
function isBareOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "https:" || url.protocol === "http:") && url.origin === value;
  } catch {
    return false;
  }
}

/** Rows for the README's configuration table. */
export function describeConfig(): Array<{ name: ConfigVariable; default: string; description: string }> {
  return CONFIG_VARIABLES.map((name) => {
    const spec = CONFIG_SCHEMA[name] as VariableSpec<unknown>;
    return { name, default: spec.defaultText ?? "", description: spec.description };
  });
}
