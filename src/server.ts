/**
 * Entry point: read config, open the database, migrate, bootstrap, build the app, listen,
 * and close gracefully on SIGINT/SIGTERM.
 */
import { Redis } from "ioredis";
import pino from "pino";
import { buildApp } from "./app.ts";
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { bootstrap, bootstrapBanner } from "./features/apps/bootstrap.ts";
import { loggerOptions } from "./infra/logger.ts";
import { openRuntime } from "./infra/runtime.ts";

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
}

const config = readConfig();
const logger = pino(loggerOptions(config.LOG_LEVEL));

async function main(): Promise<void> {
  const { db, keyring } = await openRuntime(config, logger);
  const banner = bootstrapBanner(await bootstrap(db, config, keyring));
  if (banner) process.stdout.write(`${banner}\n`);

  const redis = config.REDIS_URL
    ? new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false, commandTimeout: 1_000 })
    : undefined;
  redis?.on("error", (err) => logger.warn({ err: err.message }, "redis unavailable"));

  const app = await buildApp(config, { db, keyring, logger, redis });
  await app.listen({ port: config.PORT, host: config.HOST });

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 10_000).unref();
    try {
      await app.close();
      await db.close();
      redis?.disconnect();
    } finally {
      clearTimeout(force);
      process.exit(0);
    }
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

main().catch((err) => {
  logger.fatal({ err }, "could not start");
  process.exit(1);
});
