/**
 * SMS code benchmark (`npx tsx bench/otp.ts [options]`, see bench/README.md).
 *
 * In one run, against a throwaway PostgreSQL database, with the per-IP and per-destination
 * limits raised and a no-op SMS provider:
 *  - pairs: `POST /api/v1/otp/send` then `POST /api/v1/otp/verify` with the code that "arrived",
 *    closed loops at --connections → pairs/s and the latency of each call;
 *  - verifies: codes sent beforehand (unmeasured), then only `POST /api/v1/otp/verify` for
 *    each of them at --connections → verifies/s and p99;
 *  - the floor: the same SQL statements the verify path issues — read the newest challenge
 *    and the destination's guard, consume the challenge with one conditional UPDATE, insert
 *    the Verification row and the event — in one transaction straight through `pg`, plus the
 *    HMAC comparison, for as many fresh challenges, same pool size, same concurrency.
 *
 * Latchkey is built in this process (buildApp + listen on 127.0.0.1:0) with a capturing
 * SmsSender that writes each code into shared memory; the load generator runs in a worker
 * thread (its own event loop) and reads the code from there, as a phone would read the SMS.
 *
 * Prints a table and PASS/FAIL lines for the issue's targets; exits 0 even on FAIL, non-zero
 * only when something could not run. Only 127.0.0.1 traffic; bounded by --duration.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import http from "node:http";

import os from "node:os";
import { parseArgs } from "node:util";
import { isMainThread } from "node:worker_threads";
import pg from "pg";
import { ADMIN_URL, benchDatabaseAndDataDir, serverVersion } from "./lib/database.ts";
import { formatTable, percentile } from "./lib/report.ts";
import { cleanupOnExit, intOption, parseCommandLine } from "./lib/cli.ts";
import { runInWorker, serveLoadInWorker } from "./lib/worker.ts";

const TARGETS = { minRatio: 0.5, maxVerifyP99Ms: 25 } as const;
/** Destination i is the Korean mobile number +8210 followed by the 8 digits of FIRST_NUMBER + i. */
const FIRST_NUMBER = 10_000_000;
/** Slots for codes in shared memory (4 bytes each); one per destination the run may use. */
const MAX_DESTINATIONS = 4_000_000;

const phoneOf = (i: number) => `+8210${FIRST_NUMBER + i}`;
const indexOf = (phone: string) => Number(phone.slice(5)) - FIRST_NUMBER;

interface RunResult {
  ok: number;
  failures: number;
  unexpected: Record<string, number>;
  seconds: number;
  /** One list per measured call (`send`, `verify`, `pair`). */
  latenciesMs: Record<string, number[]>;
}

/**
 * `connections` closed loops, each running `one()` back to back until `seconds` pass or
 * `next()` runs out of work. `one` reports its own latencies by name.
 */
async function closedLoops(
  connections: number,
  seconds: number,
  next: () => number | undefined,
  one: (i: number, record: (name: string, ms: number) => void) => Promise<{ ok: boolean; status: string }>,
): Promise<RunResult> {
  const latenciesMs: Record<string, number[]> = {};
  const record = (name: string, ms: number) => void (latenciesMs[name] ??= []).push(ms);
  const unexpected: Record<string, number> = {};
  let ok = 0;
  let failures = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < deadline) {
      const i = next();
      if (i === undefined) return;
      const outcome = await one(i, record).catch((err: Error) => ({ ok: false, status: `error: ${err.message.slice(0, 60)}` }));
      if (outcome.ok) ok++;
      else {
        failures++;
        unexpected[outcome.status] = (unexpected[outcome.status] ?? 0) + 1;
      }
    }
  }));
  return { ok, failures, unexpected, seconds: (performance.now() - started) / 1000, latenciesMs };
}

// ── the load generator (worker thread) ──────────────────────────────────────────────────────

interface LoadJob {
  kind: "pairs" | "sends" | "verifies";
  baseUrl: string;
  apiKey: string;
  connections: number;
  seconds: number;
  /** Destinations [from, to) this job may use. */
  from: number;
  to: number;
  /** codes[i] = code of destination i + 1 (0: none yet), written by the server's SmsSender. */
  codes: SharedArrayBuffer;
}

async function loadGenerator(job: LoadJob): Promise<RunResult & { used: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.connections });
  const target = new URL(job.baseUrl);
  const codes = new Int32Array(job.codes);
  const post = (route: string, body: string) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request({
        host: target.hostname,
        port: target.port,
        path: `/api/v1${route}`,
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
  const send = async (i: number, record: (name: string, ms: number) => void) => {
    const t0 = performance.now();
    const status = await post("/otp/send", JSON.stringify({ phone: phoneOf(i), purpose: "login" }));
    record("send", performance.now() - t0);
    return status;
  };
  const verify = async (i: number, record: (name: string, ms: number) => void) => {
    const stored = Atomics.load(codes, i);
    if (stored === 0) return -1;
    const t0 = performance.now();
    const status = await post("/otp/verify", JSON.stringify({ phone: phoneOf(i), code: String(stored - 1).padStart(6, "0") }));
    record("verify", performance.now() - t0);
    return status;
  };

  let cursor = job.from;
  const next = () => (cursor < job.to ? cursor++ : undefined);
  const result = await closedLoops(job.connections, job.seconds, next, async (i, record) => {
    if (job.kind === "sends") {
      const status = await send(i, record);
      return { ok: status === 200, status: `send ${status}` };
    }
    const t0 = performance.now();
    if (job.kind === "pairs") {
      const sent = await send(i, record);
      if (sent !== 200) return { ok: false, status: `send ${sent}` };
    }
    const verified = await verify(i, record);
    if (job.kind === "pairs") record("pair", performance.now() - t0);
    return { ok: verified === 200, status: verified === -1 ? "no code captured" : `verify ${verified}` };
  });
  agent.destroy();
  return { ...result, used: cursor - job.from };
}

serveLoadInWorker(loadGenerator);

const runLoadInWorker = (job: LoadJob) => runInWorker<LoadJob, RunResult & { used: number }>(import.meta.url, job);

// ── main thread ─────────────────────────────────────────────────────────────────────────────

interface Options {
  seconds: number;
  warmup: number;
  connections: number;
  pool: number;
}

const USAGE = `Usage: npx tsx bench/otp.ts [options]

  --duration <s>     seconds per measured run (default 15)
  --warmup <s>       unmeasured seconds of pairs before measuring (default 3)
  --connections <n>  concurrent requests / transactions (default 50)
  --pool <n>         database connections, Latchkey's and the floor's (default 10, DATABASE_POOL_SIZE's default)
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
      pool: { type: "string" },
      quick: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return null;
  return {
    seconds: intOption("duration", values.duration, values.quick ? 4 : 15, 1),
    warmup: intOption("warmup", values.warmup, values.quick ? 1 : 3, 0),
    connections: intOption("connections", values.connections, 50, 1),
    pool: intOption("pool", values.pool, 10, 1),
  };
}

const log = (message: string) => console.log(`[bench otp ${new Date().toISOString().slice(11, 19)}] ${message}`);

/** The `p`th percentile of unsorted `values`. */
function percentileOf(values: number[] | undefined, p: number): number {
  return percentile([...(values ?? [])].sort((a, b) => a - b), p);
}

async function main(): Promise<number> {
  const options = parseCommandLine(parseOptions, USAGE);
  if (typeof options === "number") return options;

  // Imported here so the worker thread, which runs this file too, loads none of the server.
  const [{ buildApp }, { loadConfig }, { appsRepository }, { createApp }, { keysRepository }, { createApiKey }, { Keyring }, { openDatabase }, { applyMigrations }, pino] = await Promise.all([
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
  ]);

  const { cleanups, cleanup } = cleanupOnExit("stopping Latchkey and dropping the bench database…");

  try {
    const pgVersion = await serverVersion(ADMIN_URL);
    const { dbName, url, dataDir } = await benchDatabaseAndDataDir({ label: "otp", cleanups, log, note: `PostgreSQL ${pgVersion}` });

    const config = loadConfig({
      DATABASE_URL: url,
      DATABASE_POOL_SIZE: String(options.pool),
      LOG_LEVEL: "silent",
      NODE_ENV: "production",
      DATA_DIR: dataDir,
      RATE_LIMIT_GLOBAL_PER_MIN: "1000000",
      RATE_LIMIT_SEND_PER_MIN: "1000000",
      RATE_LIMIT_VERIFY_PER_MIN: "1000000",
    });
    const db = await openDatabase({ url, poolSize: options.pool });
    cleanups.push({ name: "close the database", fn: () => db.close() });
    await applyMigrations(db);
    const keyring = new Keyring(randomBytes(32));
    // Per-destination limits raised too (every destination is fresh anyway).
    const app = await createApp(appsRepository(db.prisma), { name: "OTP bench", settings: { otp: { resendIntervalSeconds: 0, maxSendsPerHour: 100_000 } } });
    const { key: apiKey } = await createApiKey(keysRepository(db.prisma), { appId: app.id, kind: "secret" });

    // The no-op provider: the code "arrives" in shared memory, where the load generator reads it.
    const codesBuffer = new SharedArrayBuffer(4 * MAX_DESTINATIONS);
    const codes = new Int32Array(codesBuffer);
    const sms = {
      name: "bench-capture",
      async send(message: { to: string; code: string }) {
        Atomics.store(codes, indexOf(message.to), Number(message.code) + 1);
      },
    };
    const server = await buildApp(config, { db, keyring, sms, logger: pino.default({ level: "silent" }) });
    const baseUrl = await server.listen({ port: 0, host: "127.0.0.1" });
    cleanups.push({ name: "stop Latchkey", fn: () => server.close() });
    log(`Latchkey listening on ${baseUrl} (in this process; load from a worker thread)`);

    let nextDestination = 0;
    const job = (kind: LoadJob["kind"], seconds: number, count = MAX_DESTINATIONS - nextDestination): LoadJob => ({
      kind, baseUrl, apiKey, connections: options!.connections, seconds, from: nextDestination, to: nextDestination + count, codes: codesBuffer,
    });
    const run = async (load: LoadJob) => {
      const result = await runLoadInWorker(load);
      nextDestination = load.from + result.used;
      return result;
    };

    // ── Latchkey: pairs, then verifies of codes sent beforehand ──
    if (options.warmup > 0) await run(job("pairs", options.warmup));
    const pairs = await run(job("pairs", options.seconds));
    log(`pairs: ${(pairs.ok / pairs.seconds).toFixed(0)}/s, pair p99 ${percentileOf(pairs.latenciesMs.pair, 99).toFixed(2)} ms`);
    const prepared = await run(job("sends", options.seconds));
    const verifyFrom = nextDestination - prepared.used;
    log(`sent ${prepared.ok} codes to verify (unmeasured, ${(prepared.ok / prepared.seconds).toFixed(0)} sends/s)`);
    const verifies = await run({ ...job("verifies", options.seconds * 4), from: verifyFrom, to: verifyFrom + prepared.used });
    log(`verifies: ${(verifies.ok / verifies.seconds).toFixed(0)}/s, p99 ${percentileOf(verifies.latenciesMs.verify, 99).toFixed(2)} ms`);

    // ── the floor: as many fresh challenges, consumed with the verify path's SQL through pg ──
    const count = prepared.used;
    const floorFrom = nextDestination;
    const pepper = keyring.deriveKey("latchkey/otp-code-hmac/v1");
    const hmac = (id: string, code: string) => `v1.${keyring.currentKeyId}.${createHmac("sha256", pepper).update(`${id}:${code}`).digest("hex")}`;
    const seeded = performance.now();
    const ids: string[] = [];
    const hashes: string[] = [];
    const phones: string[] = [];
    for (let i = 0; i < count; i++) {
      ids.push(`otp_floor_${i}`);
      hashes.push(hmac(`otp_floor_${i}`, "123456"));
      phones.push(phoneOf(floorFrom + i));
    }
    const expires = new Date(Date.now() + 3600_000);
    await db.query(
      `INSERT INTO otp_challenges (id, app_id, channel, destination, purpose, code_hash, status, max_attempts, expires_at, created_at)
       SELECT t.id, $1, 'sms', t.phone, 'login', t.hash, 'pending', 5, $2, now()
         FROM unnest($3::text[], $4::text[], $5::text[]) AS t(id, phone, hash)`,
      [app.id, expires, ids, phones, hashes],
    );
    await db.exec("ANALYZE otp_challenges");
    log(`seeded ${count} challenges for the floor in ${((performance.now() - seeded) / 1000).toFixed(1)} s`);

    const pool = new pg.Pool({ connectionString: url, max: options.pool });
    cleanups.push({ name: "close the floor's pool", fn: () => pool.end() });
    let floorCursor = 0;
    const floor = await closedLoops(options.connections, options.seconds * 4, () => (floorCursor < count ? floorCursor++ : undefined), async (i, record) => {
      const t0 = performance.now();
      const phone = phoneOf(floorFrom + i);
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const found = await client.query<{ id: string; code_hash: string; g_failures: number | null }>(
          `SELECT c.*, g.consecutive_failures AS g_failures, g.locked_until AS g_locked_until
             FROM (SELECT 1) AS one
             LEFT JOIN destination_guards g ON g.app_id = $1 AND g.channel = $2::otp_channel AND g.destination = $3
             LEFT JOIN LATERAL (
                   SELECT * FROM otp_challenges
                    WHERE app_id = $1 AND channel = $2::otp_channel AND destination = $3 AND purpose = $4
                    ORDER BY created_at DESC, (status IN ('sending', 'pending')) DESC
                    LIMIT 1) c ON true`,
          [app.id, "sms", phone, "login"],
        );
        const challenge = found.rows[0]!;
        const expected = Buffer.from(hmac(challenge.id, "123456"));
        const matches = expected.length === challenge.code_hash.length && timingSafeEqual(expected, Buffer.from(challenge.code_hash));
        const now = new Date();
        const consumed = matches
          ? await client.query(
            `UPDATE otp_challenges SET attempts = attempts + 1, status = 'verified', verified_at = $2
              WHERE id = $1 AND status IN ('sending', 'pending') AND attempts < max_attempts AND expires_at > $2
             RETURNING *`,
            [challenge.id, now],
          )
          : { rowCount: 0 };
        if (consumed.rowCount === 1) {
          const verificationId = `ver_floor_${i}`;
          await client.query(
            "INSERT INTO verifications (id, app_id, external_user_id, channel, purpose, reference, created_at) VALUES ($1, $2, NULL, 'sms', 'login', $3, $4)",
            [verificationId, app.id, challenge.id, now],
          );
          const eventId = `evt_floor_${i}`;
          const payload = JSON.stringify({ id: eventId, event: "verification.succeeded", channel: "sms", createdAt: now.toISOString(), data: { requestId: challenge.id, destination: "+82******0000", purpose: "login" } });
          await client.query("INSERT INTO events (id, app_id, type, channel, payload, created_at) VALUES ($1, $2, 'verification.succeeded', 'sms', $3, $4)", [eventId, app.id, payload, now]);
        }
        await client.query("COMMIT");
        record("verify", performance.now() - t0);
        return { ok: consumed.rowCount === 1, status: consumed.rowCount === 1 ? "200" : "not consumed" };
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    });
    log(`floor: ${(floor.ok / floor.seconds).toFixed(0)} verifies/s, p99 ${percentileOf(floor.latenciesMs.verify, 99).toFixed(2)} ms`);

    await cleanup();

    // ── report ──
    const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");
    const rate = (r: RunResult) => r.ok / r.seconds;
    const rows: string[][] = [
      ["Latchkey send+verify pairs", String(pairs.ok), fmt(rate(pairs), 0), fmt(percentileOf(pairs.latenciesMs.pair, 50)), fmt(percentileOf(pairs.latenciesMs.pair, 99)), String(pairs.failures)],
      ["  of which: send", String(pairs.latenciesMs.send?.length ?? 0), "", fmt(percentileOf(pairs.latenciesMs.send, 50)), fmt(percentileOf(pairs.latenciesMs.send, 99)), ""],
      ["  of which: verify", String(pairs.latenciesMs.verify?.length ?? 0), "", fmt(percentileOf(pairs.latenciesMs.verify, 50)), fmt(percentileOf(pairs.latenciesMs.verify, 99)), ""],
      ["Latchkey verify (codes sent before)", String(verifies.ok), fmt(rate(verifies), 0), fmt(percentileOf(verifies.latenciesMs.verify, 50)), fmt(percentileOf(verifies.latenciesMs.verify, 99)), String(verifies.failures)],
      ["floor: verify SQL via pg, 1 tx", String(floor.ok), fmt(rate(floor), 0), fmt(percentileOf(floor.latenciesMs.verify, 50)), fmt(percentileOf(floor.latenciesMs.verify, 99)), String(floor.failures)],
    ];
    const ratio = rate(verifies) / rate(floor);
    const verifyP99 = percentileOf(verifies.latenciesMs.verify, 99);
    const unexpected = [pairs, verifies, floor].flatMap((r) => Object.entries(r.unexpected).map(([k, v]) => `${k}×${v}`));
    const verdicts = [
      { pass: ratio >= TARGETS.minRatio, text: `verify throughput Latchkey ÷ floor ≥ ${TARGETS.minRatio}: ${fmt(rate(verifies), 0)} ÷ ${fmt(rate(floor), 0)} = ${fmt(ratio, 3)}` },
      { pass: verifyP99 < TARGETS.maxVerifyP99Ms, text: `Latchkey verify p99 < ${TARGETS.maxVerifyP99Ms} ms at ${options.connections} connections: ${fmt(verifyP99)} ms` },
      { pass: unexpected.length === 0, text: unexpected.length === 0 ? "every measured send and verify answered 200" : `unexpected answers: ${unexpected.join(", ")}` },
    ];
    const cpu = /^model name\s*:\s*(.+)$/m.exec(await import("node:fs").then((fs) => fs.readFileSync("/proc/cpuinfo", "utf8")).catch(() => ""))?.[1] ?? os.cpus()[0]?.model ?? "?";
    console.log("");
    console.log(`OTP benchmark — ${new Date().toISOString()}`);
    console.log(`machine: ${cpu} × ${os.availableParallelism()}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} (shared: the server, the load generator, PostgreSQL and anything else running)`);
    console.log(`node ${process.version}, PostgreSQL ${pgVersion}; ${options.connections} connections, pool ${options.pool}, ${options.seconds} s runs (verify runs end when their codes run out)`);
    console.log("");
    console.log(formatTable(["run", "completed", "per second", "p50 ms", "p99 ms", "failures"], rows));
    console.log("");
    for (const v of verdicts) console.log(`${v.pass ? "PASS" : "FAIL"}  ${v.text}`);
    return 0;
  } catch (err) {
    console.error(`bench failed: ${(err as Error).stack ?? err}`);
    await cleanup();
    return 1;
  }
}

if (isMainThread) {
  main().then((code) => process.exit(code));
}
