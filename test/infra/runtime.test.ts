/**
 * Start-up advice about the database: a PostgreSQL without autovacuum is named in a warning
 * (its queues keep every dead row and its cached plans are never refreshed); the embedded
 * database and a PostgreSQL with autovacuum say nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { warnWithoutAutovacuum } from "../../src/infra/runtime.ts";
import { createTestDatabase, onPostgres, type TestDatabase } from "../helpers/databases.ts";

function recordingLogger() {
  const warnings: string[] = [];
  return { warnings, logger: { warn: (message: string) => void warnings.push(message) } as never };
}

const answering = (autovacuum: string) => ({ kind: "postgres" as const, query: async <Row>() => [{ autovacuum }] as Row[] });

describe("warnWithoutAutovacuum", () => {
  it("warns, naming the remedy, when PostgreSQL says autovacuum is off", async () => {
    const { warnings, logger } = recordingLogger();
    expect(await warnWithoutAutovacuum(answering("off"), logger)).toBe(true);
    expect(warnings).toEqual([expect.stringMatching(/autovacuum = off.*turn autovacuum on.*VACUUM ANALYZE/)]);
  });

  it("says nothing when autovacuum is on, or for the embedded database", async () => {
    const { warnings, logger } = recordingLogger();
    expect(await warnWithoutAutovacuum(answering("on"), logger)).toBe(false);
    expect(await warnWithoutAutovacuum({ kind: "pglite", query: async () => { throw new Error("not asked"); } }, logger)).toBe(false);
    expect(warnings).toEqual([]);
  });
});

describe.runIf(onPostgres)("against the real PostgreSQL", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => database?.close());

  it("warns exactly when the server's own setting is off", async () => {
    const [row] = await database.db.query<{ autovacuum: string }>("SHOW autovacuum");
    const { warnings, logger } = recordingLogger();
    expect(await warnWithoutAutovacuum(database.db, logger)).toBe(row!.autovacuum === "off");
    expect(warnings).toHaveLength(row!.autovacuum === "off" ? 1 : 0);
  });
});
