/**
 * A clean database per test file: PGlite loaded from the run's template dump by default,
 * or, with TEST_DATABASE_URL set, a fresh PostgreSQL database cloned from the template.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";
import { inject } from "vitest";
import { openDatabase, type Database } from "../../src/infra/db.ts";

export function templateDatabaseName(): string {
  return `latchkey_template_${process.pid}`;
}

export async function adminConnection(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

export function databaseUrl(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

export interface TestDatabase {
  db: Database;
  /** postgresql:// URL of this database (PostgreSQL runs only). */
  url?: string;
  kind: "postgres" | "pglite";
  close(): Promise<void>;
}

/** True when the suite runs against a real PostgreSQL (CI), false on PGlite. */
export const onPostgres = Boolean(process.env.TEST_DATABASE_URL);

/** Opens a fresh, migrated database for this test file. */
export async function createTestDatabase(options: { poolSize?: number } = {}): Promise<TestDatabase> {
  const adminUrl = process.env.TEST_DATABASE_URL;
  const template = inject("postgresTemplate");
  if (adminUrl && template) {
    const name = `latchkey_t_${randomBytes(6).toString("hex")}`;
    const admin = await adminConnection(adminUrl);
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
    await admin.end();
    const url = databaseUrl(adminUrl, name);
    const db = await openDatabase({ url, poolSize: options.poolSize ?? 10 });
    return {
      db,
      url,
      kind: "postgres",
      async close() {
        await db.close();
        const cleanup = await adminConnection(adminUrl);
        await cleanup.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        await cleanup.end();
      },
    };
  }
  const dump = new Blob([readFileSync(inject("pgliteTemplatePath"))]);
  const db = await openDatabase({ pgliteDump: dump });
  return { db, kind: "pglite", close: () => db.close() };
}
