/**
 * WebAuthn benchmark (`npx tsx bench/webauthn.ts [--duration s] [--connections n] [--warmup s]`,
 * see bench/README.md): passkey sign-in round trips against PostgreSQL.
 *
 * One round trip = `POST /api/v1/webauthn/authenticate/options {userId}`, a real ES256
 * assertion signed in this process by a software authenticator (node:crypto), then
 * `POST /api/v1/webauthn/authenticate/verify`. Latchkey runs as a child process
 * (`tsx src/server.ts`) on a throwaway database; each connection is one user with one
 * registered credential (registered through the API first), so signature counters rise
 * in order as they would for real users.
 *
 * The floor, in the same run and on the same database: Latchkey's own SQL through `pg`
 * directly — store the challenge with the user's credential descriptors; consume the
 * challenge with the credential; advance the counter with the verification row and the event
 * (three statements, the repository's) — plus one `crypto.verify` of the assertion, with the
 * same software authenticator signing, the same concurrency and the same pool size. The ratio is Latchkey's
 * round trips/s ÷ the floor's. Targets (issue 5): ratio ≥ 0.5, p99 < 50 ms at 20 connections.
 */
import { createHash, createPublicKey, randomBytes, verify as cryptoVerify, type KeyObject } from "node:crypto";
import http from "node:http";
import { readFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { webauthnRepository, type WebauthnRepository } from "../src/features/webauthn/webauthn.repository.ts";
import { openDatabase } from "../src/infra/db.ts";
import { SoftAuthenticator, type SoftCredential } from "../test/helpers/soft-authenticator.ts";
import { ADMIN_URL, benchDatabaseAndDataDir, serverVersion } from "./lib/database.ts";
import { freePort, startTsxServer, stopServer, waitUntilReady } from "./lib/proc.ts";
import { cleanupOnExit, intOption, parseCommandLine } from "./lib/cli.ts";
import { percentile } from "./lib/report.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ORIGIN = "http://localhost:3000"; // Latchkey's default WEBAUTHN_ORIGINS / RP ID "localhost"
const TARGETS = { minRatio: 0.5, maxP99Ms: 50, connections: 20 } as const;

// ── options ──────────────────────────────────────────────────────────────────────────────────
const USAGE = `Usage: npx tsx bench/webauthn.ts [options]

  --duration <s>     measured seconds per side (default 20)
  --connections <n>  concurrent users / connections, both sides (default ${TARGETS.connections})
  --pool <n>         PostgreSQL connections, both sides (default: --connections, one per user;
                     on a 2-core machine 4 leaves more of the CPU to the work itself)
  --warmup <s>       unmeasured seconds before each side (default 3)
  --rounds <n>       the measured time is split into n alternating Latchkey/floor rounds, so
                     both sides see the same background load on a shared machine (default 4)
  --webhook-worker   also run the webhook outbox dispatcher in the measured instance (default:
                     an API-only instance, WEBHOOK_WORKER=false, as the floor does no fan-out)
  --quick            smoke check: 6 s measured per side, 2 s warm-up, 2 rounds
  -h, --help         this text`;

function readOptions(): { duration: number; connections: number; pool: number; warmup: number; rounds: number; webhookWorker: boolean } | null {
  const { values } = parseArgs({
    options: {
      duration: { type: "string" },
      connections: { type: "string" },
      pool: { type: "string" },
      warmup: { type: "string" },
      rounds: { type: "string" },
      "webhook-worker": { type: "boolean", default: false },
      quick: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return null;
  const connections = intOption("connections", values.connections, TARGETS.connections, 1);
  return {
    duration: intOption("duration", values.duration, values.quick ? 6 : 20, 1),
    connections,
    pool: intOption("pool", values.pool, connections, 1),
    warmup: intOption("warmup", values.warmup, values.quick ? 2 : 3, 0),
    rounds: intOption("rounds", values.rounds, values.quick ? 2 : 4, 1),
    webhookWorker: values["webhook-worker"] === true,
  };
}

// ── cleanup, also on failure and Ctrl-C ──────────────────────────────────────────────────────
const { cleanups, cleanup } = cleanupOnExit("stopping Latchkey and dropping the bench database…");
const log = (message: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);

// ── HTTP to Latchkey: keep-alive, one socket per connection ─────────────────────────────────
function postJson(agent: http.Agent, port: number, path: string, key: string, body: unknown): Promise<{ status: number; json: any }> {
  return sendJson(agent, port, "POST", path, key, body);
}

function sendJson(agent: http.Agent, port: number, method: "GET" | "POST", path: string, key: string, body?: unknown): Promise<{ status: number; json: any }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, path, method, agent, headers: payload ? { "content-type": "application/json", "content-length": payload.length, "x-api-key": key } : { "x-api-key": key } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString("utf8")) });
          } catch (err) {
            reject(err);
          }
        });
        res.on("error", reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(payload);
  });
}

// ── measurement ──────────────────────────────────────────────────────────────────────────────
/** Raw samples of one or more measured windows (merged across rounds). */
interface Samples {
  /** Round-trip latencies, ms. */
  latencies: number[];
  /** The verify half alone (Latchkey: the verify request; floor: its SQL and crypto), ms. */
  verifyLatencies: number[];
  seconds: number;
  errors: number;
  firstError?: string;
}

const emptySamples = (): Samples => ({ latencies: [], verifyLatencies: [], seconds: 0, errors: 0 });

interface Measured {
  roundTrips: number;
  perSecond: number;
  p50: number;
  p99: number;
  verifyP99: number;
  errors: number;
  firstError?: string;
}

function summarize(samples: Samples): Measured {
  const latencies = [...samples.latencies].sort((a, b) => a - b);
  const verify = [...samples.verifyLatencies].sort((a, b) => a - b);
  return {
    roundTrips: latencies.length,
    perSecond: latencies.length / samples.seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    verifyP99: percentile(verify, 99),
    errors: samples.errors,
    firstError: samples.firstError,
  };
}

/** Runs `roundTrip(i)` on `connections` concurrent loops for `seconds`, adding to `into`. */
async function drive(connections: number, seconds: number, roundTrip: (i: number) => Promise<number>, into: Samples = emptySamples()): Promise<Samples> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(Array.from({ length: connections }, async (_, i) => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        const verifyMs = await roundTrip(i);
        into.latencies.push(performance.now() - t0);
        into.verifyLatencies.push(verifyMs);
      } catch (err) {
        into.errors++;
        into.firstError ??= (err as Error).message;
      }
    }
  }));
  into.seconds += (performance.now() - started) / 1000;
  return into;
}

// ── CPU accounting (/proc): where each round trip's CPU went, less sensitive to a busy machine ──
const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ

/** utime+stime of a process in ms; 0 when it is gone. */
function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

interface CpuTotals {
  /** The Latchkey server process (0 for the floor). */
  serverMs: number;
  /** This process: load generator, software authenticator, and the floor's own work. */
  benchMs: number;
  /** PostgreSQL backends connected to the bench database. */
  postgresMs: number;
}

const emptyCpu = (): CpuTotals => ({ serverMs: 0, benchMs: 0, postgresMs: 0 });

/** Runs `fn`, adding the CPU the server, this process and the bench database's backends spent. */
async function withCpu<T>(into: CpuTotals, serverPid: number | undefined, backends: () => Promise<number[]>, fn: () => Promise<T>): Promise<T> {
  const pidsBefore = await backends();
  const pgBefore = new Map(pidsBefore.map((pid) => [pid, processCpuMs(pid)]));
  const serverBefore = serverPid ? processCpuMs(serverPid) : 0;
  const selfBefore = process.cpuUsage();
  const result = await fn();
  const self = process.cpuUsage(selfBefore);
  into.benchMs += (self.user + self.system) / 1000;
  if (serverPid) into.serverMs += processCpuMs(serverPid) - serverBefore;
  for (const pid of new Set([...pidsBefore, ...(await backends())])) into.postgresMs += Math.max(0, processCpuMs(pid) - (pgBefore.get(pid) ?? 0));
  return result;
}

interface BenchUser {
  userId: string;
  authenticator: SoftAuthenticator;
  credential: SoftCredential;
}

// ── the floor: the same SQL through pg, plus one crypto.verify ───────────────────────────────
/**
 * Latchkey's own sign-in statements — the repository's driver-level queries, run through a
 * `pg` pool (openDatabase with DATABASE_URL is `pg` underneath) — and one crypto.verify of
 * the assertion with a key object imported once. Nothing else: no HTTP, no validation, no
 * options building, no library verification.
 */
function floorRoundTrip(repo: WebauthnRepository, appId: string, users: BenchUser[], keys: Map<string, KeyObject>) {
  return async (i: number): Promise<number> => {
    const user = users[i]!;
    // options: store the challenge and read the user's credential descriptors (one statement).
    const challenge = randomBytes(32).toString("base64url");
    const issuedAt = new Date();
    const descriptors = await repo.issueAuthenticationChallenge({ appId, externalUserId: user.userId, challenge, createdAt: issuedAt, expiresAt: new Date(issuedAt.getTime() + 300_000) });
    if (descriptors.length === 0) throw new Error("floor: no credential");
    const assertion = user.authenticator.assert({ challenge, rpId: "localhost", allowCredentials: descriptors.map((d) => ({ id: d.credentialId })) });

    // verify: consume the challenge and read the credential (one statement), check the
    // signature, then advance the counter with the verification row and the event (one statement).
    const t0 = performance.now();
    const claimed = await repo.claimAuthentication({ appId, challenge, credentialId: assertion.id, now: new Date() });
    const credential = claimed?.credential;
    if (!credential) throw new Error("floor: challenge or credential not found");
    const authData = Buffer.from(assertion.response.authenticatorData, "base64url");
    const clientDataHash = createHash("sha256").update(Buffer.from(assertion.response.clientDataJSON, "base64url")).digest();
    const ok = cryptoVerify("sha256", Buffer.concat([authData, clientDataHash]), keys.get(assertion.id)!, Buffer.from(assertion.response.signature, "base64url"));
    if (!ok) throw new Error("floor: bad signature");
    const recorded = await repo.completeAuthentication({
      credentialRowId: credential.id,
      newCounter: authData.readUInt32BE(33),
      backupState: false,
      at: new Date(),
      purpose: "login",
      event: { appId, externalUserId: credential.externalUserId, data: { purpose: "login", credentialId: credential.credentialId } },
    });
    if (!recorded) throw new Error("floor: counter regression");
    return performance.now() - t0;
  };
}

// ── main ─────────────────────────────────────────────────────────────────────────────────────
async function main(): Promise<number> {
  const options = parseCommandLine(readOptions, USAGE);
  if (typeof options === "number") return options;
  const { duration, connections, warmup, rounds, webhookWorker } = options;
  const pgVersion = await serverVersion(ADMIN_URL);
  log(`connections ${connections}, ${duration} s measured per side after ${warmup} s warm-up, PostgreSQL ${pgVersion}`);

  const { dbName, url: databaseUrl, dataDir } = await benchDatabaseAndDataDir({ label: "webauthn", cleanups, log });

  // The same pool size on both sides.
  const poolSize = options.pool;
  const apiKey = `2fa_${randomBytes(32).toString("base64url")}`;
  const latchkey = startTsxServer({
    name: "Latchkey",
    root: ROOT,
    script: "src/server.ts",
    port: await freePort(),
    env: {
      DATABASE_URL: databaseUrl,
      DATABASE_POOL_SIZE: String(poolSize),
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn",
      NODE_ENV: "production",
      RATE_LIMIT_GLOBAL_PER_MIN: "1000000",
      RATE_LIMIT_VERIFY_PER_MIN: "1000000",
      BOOTSTRAP_API_KEY: apiKey,
      BOOTSTRAP_APP_NAME: "Bench",
      ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      DATA_DIR: dataDir,
      WEBAUTHN_RP_ID: "localhost",
      WEBAUTHN_ORIGINS: ORIGIN,
      WEBHOOK_WORKER: String(webhookWorker),
      REDIS_URL: "",
      TRUST_PROXY: "",
      BOOTSTRAP_WEBHOOK_URL: "",
      BOOTSTRAP_WEBHOOK_SECRET: "",
      ADMIN_EMAIL: "",
      ADMIN_PASSWORD: "",
    },
  });
  cleanups.push({ name: "stop Latchkey", fn: () => stopServer(latchkey) });
  await waitUntilReady(latchkey, "/ready");
  log(`Latchkey ready on ${latchkey.baseUrl} (pid ${latchkey.serverPid})`);

  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  cleanups.push({ name: "close agent", fn: () => agent.destroy() });
  const post = (p: string, body: unknown) => postJson(agent, latchkey.port, `/api/v1${p}`, apiKey, body);

  // ── one user and one registered credential per connection, through the API ──
  const users: BenchUser[] = [];
  for (let i = 0; i < connections; i++) {
    const userId = `bench_user_${i}`;
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const optionsRes = await post("/webauthn/register/options", { userId });
    if (optionsRes.status !== 200) throw new Error(`register/options answered ${optionsRes.status}: ${JSON.stringify(optionsRes.json)}`);
    const { credential, response } = authenticator.register(optionsRes.json.data.publicKey);
    const verifyRes = await post("/webauthn/register/verify", { userId, ...response });
    if (verifyRes.status !== 200) throw new Error(`register/verify answered ${verifyRes.status}: ${JSON.stringify(verifyRes.json)}`);
    users.push({ userId, authenticator, credential });
  }
  log(`registered ${users.length} users, one credential each`);

  // ── Latchkey ──
  const latchkeyRoundTrip = async (i: number): Promise<number> => {
    const user = users[i]!;
    const opts = await post("/webauthn/authenticate/options", { userId: user.userId });
    if (opts.status !== 200) throw new Error(`authenticate/options ${opts.status} ${opts.json?.code}`);
    const assertion = user.authenticator.assert(opts.json.data.publicKey);
    const t0 = performance.now();
    const res = await post("/webauthn/authenticate/verify", { userId: user.userId, ...assertion });
    if (res.status !== 200 || res.json?.data?.verified !== true) throw new Error(`authenticate/verify ${res.status} ${res.json?.code} ${res.json?.data?.reason ?? ""}`);
    return performance.now() - t0;
  };
  // ── the floor: same database, own pool of the same size ──
  const floorDb = await openDatabase({ url: databaseUrl, poolSize });
  cleanups.push({ name: "close floor pool", fn: () => floorDb.close() });
  const appId = (await floorDb.query<{ id: string }>("SELECT id FROM apps LIMIT 1"))[0]!.id;
  const keys = new Map<string, KeyObject>();
  for (const user of users) keys.set(user.credential.id, createPublicKey(user.credential.privateKey));
  const floorRun = floorRoundTrip(webauthnRepository(floorDb), appId, users, keys);

  // ── alternating rounds: both sides see the same background load ──
  if (warmup > 0) {
    await drive(connections, warmup, latchkeyRoundTrip);
    await drive(connections, warmup, floorRun);
  }
  const latchkeySamples = emptySamples();
  const floorSamples = emptySamples();
  const latchkeyCpu = emptyCpu();
  const floorCpu = emptyCpu();
  const backends = async () => (await floorDb.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [dbName])).map((r) => r.pid);
  const roundSeconds = duration / rounds;
  for (let round = 1; round <= rounds; round++) {
    const lkBefore = latchkeySamples.latencies.length;
    await withCpu(latchkeyCpu, latchkey.serverPid, backends, () => drive(connections, roundSeconds, latchkeyRoundTrip, latchkeySamples));
    const flBefore = floorSamples.latencies.length;
    await withCpu(floorCpu, undefined, backends, () => drive(connections, roundSeconds, floorRun, floorSamples));
    log(`round ${round}/${rounds}: Latchkey ${((latchkeySamples.latencies.length - lkBefore) / roundSeconds).toFixed(0)} round trips/s, floor ${((floorSamples.latencies.length - flBefore) / roundSeconds).toFixed(0)} round trips/s`);
  }
  // Calibration: what a trivial authenticated request (GET /api/v1/app: key check from the
  // cache, one indexed read) costs the server here — the framework's share of each call.
  const calibrationCpu = emptyCpu();
  const calibration = await withCpu(calibrationCpu, latchkey.serverPid, backends, () =>
    drive(connections, roundSeconds, async () => {
      const res = await sendJson(agent, latchkey.port, "GET", "/api/v1/app", apiKey);
      if (res.status !== 200) throw new Error(`GET /api/v1/app ${res.status}`);
      return 0;
    }),
  );
  const trivialRequestCpuMs = calibrationCpu.serverMs / calibration.latencies.length;
  const latchkeyResult = summarize(latchkeySamples);
  const floorResult = summarize(floorSamples);
  log(`Latchkey: ${latchkeyResult.perSecond.toFixed(0)} round trips/s, p50 ${latchkeyResult.p50.toFixed(1)} ms, p99 ${latchkeyResult.p99.toFixed(1)} ms, errors ${latchkeyResult.errors}`);
  log(`floor:    ${floorResult.perSecond.toFixed(0)} round trips/s, p50 ${floorResult.p50.toFixed(1)} ms, p99 ${floorResult.p99.toFixed(1)} ms, errors ${floorResult.errors}`);
  const counted = (await floorDb.query<{ n: string }>("SELECT count(*) AS n FROM verifications"))[0];
  await floorDb.close();
  cleanups.pop();
  agent.destroy();

  await cleanup();

  // ── report ──
  const ratio = latchkeyResult.perSecond / floorResult.perSecond;
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : "n/a");
  const rows = [
    ["side", "round trips/s", "p50 ms", "p99 ms", "verify p99 ms", "round trips", "errors"],
    ["floor (pg + crypto.verify)", f(floorResult.perSecond, 0), f(floorResult.p50), f(floorResult.p99), f(floorResult.verifyP99), String(floorResult.roundTrips), String(floorResult.errors)],
    ["Latchkey (HTTP)", f(latchkeyResult.perSecond, 0), f(latchkeyResult.p50), f(latchkeyResult.p99), f(latchkeyResult.verifyP99), String(latchkeyResult.roundTrips), String(latchkeyResult.errors)],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" │ ");
  const perTrip = (cpu: CpuTotals, trips: number) => ({ server: cpu.serverMs / trips, bench: cpu.benchMs / trips, postgres: cpu.postgresMs / trips, total: (cpu.serverMs + cpu.benchMs + cpu.postgresMs) / trips });
  const lkCpu = perTrip(latchkeyCpu, latchkeyResult.roundTrips);
  const flCpu = perTrip(floorCpu, floorResult.roundTrips);
  const cpuRows = [
    ["CPU per round trip (ms)", "server", "bench process", "PostgreSQL", "total"],
    ["floor", "-", f(flCpu.bench, 2), f(flCpu.postgres, 2), f(flCpu.total, 2)],
    ["Latchkey", f(lkCpu.server, 2), f(lkCpu.bench, 2), f(lkCpu.postgres, 2), f(lkCpu.total, 2)],
  ];
  const cpuWidths = cpuRows[0]!.map((_, i) => Math.max(...cpuRows.map((r) => r[i]!.length)));
  const cpuLine = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(cpuWidths[i]!) : c.padStart(cpuWidths[i]!))).join(" │ ");
  const verdicts = [
    { name: `ratio ≥ ${TARGETS.minRatio}`, pass: ratio >= TARGETS.minRatio, detail: `Latchkey ÷ floor = ${ratio.toFixed(3)}` },
    {
      name: `p99 < ${TARGETS.maxP99Ms} ms at ${TARGETS.connections} connections`,
      pass: connections === TARGETS.connections && latchkeyResult.p99 < TARGETS.maxP99Ms,
      detail: connections === TARGETS.connections ? `round trip (options + verify) p99 ${f(latchkeyResult.p99)} ms` : `not measured: ran at ${connections} connections`,
    },
    { name: "no errors", pass: latchkeyResult.errors === 0 && floorResult.errors === 0, detail: `Latchkey ${latchkeyResult.errors}${latchkeyResult.firstError ? ` (${latchkeyResult.firstError})` : ""}, floor ${floorResult.errors}${floorResult.firstError ? ` (${floorResult.firstError})` : ""}` },
  ];
  console.log([
    "",
    "Latchkey WebAuthn benchmark — authenticate/options + authenticate/verify round trips",
    `  machine     ${os.cpus()[0]?.model ?? "?"} × ${os.availableParallelism()} (shared by Latchkey, PostgreSQL and this load generator), node ${process.version}, PostgreSQL ${pgVersion}`,
    `  load        ${connections} concurrent users, one credential each, keep-alive HTTP, 127.0.0.1; ${duration} s measured per side in ${rounds} alternating rounds, after ${warmup} s warm-up each`,
    `  pools       ${poolSize} PostgreSQL connections on each side`,
    `  Latchkey    child process, PostgreSQL, LOG_LEVEL=${process.env.BENCH_LOG_LEVEL ?? "warn"}, ${webhookWorker ? "with the webhook outbox dispatcher (WEBHOOK_WORKER=true)" : "API-only instance (WEBHOOK_WORKER=false): events stay in the outbox, as in the floor"}`,
    `  assertions  ES256, signed in this process by a software authenticator on both sides`,
    `  rows        ${counted?.n ?? "?"} verification rows written in all (Latchkey and floor)`,
    "",
    line(rows[0]!),
    widths.map((w) => "─".repeat(w)).join("─┼─"),
    ...rows.slice(1).map(line),
    "",
    cpuLine(cpuRows[0]!),
    cpuWidths.map((w) => "─".repeat(w)).join("─┼─"),
    ...cpuRows.slice(1).map(cpuLine),
    `(CPU ratio floor ÷ Latchkey = ${(flCpu.total / lkCpu.total).toFixed(3)}: the throughput ratio to expect where CPU, not other tenants, is the limit)`,
    `(calibration: one trivial authenticated request, GET /api/v1/app, costs the server ${f(trivialRequestCpuMs, 2)} ms of CPU here; a round trip is two requests)`,
    "",
    ...verdicts.map((v) => `${v.pass ? "PASS" : "FAIL"}  ${v.name.padEnd(34)} ${v.detail}`),
    "",
  ].join("\n"));
  return 0;
}

main()
  .then((code) => process.exit(code))
  .catch(async (err) => {
    console.error(`bench failed: ${(err as Error).stack ?? err}`);
    await cleanup();
    process.exit(1);
  });
