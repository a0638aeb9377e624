// `npm run db:migration -- <name>`: writes prisma/migrations/<YYYYMMDDHHMMSS>_<name>/migration.sql
// with the SQL that takes a database from the committed migrations to prisma/schema.prisma.
// What `prisma migrate dev --create-only --name <name>` does, but offline and without a database:
// the schema engine (WebAssembly) replays the migrations in an in-memory PGlite.
// Review the generated SQL before committing it; never edit a migration that has been applied.
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  diffMigrationsToSchema,
  MIGRATION_DIR_PATTERN,
  MIGRATION_LOCK_CONTENT,
  MIGRATION_LOCK_FILE,
} from "./lib/schema-engine.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const schemaPath = path.join(root, "prisma", "schema.prisma");
const migrationsDir = path.join(root, "prisma", "migrations");

function usage(message: string): never {
  console.error(`${message}\nUsage: npm run db:migration -- <name>   (letters, digits, _ and -; e.g. add_policy_notes)`);
  process.exit(2);
}

/** `addPolicy-notes` → `add_policy_notes`. */
function toSnakeName(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/-/g, "_")
    .replace(/_+/g, "_")
    .replace(/^_|_$/g, "")
    .toLowerCase();
}

/** UTC `YYYYMMDDHHMMSS`, as Prisma names migrations. */
function migrationTimestamp(date = new Date()): string {
  return date.toISOString().replace(/\D/g, "").slice(0, 14);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a !== "--");
  const nameIndex = args.indexOf("--name");
  const rawName = nameIndex >= 0 ? args[nameIndex + 1] : args[0];
  if (!rawName || args.length > (nameIndex >= 0 ? 2 : 1)) usage("Give exactly one migration name.");
  if (!/^[A-Za-z0-9_-]+$/.test(rawName)) usage(`Invalid migration name "${rawName}".`);
  const name = toSnakeName(rawName);
  if (name === "") usage(`Invalid migration name "${rawName}".`);
  if (name.length > 200) usage("Migration name too long (at most 200 characters).");

  const existing = existsSync(migrationsDir)
    ? (await readdir(migrationsDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort()
    : [];
  const malformed = existing.filter((d) => !MIGRATION_DIR_PATTERN.test(d));
  if (malformed.length > 0) {
    console.error(`Unexpected directories in ${path.relative(root, migrationsDir)}: ${malformed.join(", ")}`);
    process.exit(1);
  }

  const sql = await diffMigrationsToSchema({ migrationsDir, schemaPath });
  if (sql.trim() === "") {
    console.log("No schema changes; no migration written.");
    return;
  }

  const dirName = `${migrationTimestamp()}_${name}`;
  const latest = existing.at(-1);
  if (latest !== undefined && dirName.slice(0, 14) <= latest.slice(0, 14)) {
    // Migrations are applied in name order; a new one must sort after every committed one.
    console.error(`The newest migration (${latest}) is not older than now (${dirName.slice(0, 14)} UTC); check the clock.`);
    process.exit(1);
  }

  await mkdir(migrationsDir, { recursive: true });
  const lockPath = path.join(migrationsDir, MIGRATION_LOCK_FILE);
  const lock = await readFile(lockPath, "utf8").catch(() => null);
  if (lock === null) {
    await writeFile(lockPath, MIGRATION_LOCK_CONTENT);
  } else if (!/^provider\s*=\s*"postgresql"\s*$/m.test(lock)) {
    console.error(`${path.relative(root, lockPath)} does not say provider = "postgresql"; refusing to add a migration.`);
    process.exit(1);
  }

  const dir = path.join(migrationsDir, dirName);
  await mkdir(dir);
  const file = path.join(dir, "migration.sql");
  await writeFile(file, sql.endsWith("\n") ? sql : `${sql}\n`);
  console.log(path.relative(process.cwd(), file));
}

await main();
