/**
 * The database: PostgreSQL through `pg` when DATABASE_URL is set, otherwise an embedded
 * PostgreSQL (PGlite) under DATA_DIR. Both use the same generated Prisma client, the same
 * migrations and the same SQL; only the driver adapter differs.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaClient } from "../generated/prisma/client.ts";

export type { PrismaClient } from "../generated/prisma/client.ts";
export { Prisma } from "../generated/prisma/client.ts";

/** A Prisma client usable inside `prisma.$transaction(async (tx) => …)`. */
export type Tx = Parameters<Parameters<PrismaClient["$transaction"]>[0]>[0];

export interface Database {
  readonly kind: "postgres" | "pglite";
  readonly prisma: PrismaClient;
  /** Runs a script of one or more statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs one parameterized statement and returns its rows. */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
  /**
   * Runs one statement of a background work queue (webhook fan-out, claims, results) on a small
   * pool of its own (PostgreSQL; PGlite has one connection for all), so batch statements never
   * hold the connections requests wait for.
   *
   * Its sessions plan with `enable_seqscan = off`. Every queue statement is meant to reach its
   * rows through an index, whatever the table's size; the planner, costing a batch of unknown
   * length (100 rows for a JSON or array parameter) against a table that is still small — a
   * new install, or one never analysed — prefers hashing a full scan, and keeps that plan
   * cached as the table grows, so each batch would cost a scan of the whole table.
   */
  queueQuery<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
  /**
   * Runs `fn` on one dedicated connection while holding a PostgreSQL advisory lock, so that
   * several instances starting together do one thing (migrations, bootstrap) one at a time.
   */
  withLock<T>(lockKey: number, fn: (session: SqlSession) => Promise<T>): Promise<T>;
  /**
   * PostgreSQL only: LISTEN on `channel` over one dedicated connection outside the pool, for
   * cross-instance signals (src/infra/signals.ts). A lost connection is re-established with
   * backoff; `onReconnect` then tells the caller that notifications may have been missed.
   */
  listen?(channel: string, handlers: ListenHandlers): Promise<Listener>;
  /** PGlite only: a snapshot of the whole database (test templates). */
  dump?(): Promise<Blob>;
  /**
   * Tells the driver the schema changed (after migrations). PGlite learns array types once when
   * it opens; on a brand-new database that is before migrations create the enums, so arrays
   * of those enums would be sent wrongly until it looks again.
   */
  schemaChanged(): Promise<void>;
  /** Throws when the database cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** One connection, for work that must run on the same session (locks, transactions). */
export interface SqlSession {
  exec(sql: string): Promise<void>;
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
}

export interface ListenHandlers {
  onNotify(payload: string): void;
  /** Called after a lost LISTEN connection is back: anything sent meanwhile was missed. */
  onReconnect?(): void;
  onError?(err: Error): void;
}

export interface Listener {
  close(): Promise<void>;
}

/** Longest pause between two attempts to re-establish a lost LISTEN connection. */
const LISTEN_MAX_BACKOFF_MS = 5000;

export interface DatabaseOptions {
  /** postgresql:// URL; when absent, PGlite is used. */
  url?: string;
  /** PGlite storage directory, or "memory://" for a throwaway in-memory database. */
  pgliteDir?: string;
  /** Start an in-memory PGlite from this dump (PGlite's dumpDataDir): much faster than initdb. */
  pgliteDump?: Blob;
  poolSize?: number;
  /** Called when an idle pooled connection fails (the pool replaces it). */
  onPoolError?: (err: Error) => void;
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.url ? openPostgres(options.url, options) : openPglite(options.pgliteDir ?? "memory://", options.pgliteDump);
}

/** Connections of the background queue's own pool (see Database.queueQuery). */
const QUEUE_POOL_SIZE = 4;

/** Distinct statements kept prepared; SQL beyond them runs unnamed (dynamic SQL cannot grow this). */
const MAX_PREPARED_STATEMENTS = 500;
const statementNames = new Map<string, string>();

/**
 * `db.query` SQL as a named prepared statement: each pooled connection parses and plans it once
 * and then only binds and executes it, which is most of PostgreSQL's work on the short
 * per-request reads. (A transaction-pooling PgBouncer needs `max_prepared_statements` set.)
 */
function preparedStatement(text: string, values: unknown[]): pg.QueryConfig {
  let name = statementNames.get(text);
  if (!name && statementNames.size < MAX_PREPARED_STATEMENTS) {
    name = `lk_${createHash("sha256").update(text).digest("hex").slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return name ? { name, text, values } : { text, values };
}

async function openPostgres(url: string, options: DatabaseOptions): Promise<Database> {
  const openPool = (config: pg.PoolConfig) => {
    const created = new pg.Pool({
      connectionString: url,
      // Fail fast while the database is down, so requests answer 503 instead of hanging.
      connectionTimeoutMillis: 3000,
      idleTimeoutMillis: 30_000,
      ...config,
    });
    // An idle client that loses its connection emits 'error' on the pool; unhandled, it would crash.
    created.on("error", (err) => options.onPoolError?.(err));
    return created;
  };
  const pool = openPool({ max: options.poolSize ?? 10 });
  // Opened on first use: an instance that runs no webhook worker never connects it.
  let queuePool: pg.Pool | undefined;
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: false }) });
  return {
    kind: "postgres",
    prisma,
    async exec(sql) {
      await pool.query(sql);
    },
    async query<Row>(sql: string, params: unknown[] = []) {
      return (await pool.query(preparedStatement(sql, params))).rows as Row[];
    },
    async queueQuery<Row>(sql: string, params: unknown[] = []) {
      queuePool ??= openPool({ max: QUEUE_POOL_SIZE, options: "-c enable_seqscan=off" });
      return (await queuePool.query(preparedStatement(sql, params))).rows as Row[];
    },
    async withLock(lockKey, fn) {
      const client = await pool.connect();
      const session: SqlSession = {
        exec: async (sql) => void (await client.query(sql)),
        query: async <Row>(sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows as Row[],
      };
      try {
        await client.query("SELECT pg_advisory_lock($1)", [lockKey]);
        try {
          return await fn(session);
        } finally {
          await client.query("SELECT pg_advisory_unlock($1)", [lockKey]);
        }
      } finally {
        client.release();
      }
    },
    listen: (channel, handlers) => listenPostgres(url, channel, handlers),
    async schemaChanged() {
      // node-postgres sends JS arrays as array literals whatever their element type.
    },
    async ping() {
      await pool.query("SELECT 1");
    },
    async close() {
      await prisma.$disconnect();
      await Promise.all([pool.end(), queuePool?.end()]);
    },
  };
}

async function listenPostgres(url: string, channel: string, handlers: ListenHandlers): Promise<Listener> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new Error(`invalid LISTEN channel name: ${channel}`);
  let client: pg.Client | undefined;
  let closed = false;
  let failures = 0;
  let retry: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000, keepAlive: true });
    next.on("notification", (message) => {
      if (message.channel === channel) handlers.onNotify(message.payload ?? "");
    });
    next.on("error", (err) => {
      handlers.onError?.(err);
      lost(next);
    });
    next.on("end", () => lost(next));
    try {
      await next.connect();
      await next.query(`LISTEN ${channel}`);
    } catch (err) {
      next.removeAllListeners("end");
      await next.end().catch(() => undefined);
      throw err;
    }
    if (closed) {
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
  };

  const lost = (which: pg.Client): void => {
    if (closed || client !== which) return;
    client = undefined;
    which.removeAllListeners("end");
    which.end().catch(() => undefined);
    schedule();
  };

  const schedule = (): void => {
    if (closed || retry) return;
    const delay = Math.min(LISTEN_MAX_BACKOFF_MS, 100 * 2 ** Math.min(failures, 6));
    retry = setTimeout(() => {
      retry = undefined;
      connect().then(
        () => {
          failures = 0;
          if (!closed) handlers.onReconnect?.();
        },
        (err: Error) => {
          failures++;
          handlers.onError?.(err);
          schedule();
        },
      );
    }, delay);
    retry.unref();
  };

  // The first attempt's failure is not fatal: the listener keeps trying in the background.
  try {
    await connect();
  } catch (err) {
    failures++;
    handlers.onError?.(err as Error);
    schedule();
  }
  return {
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const current = client;
      client = undefined;
      if (current) {
        current.removeAllListeners("end");
        await current.end().catch(() => undefined);
      }
    },
  };
}

export class DatabaseInUseError extends Error {
  override name = "DatabaseInUseError";
}

/**
 * PGlite is one process's database: a second process opening the same directory would corrupt
 * it. A pid file beside the directory keeps the server and the CLI from opening it together.
 */
function lockPgliteDir(dir: string): () => void {
  const lockFile = `${dir}.lock`;
  if (existsSync(lockFile)) {
    const pid = Number(readFileSync(lockFile, "utf8").trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new DatabaseInUseError(`the embedded database in ${dir} is in use by process ${pid}; stop it first, or use DATABASE_URL for a shared PostgreSQL`);
    }
  }
  writeFileSync(lockFile, String(process.pid));
  return () => rmSync(lockFile, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function openPglite(dir: string, dump?: Blob): Promise<Database> {
  const inMemory = dir.startsWith("memory://");
  let unlock = () => {};
  if (!inMemory) {
    mkdirSync(path.resolve(dir), { recursive: true });
    unlock = lockPgliteDir(path.resolve(dir));
  }
  const pglite = dump ? new PGlite({ loadDataDir: dump }) : new PGlite(inMemory ? undefined : path.resolve(dir));
  await pglite.waitReady;
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
  const locks = new Map<number, Promise<void>>();
  const session: SqlSession = {
    exec: async (sql) => void (await pglite.exec(sql)),
    query: async <Row>(sql: string, params: unknown[] = []) => (await pglite.query<Row>(sql, params)).rows,
  };
  return {
    kind: "pglite",
    dump: () => pglite.dumpDataDir("none"),
    prisma,
    ...session,
    queueQuery: session.query,
    // PGlite lives inside this process: an in-process queue per lock key gives the same exclusion.
    withLock: (lockKey, fn) => {
      const previous = locks.get(lockKey) ?? Promise.resolve();
      const run = previous.then(() => fn(session));
      const settled = run.then(() => undefined, () => undefined);
      locks.set(lockKey, settled);
      void settled.then(() => {
        if (locks.get(lockKey) === settled) locks.delete(lockKey);
      });
      return run;
    },
    async schemaChanged() {
      await pglite.refreshArrayTypes();
    },
    async ping() {
      await pglite.query("SELECT 1");
    },
    async close() {
      await prisma.$disconnect();
      await pglite.close();
      unlock();
    },
  };
}
