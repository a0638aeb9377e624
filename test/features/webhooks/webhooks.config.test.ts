/**
 * The WEBHOOK_* settings: defaults as API.md §5 states them, and a bad value stops the server
 * with one line naming the variable.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../src/config.ts";
import { webhookSettings } from "../../../src/features/webhooks/webhooks.delivery.ts";

describe("webhook configuration", () => {
  it("defaults: retries after about 30 s, 2 m, 10 m, 1 h, 6 h, 24 h; 10 s per attempt; private targets refused", () => {
    const settings = webhookSettings(loadConfig({}));
    expect(settings).toMatchObject({
      runWorker: true,
      retryScheduleMs: [30_000, 120_000, 600_000, 3_600_000, 21_600_000, 86_400_000],
      attemptTimeoutMs: 10_000,
      pollIntervalMs: 1000,
      concurrency: 64,
      endpointConcurrency: 16,
    });
    expect(settings.addressPolicy.allowPrivate).toBe(false);
  });

  it("reads a schedule in milliseconds and lets buildApp deps override it", () => {
    const config = loadConfig({ WEBHOOK_RETRY_SCHEDULE_MS: "100, 200,400", WEBHOOK_TIMEOUT_MS: "500", WEBHOOK_WORKER: "false", WEBHOOK_ALLOW_PRIVATE: "true" });
    expect(webhookSettings(config)).toMatchObject({ retryScheduleMs: [100, 200, 400], attemptTimeoutMs: 500, runWorker: false });
    expect(webhookSettings(config).addressPolicy.allowPrivate).toBe(true);
    expect(webhookSettings(config, { retryScheduleMs: [5], worker: true })).toMatchObject({ retryScheduleMs: [5], runWorker: true });
  });

  it.each([
    [{ WEBHOOK_RETRY_SCHEDULE_MS: "30s,2m" }, "WEBHOOK_RETRY_SCHEDULE_MS"],
    [{ WEBHOOK_RETRY_SCHEDULE_MS: "1000,-5" }, "WEBHOOK_RETRY_SCHEDULE_MS"],
    [{ WEBHOOK_TIMEOUT_MS: "0" }, "WEBHOOK_TIMEOUT_MS"],
    [{ WEBHOOK_CONCURRENCY: "many" }, "WEBHOOK_CONCURRENCY"],
    [{ WEBHOOK_WORKER: "sometimes" }, "WEBHOOK_WORKER"],
  ])("%j → ConfigError naming %s", (env, variable) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    try {
      loadConfig(env);
    } catch (err) {
      expect((err as ConfigError).variable).toBe(variable);
      expect((err as ConfigError).message).not.toContain("\n");
    }
  });
});
