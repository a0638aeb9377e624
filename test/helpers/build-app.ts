/**
 * A Latchkey app on this file's own clean database, with an app and its secret key, ready
 * for `app.inject` or `listen({ port: 0 })`. Uses Redis when REDIS_URL is set.
 */
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import pino from "pino";
import { buildApp, type AppDeps } from "../../src/app.ts";
import { loadConfig, type Config } from "../../src/config.ts";
import { appsRepository } from "../../src/features/apps/apps.repository.ts";
import { createApp } from "../../src/features/apps/apps.service.ts";
import { keysRepository } from "../../src/features/keys/keys.repository.ts";
import { createApiKey } from "../../src/features/keys/keys.service.ts";
import type { Clock } from "../../src/infra/clock.ts";
import { Keyring } from "../../src/infra/crypto.ts";
import { loggerOptions } from "../../src/infra/logger.ts";
import { createTestDatabase, type TestDatabase } from "./databases.ts";

/** Test defaults: limits high enough that only tests about limits meet them. */
export const TEST_ENV: Record<string, string> = {
  LOG_LEVEL: "silent",
  NODE_ENV: "test",
  RATE_LIMIT_GLOBAL_PER_MIN: "1000000",
  RATE_LIMIT_SEND_PER_MIN: "1000000",
  RATE_LIMIT_VERIFY_PER_MIN: "1000000",
};

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ ...TEST_ENV, DATA_DIR: "/nonexistent/latchkey-test", ...env });
}

export interface TestApp {
  app: FastifyInstance;
  config: Config;
  database: TestDatabase;
  /** The app created for this test, and its secret key. */
  appId: string;
  apiKey: string;
  keyring: Keyring;
  /** Every log line, parsed (when `captureLogs` was asked for). */
  logs: Array<Record<string, unknown>>;
  /** Creates another app (tenant) with its own secret key. */
  createTenant(name?: string): Promise<{ appId: string; apiKey: string }>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  clock?: Clock;
  captureLogs?: boolean;
  database?: TestDatabase;
  deps?: Partial<AppDeps>;
}

export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const config = testConfig({ ...(options.captureLogs ? { LOG_LEVEL: "info" } : {}), ...options.env });
  const database = options.database ?? (await createTestDatabase());
  const keyring = new Keyring(randomBytes(32));
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = pino(loggerOptions(config.LOG_LEVEL), sink);
  const redis = process.env.REDIS_URL ? new Redis(process.env.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 }) : undefined;
  redis?.on("error", () => undefined);
  const rateLimitNamespace = `latchkey-test:${randomBytes(6).toString("hex")}:`;
  const app = await buildApp(config, { db: database.db, keyring, logger, redis, rateLimitNamespace, clock: options.clock, ...options.deps });

  const createTenant = async (name = `tenant ${randomBytes(3).toString("hex")}`) => {
    const created = await createApp(appsRepository(database.db.prisma), { name });
    const key = await createApiKey(keysRepository(database.db.prisma), { appId: created.id, kind: "secret" });
    return { appId: created.id, apiKey: key.key };
  };
  const first = await createTenant("Test App");

  return {
    app,
    config,
    database,
    keyring,
    logs,
    ...first,
    createTenant,
    async close() {
      await app.close();
      redis?.disconnect();
      if (!options.database) await database.close();
    },
  };
}
