/**
 * The migration runner: applies committed migrations once, records them as Prisma does,
 * is safe when instances start together, and feeds /ready.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/infra/db.ts";
import { applyMigrations, MigrationError, pendingMigrations, readMigrations } from "../../src/infra/migrate.ts";
import { createTestDatabase, onPostgres, type TestDatabase } from "../helpers/databases.ts";

describe("applyMigrations on an empty database", () => {
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase({ pgliteDir: "memory://" });
  });
  afterAll(async () => db?.close());

  it("applies every committed migration, records its checksum, then has nothing to do", async () => {
    const committed = readMigrations();
    expect(committed.length).toBeGreaterThan(0);
    expect(await applyMigrations(db)).toEqual(committed.map((m) => m.name));
    const rows = await db.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      `SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" ORDER BY migration_name`,
    );
    expect(rows.map((r) => [r.migration_name, r.checksum])).toEqual(committed.map((m) => [m.name, m.checksum]));
    expect(rows.every((r) => r.finished_at !== null)).toBe(true);
    expect(await applyMigrations(db)).toEqual([]);
    expect(await pendingMigrations(db)).toEqual([]);
  });

  it("after migrating a brand-new embedded database, arrays of the new enum types are sent correctly", async () => {
    // PGlite learned its array types when it opened, before the migrations created the enums.
    const rows = await db.query<{ statuses: string }>(`SELECT array_to_string($1::otp_status[], ',') AS statuses`, [["sending", "pending"]]);
    expect(rows[0]!.statuses).toBe("sending,pending");
  });

  it("reports a committed migration the database lacks as pending", async () => {
    const extra = [...readMigrations(), { name: "99999999999999_future", sql: "SELECT 1;", checksum: "x" }];
    expect(await pendingMigrations(db, extra)).toEqual(["99999999999999_future"]);
  });

  it("rolls back a failing migration completely and says which one failed", async () => {
    const bad = [...readMigrations(), { name: "99999999999998_bad", sql: 'CREATE TABLE "half_done" (id int); SELECT * FROM "no_such_table";', checksum: "y" }];
    await expect(applyMigrations(db, { migrations: bad })).rejects.toThrow(MigrationError);
    await expect(applyMigrations(db, { migrations: bad })).rejects.toThrow(/99999999999998_bad/);
    const tables = await db.query(`SELECT 1 FROM information_schema.tables WHERE table_name = 'half_done'`);
    expect(tables).toHaveLength(0);
    expect(await pendingMigrations(db, bad)).toEqual(["99999999999998_bad"]);
  });
});

describe.runIf(onPostgres)("several instances starting at once (PostgreSQL)", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
    // An empty schema in this database, so migrations have real work to do.
    await database.db.exec(`DROP SCHEMA public CASCADE; CREATE SCHEMA public;`);
  });
  afterAll(async () => database?.close());

  it("apply each migration exactly once", async () => {
    const instances = await Promise.all([1, 2, 3].map(() => openDatabase({ url: database.url!, poolSize: 2 })));
    try {
      const results = await Promise.all(instances.map((db) => applyMigrations(db)));
      const applied = results.flat();
      expect(applied.sort()).toEqual(readMigrations().map((m) => m.name).sort());
      const rows = await database.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM "_prisma_migrations"`);
      expect(Number(rows[0]!.n)).toBe(readMigrations().length);
    } finally {
      await Promise.all(instances.map((db) => db.close()));
    }
  });
});
