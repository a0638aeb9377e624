import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it, expect } from "vitest";
import { diffMigrationsToSchema, MIGRATION_DIR_PATTERN, MIGRATION_LOCK_FILE } from "../../scripts/lib/schema-engine.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const migrationsDir = path.join(root, "prisma", "migrations");
const schemaPath = path.join(root, "prisma", "schema.prisma");

describe("prisma migrations", () => {
  it("are laid out as Prisma does: <14 digits>_<name>/migration.sql plus migration_lock.toml", () => {
    const entries = readdirSync(migrationsDir);
    const dirs = entries.filter((e) => statSync(path.join(migrationsDir, e)).isDirectory()).sort();
    expect(dirs.length).toBeGreaterThan(0);
    for (const dir of dirs) {
      expect(dir).toMatch(MIGRATION_DIR_PATTERN);
      const sql = path.join(migrationsDir, dir, "migration.sql");
      expect(existsSync(sql), `${dir}/migration.sql exists`).toBe(true);
      expect(readFileSync(sql, "utf8").trim(), `${dir}/migration.sql is not empty`).not.toBe("");
    }
    // Migrations are applied in name order; two with one timestamp would have no defined order.
    const timestamps = dirs.map((d) => d.slice(0, 14));
    expect(new Set(timestamps).size).toBe(timestamps.length);
    expect(readFileSync(path.join(migrationsDir, MIGRATION_LOCK_FILE), "utf8")).toMatch(/^provider = "postgresql"$/m);
    expect(entries.filter((e) => !dirs.includes(e))).toEqual([MIGRATION_LOCK_FILE]);
  });

  it("match prisma/schema.prisma (after a schema change, run `npm run db:migration -- <name>`)", { timeout: 60_000 }, async () => {
    const sql = await diffMigrationsToSchema({ migrationsDir, schemaPath });
    expect(sql, "the schema differs from the committed migrations by this SQL").toBe("");
  });
});
