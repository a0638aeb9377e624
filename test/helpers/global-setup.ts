/**
 * Once per run: a migrated template database that every test file clones, so each file gets
 * its own clean database cheaply. PGlite: a dump of a migrated in-memory database.
 * PostgreSQL (TEST_DATABASE_URL): a template database for CREATE DATABASE … TEMPLATE.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { openDatabase } from "../../src/infra/db.ts";
import { applyMigrations } from "../../src/infra/migrate.ts";
import { adminConnection, templateDatabaseName } from "./databases.ts";

declare module "vitest" {
  export interface ProvidedContext {
    pgliteTemplatePath: string;
    postgresTemplate: string | null;
  }
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "latchkey-test-"));
  const memory = await openDatabase({ pgliteDir: "memory://" });
  await applyMigrations(memory);
  const dump = await memory.dump!();
  await memory.close();
  const pgliteTemplatePath = path.join(dir, "template.tar");
  writeFileSync(pgliteTemplatePath, Buffer.from(await dump.arrayBuffer()));
  project.provide("pgliteTemplatePath", pgliteTemplatePath);

  let postgresTemplate: string | null = null;
  const url = process.env.TEST_DATABASE_URL;
  if (url) {
    postgresTemplate = templateDatabaseName();
    const admin = await adminConnection(url);
    await admin.query(`DROP DATABASE IF EXISTS "${postgresTemplate}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${postgresTemplate}"`);
    const template = await openDatabase({ url: withDatabase(url, postgresTemplate), poolSize: 1 });
    await applyMigrations(template);
    await template.close();
    await admin.end();
  }
  project.provide("postgresTemplate", postgresTemplate);

  return async () => {
    rmSync(dir, { recursive: true, force: true });
    if (url && postgresTemplate) {
      const admin = await adminConnection(url);
      await admin.query(`DROP DATABASE IF EXISTS "${postgresTemplate}" WITH (FORCE)`);
      await admin.end();
    }
  };
}

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}
