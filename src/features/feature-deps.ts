/**
 * What buildApp (src/app.ts) hands every feature plugin under /api/v1. Each plugin's options
 * name the part of it they use (`Pick<FeatureDeps, …>`), plus whatever only that feature takes
 * (an SMS sender, a mailer, webhook overrides).
 */
import type { Config } from "../config.ts";
import type { ApiKeyAuthenticator } from "../infra/auth.ts";
import type { Clock } from "../infra/clock.ts";
import type { Keyring } from "../infra/crypto.ts";
import type { Database } from "../infra/db.ts";
import type { Metrics } from "../infra/metrics.ts";
import type { RouteLimits } from "../infra/rate-limits.ts";
import type { Signals } from "../infra/signals.ts";
import type { AppSettingsProvider } from "./apps/app-settings.ts";
import type { AuditLog } from "./audit/audit.service.ts";

export interface FeatureDeps {
  config: Config;
  db: Database;
  clock: Clock;
  metrics: Metrics;
  keyring: Keyring;
  /** Per-app settings, cached briefly. */
  settings: AppSettingsProvider;
  /** Cross-instance signals (Redis or PostgreSQL NOTIFY). */
  signals: Signals;
  /** The API-key checker (routes that check keys themselves, ephemeral keys). */
  authenticator: ApiKeyAuthenticator;
  audit: AuditLog;
  /** The send / verify rate limits a route opts into. */
  limits: RouteLimits;
}
