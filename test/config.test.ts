/**
 * The configuration schema (DEVELOPERS: one typed schema, validated at start, one clear line per bad value).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_VARIABLES, ConfigError, describeConfig, loadConfig } from "../src/config.ts";

describe("loadConfig", () => {
  it("needs no variable to run locally, and has the contract's defaults", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      PORT: 3000,
      DATA_DIR: "./data",
      DATABASE_URL: undefined,
      REDIS_URL: undefined,
      DEFAULT_COUNTRY: "KR",
      OTP_TTL_SECONDS: 180,
      OTP_CODE_LENGTH: 6,
      OTP_MAX_ATTEMPTS: 5,
      RATE_LIMIT_GLOBAL_PER_MIN: 100,
      RATE_LIMIT_SEND_PER_MIN: 3,
      RATE_LIMIT_VERIFY_PER_MIN: 10,
      PUSH_TIMEOUT_SECONDS: 120,
      SMS_PROVIDER: "console",
      PUSH_PROVIDER: "console",
      TOKEN_EXPIRATION: 604800,
      WEBHOOK_ALLOW_PRIVATE: false,
    });
    expect(config.dataDir).toMatch(/\/data$/);
    expect(config.API_KEY_CACHE_TTL_MS).toBeLessThanOrEqual(5000);
  });

  it.each([
    [{ PORT: "http" }, "PORT", "an integer from 1 to 65535"],
    [{ PORT: "70000" }, "PORT", "an integer from 1 to 65535"],
    [{ DATABASE_URL: "mysql://x" }, "DATABASE_URL", "postgresql://"],
    [{ REDIS_URL: "not a url" }, "REDIS_URL", "redis://"],
    [{ SMS_PROVIDER: "carrier-pigeon" }, "SMS_PROVIDER", "one of console, http, twilio"],
    [{ ENCRYPTION_KEY: "c2hvcnQ=" }, "ENCRYPTION_KEY", "32 bytes"],
    [{ WEBHOOK_ALLOW_PRIVATE: "maybe" }, "WEBHOOK_ALLOW_PRIVATE", "true or false"],
    [{ DEFAULT_COUNTRY: "Korea" }, "DEFAULT_COUNTRY", "two-letter"],
    [{ BOOTSTRAP_API_KEY: "abc" }, "BOOTSTRAP_API_KEY", "2fa_"],
    [{ SMS_PROVIDER: "http" }, "SMS_HTTP_URL", "SMS_PROVIDER=http"],
    [{ SMS_PROVIDER: "twilio", TWILIO_ACCOUNT_SID: "AC1" }, "TWILIO_AUTH_TOKEN", "twilio"],
    [{ PUSH_PROVIDER: "fcm" }, "FIREBASE_SERVICE_ACCOUNT", "fcm"],
    [{ ADMIN_EMAIL: "ops@example.com", ADMIN_PASSWORD: "short" }, "ADMIN_PASSWORD", "12 characters"],
    [{ API_KEY_CACHE_TTL_MS: "60000" }, "API_KEY_CACHE_TTL_MS", "0 to 5000"],
  ])("%j → ConfigError naming %s", (env, variable, expected) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toContain(variable);
    expect((error as ConfigError).message).toContain(expected);
    expect((error as ConfigError).message).not.toContain("\n");
  });

  it("parses lists, booleans and keys", () => {
    const key = Buffer.alloc(32, 7).toString("base64");
    const config = loadConfig({ WEBAUTHN_ORIGINS: "https://a.example, https://b.example", WEBHOOK_ALLOW_PRIVATE: "true", ENCRYPTION_KEY: key, TRUST_PROXY: "10.0.0.0/8,127.0.0.1" });
    expect(config.WEBAUTHN_ORIGINS).toEqual(["https://a.example", "https://b.example"]);
    expect(config.WEBHOOK_ALLOW_PRIVATE).toBe(true);
    expect(config.ENCRYPTION_KEY?.equals(Buffer.alloc(32, 7))).toBe(true);
    expect(config.TRUST_PROXY).toEqual(["10.0.0.0/8", "127.0.0.1"]);
  });

  it("the README's configuration table lists every variable", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    for (const row of describeConfig()) expect(readme, `README.md lacks ${row.name}`).toContain(`\`${row.name}\``);
    expect(describeConfig().map((r) => r.name)).toEqual(CONFIG_VARIABLES);
  });
});

describe("the server refuses a bad configuration", () => {
  it("stops with one line naming the variable", () => {
    const result = spawnSync(process.execPath, ["--import", "tsx", "src/server.ts"], {
      cwd: new URL("..", import.meta.url).pathname,
      env: { ...process.env, PORT: "not-a-port", DATABASE_URL: "" },
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe("Invalid configuration: PORT must be an integer from 1 to 65535");
  });
});
