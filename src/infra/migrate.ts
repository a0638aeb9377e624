/**
 * Applies the committed migrations (prisma/migrations/<timestamp>_<name>/migration.sql) and
 * records them in `_prisma_migrations` exactly as `prisma migrate deploy` does, so a database
 * migrated by either stays compatible with the other. Runs without Prisma's native engine.
 */
import { createHash, randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Database, SqlSession } from "./db.ts";

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../prisma/migrations");

/** Advisory lock held while migrating: instances starting together migrate one at a time. */
const MIGRATION_LOCK_KEY = 72_400_001;

export interface Migration {
  name: string;
  sql: string;
  /** SHA-256 of migration.sql, as Prisma computes it. */
  checksum: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(dir, entry.name, "migration.sql")))
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(path.join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);`;

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

export class MigrationError extends Error {
  override name = "MigrationError";
}

export interface MigrateOptions {
  migrations?: Migration[];
  log?: (message: string) => void;
}

/** Applies every migration not yet recorded, each in its own transaction. Returns their names. */
export async function applyMigrations(db: Database, options: MigrateOptions = {}): Promise<string[]> {
  const migrations = options.migrations ?? readMigrations();
  const appliedNow = await db.withLock(MIGRATION_LOCK_KEY, async (session) => {
    await session.exec(CREATE_MIGRATIONS_TABLE);
    const applied = await appliedMigrations(session);
    const done = new Set<string>();
    for (const row of applied) {
      if (row.rolled_back_at) continue;
      if (!row.finished_at) {
        throw new MigrationError(`Migration ${row.migration_name} failed earlier and was not rolled back; fix the database, then mark it rolled back`);
      }
      done.add(row.migration_name);
      const local = migrations.find((m) => m.name === row.migration_name);
      if (local && local.checksum !== row.checksum) {
        options.log?.(`Migration ${row.migration_name} was changed after it was applied; applied migrations must never be edited`);
      }
    }
    const appliedNow: string[] = [];
    for (const migration of migrations) {
      if (done.has(migration.name)) continue;
      await applyOne(session, migration);
      appliedNow.push(migration.name);
      options.log?.(`Applied migration ${migration.name}`);
    }
    return appliedNow;
  });
  if (appliedNow.length > 0) await db.schemaChanged();
  return appliedNow;
}

async function applyOne(session: SqlSession, migration: Migration): Promise<void> {
  // PostgreSQL DDL is transactional: a failing migration leaves nothing half-applied.
  await session.exec("BEGIN");
  try {
    await session.exec(migration.sql);
    await session.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
       VALUES ($1, $2, $3, now(), now(), 1)`,
      [randomUUID(), migration.checksum, migration.name],
    );
    await session.exec("COMMIT");
  } catch (err) {
    await session.exec("ROLLBACK");
    throw new MigrationError(`Migration ${migration.name} failed: ${(err as Error).message}`);
  }
}

async function appliedMigrations(session: SqlSession): Promise<AppliedRow[]> {
  return session.query<AppliedRow>(
    `SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at`,
  );
}

/** Names of committed migrations the database has not finished applying (for /ready). */
export async function pendingMigrations(db: Database, migrations: Migration[] = readMigrations()): Promise<string[]> {
  const rows = await db.query<{ migration_name: string }>(
    `SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
  );
  const done = new Set(rows.map((r) => r.migration_name));
  return migrations.map((m) => m.name).filter((name) => !done.has(name));
}
