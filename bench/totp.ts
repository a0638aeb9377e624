/**
 * TOTP verify benchmark (`npx tsx bench/totp.ts [options]`, see bench/README.md).
 *
 * In one run, against a throwaway PostgreSQL database:
 *  - the floor: the same SQL a verify needs — read the factor, claim the time step with a
 *    conditional UPDATE, record the event, in one transaction — straight through `pg`, plus
 *    the HMAC of the code, with the same pool size and concurrency;
 *  - Latchkey: `POST /api/v1/totp/verify` with a fresh valid code per request, built in this
 *    process (buildApp + listen on 127.0.0.1:0), loaded over HTTP keep-alive from a worker
 *    thread (its own event loop, so the load generator does not share the server's);
 *  - both with 1,000 and with 100,000 enrolled users (seeded with INSERT … SELECT
 *    generate_series);
 *  - two diagnostics with 1,000 users, to read the ratio by: the verify service called in
 *    this process without HTTP, and a bare Fastify answering the same POST (HTTP alone).
 *
 * Fresh codes without waiting 30 s per step: the server's clock is injected (the Clock
 * dependency every feature takes). It shows the middle of a virtual time step that the load
 * generator moves forward once every user has verified in the current step, after every
 * request two steps back has been answered — so each request carries a code for a step its
 * user has not used yet, inside the ±1 step window, like real users a step apart.
 *
 * Prints a table and PASS/FAIL lines for the issue's targets; exits 0 even on FAIL, non-zero
 * only when something could not run. Only 127.0.0.1 traffic; bounded by --duration.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import http from "node:http";

import os from "node:os";
import { parseArgs } from "node:util";
import { isMainThread } from "node:worker_threads";
import pg from "pg";
import { ADMIN_URL, benchDatabaseAndDataDir, serverVersion } from "./lib/database.ts";
import { formatTable, percentile } from "./lib/report.ts";
import { cleanupOnExit, intOption, parseCommandLine } from "./lib/cli.ts";
import { runInWorker, serveLoadInWorker } from "./lib/worker.ts";
import { base32Encode, referenceHotp } from "../test/features/totp/rfc6238.ts";

const PERIOD_SECONDS = 30;
const DIGITS = 6;
const TARGETS = { minRatio: 0.5, maxP99Ms: 25, maxLatencyChange: 0.2 } as const;

// ── shared by both threads ─────────────────────────────────────────────────────────────────

/** The bench's secret for user i: deterministic, so the load generator can compute codes. */
function secretBytes(seed: string, index: number): Buffer {
  return createHmac("sha256", seed).update(`user-${index}`).digest().subarray(0, 20);
}

/** RFC 6238 code (SHA-1, 6 digits) for step `step`, by the tests' independent implementation. */
function totpCode(secret: Buffer, step: number): string {
  return referenceHotp(secret, step, DIGITS);
}

interface RunResult {
  requests: number;
  ok: number;
  failures: number;
  /** Status code → count, for anything but the expected answer. */
  unexpected: Record<string, number>;
  seconds: number;
  latenciesMs: number[];
}

/**
 * Hands out (user, step) pairs in round-robin order and moves the virtual clock: request i
 * goes to user i mod U at step firstStep + ⌊i / U⌋. The clock (shared[0]) advances to step s
 * only once no request for step s − 2 is still in flight, so the server always sees codes
 * within ±1 step of its time.
 */
class StepScheduler {
  private next = 0;
  private readonly inflight = new Map<number, number>();
  private waiters: Array<() => void> = [];

  constructor(private readonly shared: Int32Array, private readonly users: number, private readonly firstStep: number) {}

  async take(): Promise<{ user: number; step: number; done: () => void }> {
    const i = this.next++;
    const user = i % this.users;
    const step = this.firstStep + Math.floor(i / this.users);
    while (Atomics.load(this.shared, 0) < step) {
      if ((this.inflight.get(step - 2) ?? 0) === 0) {
        Atomics.store(this.shared, 0, Math.max(step, Atomics.load(this.shared, 0)));
        break;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.inflight.set(step, (this.inflight.get(step) ?? 0) + 1);
    return {
      user,
      step,
      done: () => {
        const left = (this.inflight.get(step) ?? 1) - 1;
        if (left === 0) {
          this.inflight.delete(step);
          const waiting = this.waiters;
          this.waiters = [];
          for (const wake of waiting) wake();
        } else {
          this.inflight.set(step, left);
        }
      },
    };
  }

  /** The first step a following run may use (later than anything handed out). */
  get nextFreeStep(): number {
    return this.firstStep + Math.floor(this.next / this.users) + 2;
  }
}

/** `connections` closed loops for `seconds`, each awaiting `one()` back to back. */
async function closedLoops(connections: number, seconds: number, one: () => Promise<{ ok: boolean; status: string }>): Promise<RunResult> {
  const latenciesMs: number[] = [];
  const unexpected: Record<string, number> = {};
  let ok = 0;
  let failures = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const outcome = await one().catch((err: Error) => ({ ok: false, status: `error: ${err.message.slice(0, 60)}` }));
      latenciesMs.push(performance.now() - t0);
      if (outcome.ok) ok++;
      else {
        failures++;
        unexpected[outcome.status] = (unexpected[outcome.status] ?? 0) + 1;
      }
    }
  }));
  return { requests: ok + failures, ok, failures, unexpected, seconds: (performance.now() - started) / 1000, latenciesMs };
}

// ── the load generator (worker thread) ──────────────────────────────────────────────────────

interface LoadJob {
  url: string;
  apiKey: string;
  connections: number;
  seconds: number;
  users: number;
  firstStep: number;
  seed: string;
  shared: SharedArrayBuffer;
}

async function loadGenerator(job: LoadJob): Promise<RunResult & { nextFreeStep: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.connections });
  const target = new URL(job.url);
  const secrets = new Map<number, Buffer>();
  const scheduler = new StepScheduler(new Int32Array(job.shared), job.users, job.firstStep);
  const post = (body: string) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request({
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), "x-api-key": job.apiKey },
      }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  const result = await closedLoops(job.connections, job.seconds, async () => {
    const { user, step, done } = await scheduler.take();
    try {
      let secret = secrets.get(user);
      if (!secret) secrets.set(user, (secret = secretBytes(job.seed, user)));
      const status = await post(JSON.stringify({ userId: `user-${user}`, token: totpCode(secret, step) }));
      return { ok: status === 200, status: String(status) };
    } finally {
      done();
    }
  });
  agent.destroy();
  return { ...result, nextFreeStep: scheduler.nextFreeStep };
}

serveLoadInWorker(loadGenerator);

const runLoadInWorker = (job: LoadJob) => runInWorker<LoadJob, RunResult & { nextFreeStep: number }>(import.meta.url, job);

// ── main thread ─────────────────────────────────────────────────────────────────────────────

interface Options {
  seconds: number;
  warmup: number;
  connections: number;
  small: number;
  large: number;
  pool: number;
  webhookWorker: boolean;
}

const USAGE = `Usage: npx tsx bench/totp.ts [options]

  --duration <s>     seconds per measured run (default 15)
  --warmup <s>       unmeasured seconds before each run (default 3)
  --connections <n>  concurrent requests / transactions (default 50)
  --users <n>        enrolled users in the first pair of runs (default 1000)
  --large-users <n>  enrolled users in the second pair (default 100000)
  --pool <n>         database connections, Latchkey's and the floor's (default 10, DATABASE_POOL_SIZE's default)
  --webhook-worker   also run the webhook dispatcher and delivery worker in Latchkey (off by default: the floor dispatches nothing)
  --quick            smoke check: 4 s runs, 1 s warm-up
  -h, --help         this text`;

function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      duration: { type: "string" },
      warmup: { type: "string" },
      connections: { type: "string" },
      users: { type: "string" },
      "large-users": { type: "string" },
      pool: { type: "string" },
      quick: { type: "boolean", default: false },
      "webhook-worker": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return null;
  const options = {
    seconds: intOption("duration", values.duration, values.quick ? 4 : 15, 1),
    warmup: intOption("warmup", values.warmup, values.quick ? 1 : 3, 0),
    connections: intOption("connections", values.connections, 50, 1),
    small: intOption("users", values.users, 1000, 100),
    large: intOption("large-users", values["large-users"], 100_000, 100),
    pool: intOption("pool", values.pool, 10, 1),
    webhookWorker: values["webhook-worker"] === true,
  };
  if (options.large < options.small) throw new Error("--large-users must be at least --users");
  return options;
}

const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "—");
const log = (message: string) => console.log(`[bench totp ${new Date().toISOString().slice(11, 19)}] ${message}`);

interface Row {
  name: string;
  users: number;
  result: RunResult;
  perSecond: number;
  p50: number;
  p99: number;
  /** CPU of this whole process (server, floor, load generator thread) per successful verify. */
  nodeCpuMsPerVerify?: number;
  /** CPU of the PostgreSQL backends of the bench database per successful verify. */
  pgCpuMsPerVerify?: number;
}

/** Linux USER_HZ: /proc/<pid>/stat counts CPU time in these. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * utime + stime per PostgreSQL backend serving `database` (their command line names it; the
 * server runs on this machine), in clock ticks. Other databases' backends are not counted.
 */
async function postgresCpuTicks(database: string): Promise<Map<string, number>> {
  const { readdirSync, readFileSync } = await import("node:fs");
  const ticks = new Map<string, number>();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (!cmdline.startsWith("postgres: ") || !cmdline.split(" ").includes(database)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks.set(pid, Number(fields[11]) + Number(fields[12]));
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks;
}

/** CPU ticks the backends used between two snapshots (a backend that exited meanwhile is lost). */
function ticksBetween(before: Map<string, number>, after: Map<string, number>): number {
  let total = 0;
  for (const [pid, ticks] of after) total += ticks - (before.get(pid) ?? 0);
  return total;
}

function summarize(name: string, users: number, result: RunResult): Row {
  const sorted = [...result.latenciesMs].sort((a, b) => a - b);
  return { name, users, result, perSecond: result.ok / result.seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

async function main(): Promise<number> {
  const options = parseCommandLine(parseOptions, USAGE);
  if (typeof options === "number") return options;

  // Imported here so the worker thread, which runs this file too, loads none of the server.
  const [{ buildApp }, { loadConfig }, { appsRepository }, { createApp }, { keysRepository }, { createApiKey }, { Keyring }, { openDatabase }, { applyMigrations }, pino, { AppSettingsProvider }, { createMetrics }, { totpRepository }, { TotpService }, { default: Fastify }] = await Promise.all([
    import("../src/app.ts"),
    import("../src/config.ts"),
    import("../src/features/apps/apps.repository.ts"),
    import("../src/features/apps/apps.service.ts"),
    import("../src/features/keys/keys.repository.ts"),
    import("../src/features/keys/keys.service.ts"),
    import("../src/infra/crypto.ts"),
    import("../src/infra/db.ts"),
    import("../src/infra/migrate.ts"),
    import("pino"),
    import("../src/features/apps/app-settings.ts"),
    import("../src/infra/metrics.ts"),
    import("../src/features/totp/totp.repository.ts"),
    import("../src/features/totp/totp.service.ts"),
    import("fastify"),
  ]);

  const { cleanups, cleanup } = cleanupOnExit("stopping Latchkey and dropping the bench database…");

  try {
    const pgVersion = await serverVersion(ADMIN_URL);
    const { dbName, url, dataDir } = await benchDatabaseAndDataDir({ label: "totp", cleanups, log, note: `PostgreSQL ${pgVersion}` });

    const config = loadConfig({
      DATABASE_URL: url,
      DATABASE_POOL_SIZE: String(options.pool),
      LOG_LEVEL: "silent",
      NODE_ENV: "production",
      DATA_DIR: dataDir,
      RATE_LIMIT_GLOBAL_PER_MIN: "1000000",
      RATE_LIMIT_VERIFY_PER_MIN: "1000000",
    });
    const db = await openDatabase({ url, poolSize: options.pool });
    cleanups.push({ name: "close the database", fn: () => db.close() });
    await applyMigrations(db);
    const keyring = new Keyring(randomBytes(32));
    const app = await createApp(appsRepository(db.prisma), { name: "TOTP bench" });
    const { key: apiKey } = await createApiKey(keysRepository(db.prisma), { appId: app.id, kind: "secret" });

    // The virtual clock: shared[0] is the current RFC 6238 step, moved by the load generator.
    const shared = new SharedArrayBuffer(4);
    const step = new Int32Array(shared);
    Atomics.store(step, 0, Math.floor(Date.now() / 1000 / PERIOD_SECONDS));
    const clock = { now: () => new Date((Atomics.load(step, 0) * PERIOD_SECONDS + PERIOD_SECONDS / 2) * 1000) };

    // The webhook dispatcher would turn every verify's event into extra polling queries; the
    // floor does no dispatching, so neither does Latchkey here unless asked to.
    const server = await buildApp(config, { db, keyring, clock, logger: pino.default({ level: "silent" }), webhooks: { worker: options.webhookWorker } });
    const address = await server.listen({ port: 0, host: "127.0.0.1" });
    cleanups.push({ name: "stop Latchkey", fn: () => server.close() });
    log(`Latchkey listening on ${address} (in this process; load from a worker thread)`);

    // ── seeding: end users and enabled factors, in SQL ──
    const seed = randomBytes(16).toString("hex");
    let enrolled = 0;
    const enrol = async (upTo: number) => {
      const started = performance.now();
      const CHUNK = 20_000;
      for (let from = enrolled; from < upTo; from += CHUNK) {
        const to = Math.min(upTo, from + CHUNK) - 1;
        await db.query(
          `INSERT INTO end_users (id, app_id, external_id, created_at)
           SELECT 'usr_bench_' || i, $1, 'user-' || i, now() FROM generate_series($2::int, $3::int) AS i`,
          [app.id, from, to],
        );
        // Each secret is sealed bound to its own factor id, as setup does; only that needs JS.
        const sealed: string[] = [];
        for (let i = from; i <= to; i++) sealed.push(keyring.seal(base32Encode(secretBytes(seed, i)), `totp_bench_${i}`));
        await db.query(
          `INSERT INTO totp_factors (id, end_user_id, secret_sealed, algorithm, digits, period_seconds, status, created_at, activated_at)
           SELECT 'totp_bench_' || i, 'usr_bench_' || i, ($3::text[])[i - $1 + 1], 'SHA1', ${DIGITS}, ${PERIOD_SECONDS}, 'enabled', now(), now()
           FROM generate_series($1::int, $2::int) AS i`,
          [from, to, sealed],
        );
      }
      await db.exec("ANALYZE end_users; ANALYZE totp_factors");
      log(`enrolled users ${enrolled} → ${upTo} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      enrolled = upTo;
    };

    // ── the floor: the same SQL through pg, plus the HMAC ──
    const pool = new pg.Pool({ connectionString: url, max: options.pool });
    cleanups.push({ name: "close the floor's pool", fn: () => pool.end() });
    const floorSecrets = new Map<number, Buffer>();
    const floorRun = async (users: number, seconds: number): Promise<RunResult> => {
      const scheduler = new StepScheduler(new Int32Array(new SharedArrayBuffer(4)), users, Atomics.load(step, 0) + 2);
      const result = await closedLoops(options!.connections, seconds, async () => {
        const { user, step: s, done } = await scheduler.take();
        const client = await pool.connect();
        try {
          await client.query("BEGIN");
          const found = await client.query<{ id: string; last_used_step: string | null }>(
            `SELECT f.id, f.secret_sealed, f.algorithm, f.digits, f.period_seconds, f.status, f.last_used_step, f.failed_attempts, f.locked_until
             FROM end_users u JOIN totp_factors f ON f.end_user_id = u.id WHERE u.app_id = $1 AND u.external_id = $2`,
            [app.id, `user-${user}`],
          );
          const factor = found.rows[0];
          let secret = floorSecrets.get(user);
          if (!secret) floorSecrets.set(user, (secret = secretBytes(seed, user)));
          // The client's code, then the server's HMAC of the same step compared in constant time.
          const submitted = Buffer.from(totpCode(secret, s));
          const valid = factor !== undefined && timingSafeEqual(Buffer.from(totpCode(secret, s)), submitted);
          const claimed = valid
            ? await client.query(
              `UPDATE totp_factors SET last_used_step = $2, failed_attempts = 0, locked_until = NULL, last_used_at = now()
               WHERE id = $1 AND (last_used_step IS NULL OR last_used_step < $2) AND (locked_until IS NULL OR locked_until <= now())`,
              [factor.id, s],
            )
            : { rowCount: 0 };
          if (claimed.rowCount === 1) {
            const id = `evt_${randomUUID()}`;
            const payload = JSON.stringify({ id, event: "verification.succeeded", channel: "totp", createdAt: new Date().toISOString(), data: { externalUserId: `user-${user}`, purpose: "login", method: "totp" } });
            await client.query("INSERT INTO events (id, app_id, type, channel, payload, created_at) VALUES ($1, $2, 'verification.succeeded', 'totp', $3, now())", [id, app.id, payload]);
          }
          await client.query("COMMIT");
          return { ok: claimed.rowCount === 1, status: claimed.rowCount === 1 ? "200" : "claim failed" };
        } catch (err) {
          await client.query("ROLLBACK").catch(() => undefined);
          throw err;
        } finally {
          client.release();
          done();
        }
      });
      Atomics.store(step, 0, scheduler.nextFreeStep);
      return result;
    };

    const latchkeyRun = async (users: number, seconds: number): Promise<RunResult> => {
      const result = await runLoadInWorker({
        url: `${address}/api/v1/totp/verify`,
        apiKey,
        connections: options!.connections,
        seconds,
        users,
        firstStep: Atomics.load(step, 0) + 2,
        seed,
        shared,
      });
      Atomics.store(step, 0, result.nextFreeStep);
      return result;
    };

    // Diagnostics, for reading the ratio: the verify service called in this process without
    // HTTP (what Latchkey itself costs over the floor), and a bare Fastify answering the same
    // POST with the same envelope through the same load generator (what HTTP alone costs here).
    const service = new TotpService({
      repo: totpRepository(db),
      keyring,
      clock,
      settings: new AppSettingsProvider(appsRepository(db.prisma), config, clock),
      metrics: createMetrics({ defaultMetrics: false }),
    });
    const serviceSecrets = new Map<number, Buffer>();
    const serviceRun = async (users: number, seconds: number): Promise<RunResult> => {
      const scheduler = new StepScheduler(step, users, Atomics.load(step, 0) + 2);
      const result = await closedLoops(options!.connections, seconds, async () => {
        const { user, step: s, done } = await scheduler.take();
        try {
          let secret = serviceSecrets.get(user);
          if (!secret) serviceSecrets.set(user, (secret = secretBytes(seed, user)));
          await service.verify({ appId: app.id, userId: `user-${user}`, token: totpCode(secret, s) });
          return { ok: true, status: "200" };
        } catch (err) {
          return { ok: false, status: (err as { code?: string }).code ?? "error" };
        } finally {
          done();
        }
      });
      Atomics.store(step, 0, scheduler.nextFreeStep);
      return result;
    };
    const bare = Fastify();
    bare.post("/api/v1/totp/verify", async () => ({ success: true, message: "verified", data: { verified: true } }));
    const bareAddress = await bare.listen({ port: 0, host: "127.0.0.1" });
    cleanups.push({ name: "stop bare Fastify", fn: () => bare.close() });
    const bareRun = async (users: number, seconds: number): Promise<RunResult> => {
      const result = await runLoadInWorker({ url: `${bareAddress}/api/v1/totp/verify`, apiKey, connections: options!.connections, seconds, users, firstStep: Atomics.load(step, 0) + 2, seed, shared });
      Atomics.store(step, 0, result.nextFreeStep);
      return result;
    };

    const rows: Row[] = [];
    const measure = async (name: string, users: number, run: (users: number, seconds: number) => Promise<RunResult>, usesDatabase = true) => {
      if (options!.warmup > 0) await run(users, options!.warmup);
      const cpuBefore = process.cpuUsage();
      const pgBefore = await postgresCpuTicks(dbName);
      const row = summarize(name, users, await run(users, options!.seconds));
      const cpu = process.cpuUsage(cpuBefore);
      row.nodeCpuMsPerVerify = (cpu.user + cpu.system) / 1000 / Math.max(1, row.result.ok);
      const pgTicks = ticksBetween(pgBefore, await postgresCpuTicks(dbName));
      row.pgCpuMsPerVerify = usesDatabase ? (pgTicks * (1000 / CLOCK_TICKS_PER_SECOND)) / Math.max(1, row.result.ok) : Number.NaN;
      rows.push(row);
      const bad = Object.entries(row.result.unexpected).map(([k, v]) => `${k}×${v}`).join(", ");
      log(`${name}, ${users} users: ${row.perSecond.toFixed(0)} verifies/s, p50 ${row.p50.toFixed(2)} ms, p99 ${row.p99.toFixed(2)} ms, CPU/verify node ${row.nodeCpuMsPerVerify.toFixed(2)} ms, PostgreSQL ${fmt(row.pgCpuMsPerVerify)} ms${bad ? `, UNEXPECTED ${bad}` : ""}`);
      return row;
    };

    await enrol(options.small);
    const floorSmall = await measure("floor (pg + HMAC)", options.small, floorRun);
    await measure("· verify service, no HTTP", options.small, serviceRun);
    await measure("· bare Fastify, HTTP only", options.small, bareRun, false);
    const latchkeySmall = await measure("Latchkey", options.small, latchkeyRun);
    await enrol(options.large);
    // The hot path's read, planned at the larger size: both lookups must stay index scans.
    const plan = (await db.query<{ "QUERY PLAN": string }>(
      `EXPLAIN ANALYZE SELECT f.id, f.secret_sealed, f.last_used_step FROM end_users u JOIN totp_factors f ON f.end_user_id = u.id
       WHERE u.app_id = $1 AND u.external_id = $2`,
      [app.id, `user-${options.large - 1}`],
    )).map((r) => r["QUERY PLAN"]);
    const planSummary = plan.filter((line) => /Scan|Execution Time/.test(line)).map((line) => line.trim().replace(/\s+\(cost=.*?\)/, "").replace(/\s+\(actual time=.*?\)/, ""));
    const floorLarge = await measure("floor (pg + HMAC)", options.large, floorRun);
    const latchkeyLarge = await measure("Latchkey", options.large, latchkeyRun);

    await cleanup();

    const ratioSmall = latchkeySmall.perSecond / floorSmall.perSecond;
    const ratioLarge = latchkeyLarge.perSecond / floorLarge.perSecond;
    const change = (a: number, b: number) => (b - a) / a;
    const p50Change = change(latchkeySmall.p50, latchkeyLarge.p50);
    const p99Change = change(latchkeySmall.p99, latchkeyLarge.p99);
    const pct = (n: number) => `${n >= 0 ? "+" : ""}${(n * 100).toFixed(1)} %`;
    const invalid = rows.filter((r) => r.result.failures > 0);
    const service1k = rows.find((r) => r.name.includes("verify service"))!;
    const bare1k = rows.find((r) => r.name.includes("bare Fastify"))!;
    const verdicts = [
      { pass: ratioSmall >= TARGETS.minRatio && ratioLarge >= TARGETS.minRatio, text: `throughput ratio Latchkey ÷ floor ≥ ${TARGETS.minRatio}: ${ratioSmall.toFixed(3)} (${options.small} users), ${ratioLarge.toFixed(3)} (${options.large} users)` },
      { pass: latchkeySmall.p99 < TARGETS.maxP99Ms && latchkeyLarge.p99 < TARGETS.maxP99Ms, text: `Latchkey p99 < ${TARGETS.maxP99Ms} ms at ${options.connections} connections: ${fmt(latchkeySmall.p99)} ms, ${fmt(latchkeyLarge.p99)} ms` },
      { pass: Math.abs(p50Change) <= TARGETS.maxLatencyChange, text: `Latchkey p50 ${options.small} → ${options.large} users within ±${TARGETS.maxLatencyChange * 100} %: ${pct(p50Change)} (p99 ${pct(p99Change)}, for information)` },
      { pass: invalid.length === 0, text: invalid.length === 0 ? "every measured verify succeeded (fresh valid code, 200)" : `unexpected answers: ${invalid.map((r) => `${r.name}/${r.users}: ${JSON.stringify(r.result.unexpected)}`).join("; ")}` },
    ];

    const out = [
      "",
      "Latchkey TOTP verify benchmark — POST /api/v1/totp/verify with a fresh valid code per request",
      `  date        ${new Date().toISOString()}`,
      `  cpu         ${os.cpus()[0]?.model ?? "?"} × ${os.availableParallelism()} (server, load generator thread, floor and PostgreSQL share them; other work on the machine too)`,
      `  node        ${process.version}, PostgreSQL ${pgVersion}`,
      `  load        ${options.connections} concurrent, ${options.seconds} s measured after ${options.warmup} s warm-up per run, pool of ${options.pool} connections for both`,
      `  webhooks    Latchkey's dispatcher/delivery worker ${options.webhookWorker ? "ON" : "off (--webhook-worker to include it)"}`,
      "  floor       BEGIN; SELECT factor (join end_users); HMAC-SHA1; UPDATE … last_used_step (conditional); INSERT event; COMMIT — through pg",
      "  Latchkey    HTTP keep-alive from a worker thread → auth (cached key) → indexed read of the factor → AES-GCM open → otplib (±1 step) →",
      "              one statement: conditional UPDATE of last_used_step + INSERT verification + INSERT event (one implicit transaction)",
      "",
      formatTable(
        ["run", "enrolled users", "verifies/s", "p50 ms", "p99 ms", "verifies", "failed", "node CPU ms/verify", "PG CPU ms/verify"],
        rows.map((r) => [r.name, String(r.users), r.perSecond.toFixed(0), fmt(r.p50), fmt(r.p99), String(r.result.ok), String(r.result.failures), fmt(r.nodeCpuMsPerVerify ?? NaN), fmt(r.pgCpuMsPerVerify ?? NaN)]),
      ),
      "",
      `plan   the factor read with ${options.large} users: ${planSummary.join("; ")}`,
      "",
      `ratio  Latchkey ÷ floor: ${ratioSmall.toFixed(3)} with ${options.small} users, ${ratioLarge.toFixed(3)} with ${options.large} users (target ≥ ${TARGETS.minRatio})`,
      `       for reading it: verify service without HTTP ÷ floor ${(service1k.perSecond / floorSmall.perSecond).toFixed(3)}; Latchkey ÷ bare Fastify (HTTP alone) ${(latchkeySmall.perSecond / bare1k.perSecond).toFixed(3)}`,
      "       (rows marked · are diagnostics, not targets)",
      "",
      ...verdicts.map((v) => `${v.pass ? "PASS" : "FAIL"}  ${v.text}`),
    ];
    console.log(out.join("\n"));
    return 0;
  } finally {
    await cleanup();
  }
}


if (isMainThread) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`bench could not run: ${err instanceof Error ? err.stack : String(err)}`);
      process.exit(1);
    },
  );
}
