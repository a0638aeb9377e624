/** A throwaway PostgreSQL database for one benchmark run, created and dropped through `pg`. */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";

export const ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres";

async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The database's URL: same server and credentials as `adminUrl`, another database name. */
export function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unsafe database name ${name}`);
  await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  return databaseUrl(adminUrl, name);
}

/** Drops it even while a (dying) server still holds connections. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unsafe database name ${name}`);
  await withAdmin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

export async function serverVersion(adminUrl: string): Promise<string> {
  return withAdmin(adminUrl, async (c) => (await c.query<{ server_version: string }>("SHOW server_version")).rows[0]?.server_version ?? "?");
}

/** Where a benchmark registers what must be undone (see `cleanupOnExit` in cli.ts). */
export type CleanupList = Array<{ name: string; fn: () => Promise<unknown> | unknown }>;

/**
 * A fresh database `latchkey_bench[_<label>]_<pid>` and a temporary DATA_DIR for one run,
 * both registered in `cleanups` so they are gone afterwards, also after a failure or Ctrl-C.
 */
export async function benchDatabaseAndDataDir(options: { label?: string; cleanups: CleanupList; log: (message: string) => void; note?: string }) {
  const suffix = options.label ? `_${options.label}` : "";
  const dbName = `latchkey_bench${suffix}_${process.pid}`;
  const url = await createDatabase(ADMIN_URL, dbName);
  options.cleanups.push({ name: `drop database ${dbName}`, fn: async () => {
    // BENCH_KEEP_DATABASE=1 leaves it for inspection (EXPLAIN, pg_stat_user_tables); drop it yourself.
    if (process.env.BENCH_KEEP_DATABASE) return options.log(`kept database ${dbName} (BENCH_KEEP_DATABASE)`);
    await dropDatabase(ADMIN_URL, dbName);
    options.log(`dropped database ${dbName}`);
  } });
  options.log(`created database ${dbName}${options.note ? ` (${options.note})` : ""}`);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `latchkey-bench${options.label ? `-${options.label}` : ""}-`));
  options.cleanups.push({ name: "remove the data dir", fn: () => rmSync(dataDir, { recursive: true, force: true }) });
  return { dbName, url, dataDir };
}
