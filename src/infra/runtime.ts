/**
 * What the server and the CLI share on start: the database (PGlite under DATA_DIR or
 * PostgreSQL), migrations applied, and the encryption keyring.
 */
import path from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config.ts";
import { loadKeyring, type Keyring } from "./crypto.ts";
import { openDatabase, type Database } from "./db.ts";
import { applyMigrations } from "./migrate.ts";

export interface Runtime {
  db: Database;
  keyring: Keyring;
}

export async function openRuntime(config: Config, logger: Logger): Promise<Runtime> {
  const db = await openDatabase({
    url: config.DATABASE_URL,
    pgliteDir: path.join(config.dataDir, "pglite"),
    poolSize: config.DATABASE_POOL_SIZE,
    onPoolError: (err) => logger.warn({ err: err.message }, "database connection lost; the pool will reconnect"),
  });
  try {
    logger.info({ database: db.kind === "pglite" ? `embedded PostgreSQL in ${path.join(config.dataDir, "pglite")}` : "PostgreSQL" }, "database opened");
    await applyMigrations(db, { log: (message) => logger.info(message) });
    await warnWithoutAutovacuum(db, logger);
    const keyring = loadKeyring(config, (message) => logger.warn(message));
    return { db, keyring };
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Warns when PostgreSQL runs without autovacuum: the outbox and the webhook queue then keep
 * every dead row, and statements keep plans made while their tables were small, because only
 * the statistics autovacuum gathers make the server plan them again.
 */
export async function warnWithoutAutovacuum(db: Pick<Database, "kind" | "query">, logger: Pick<Logger, "warn">): Promise<boolean> {
  if (db.kind !== "postgres") return false;
  const [row] = await db.query<{ autovacuum: string }>("SHOW autovacuum");
  if (row?.autovacuum !== "off") return false;
  logger.warn("PostgreSQL runs with autovacuum = off: dead rows pile up in the event outbox and the webhook queue, and query plans are never refreshed as tables grow; turn autovacuum on (PostgreSQL's default), or run VACUUM ANALYZE regularly");
  return true;
}
