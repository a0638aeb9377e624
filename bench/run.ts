/**
 * Foundation benchmark (`npm run bench -- [options]`, see bench/README.md).
 *
 * In one run, on this machine: a bare Fastify 5 server (the floor) and Latchkey against a fresh
 * PostgreSQL database, both as child processes on 127.0.0.1, loaded by autocannon with the
 * same connections and duration: `GET /api/v1/app` (Latchkey: with X-API-Key). Latchkey is
 * measured over several consecutive runs, sampling its RSS after each. Prints a table and
 * PASS/FAIL lines; exits 0 even on FAIL, non-zero only when something could not run.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseBenchArgs, USAGE, type BenchOptions } from "./lib/args.ts";
import { cpuSnapshot, cpuUse, processTable, topProcesses, type CpuUse } from "./lib/cpu.ts";
import { ADMIN_URL, benchDatabaseAndDataDir, serverVersion } from "./lib/database.ts";
import { runLoad, type RunSummary } from "./lib/load.ts";
import { commandLine, freePort, rssBytes, startTsxServer, stopServer, waitUntilReady, type ChildServer } from "./lib/proc.ts";
import { cpuTable, DISTURBED_OTHER_CORES, evaluate, resultsTable, TARGETS, type MeasuredRun } from "./lib/report.ts";
import { cleanupOnExit, parseCommandLine } from "./lib/cli.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ROUTE = "/api/v1/app";

// ── cleanup, also on failure and Ctrl-C ────────────────────────────────────────────────────
const { cleanups, cleanup } = cleanupOnExit("stopping the servers and dropping the bench database…");

const log = (message: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);

function machine(pgVersion: string): string[] {
  const cpu = /^model name\s*:\s*(.+)$/m.exec(safeRead("/proc/cpuinfo"))?.[1] ?? os.cpus()[0]?.model ?? "?";
  return [
    `date        ${new Date().toISOString()}`,
    `cpu         ${cpu} × ${os.availableParallelism()} (load generator and servers share them)`,
    `memory      ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB total, ${(os.freemem() / 1024 ** 3).toFixed(1)} GiB free`,
    `node        ${process.version}`,
    `postgresql  ${pgVersion}`,
  ];
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** One GET, parsed; used before loading to prove both servers answer the same shape. */
async function probe(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: response.status, body };
}

function shapeOf(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shapeOf);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, shapeOf((value as Record<string, unknown>)[k])]));
  }
  return typeof value;
}

async function measure(
  server: ChildServer,
  options: BenchOptions,
  headers: Record<string, string>,
  label: string,
  seconds: number,
): Promise<{ summary: RunSummary; rss: number; peakRss: number; cpu: CpuUse; busiestOthers: string[] }> {
  const before = cpuSnapshot(server.serverPid!);
  const processesBefore = processTable();
  const startedAt = Date.now();
  let peakRss = 0;
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, rssBytes(server.serverPid!));
    } catch {
      // the server died; the run will show it
    }
  }, 1000);
  let summary: RunSummary;
  try {
    summary = await runLoad({ url: `${server.baseUrl}${ROUTE}`, connections: options.connections, duration: seconds, headers });
  } finally {
    clearInterval(sampler);
  }
  const cpu = cpuUse(before, cpuSnapshot(server.serverPid!), summary.requests);
  const ours = new Set([String(process.pid), String(server.serverPid)]);
  for (const [pid, { name }] of processesBefore) if (name.startsWith("postgres")) ours.add(pid);
  const busiestOthers = topProcesses(processesBefore, processTable(), (Date.now() - startedAt) / 1000, ours)
    .filter((p) => p.cores >= 0.05 && !p.name.startsWith("postgres"))
    .map((p) => `${p.name} (pid ${p.pid}) ${(p.cores * 100).toFixed(0)} %`);
  const rss = rssBytes(server.serverPid!);
  peakRss = Math.max(peakRss, rss);
  const pct = (n: number) => `${(n * 100).toFixed(0)} %`;
  log(
    `${server.name} ${label}: ${summary.reqPerSec.toFixed(0)} req/s, p50 ${summary.p50} ms, p99 ${summary.p99} ms, ` +
      `non-2xx ${summary.non2xx}, errors ${summary.errors}, RSS ${(rss / 1024 / 1024).toFixed(1)} MiB (peak ${(peakRss / 1024 / 1024).toFixed(1)}), ` +
      `CPU server ${pct(cpu.server)} (${cpu.serverMicrosPerRequest.toFixed(0)} µs/req), postgres ${pct(cpu.postgres)}, loadgen ${pct(cpu.generator)}, other ${pct(cpu.other)}`,
  );
  if (busiestOthers.length > 0) log(`  busiest other processes: ${busiestOthers.join("; ")}`);
  return { summary, rss, peakRss, cpu, busiestOthers };
}

async function main(): Promise<number> {
  const options = parseCommandLine(parseBenchArgs, USAGE);
  if (typeof options === "number") return options;

  const pgVersion = await serverVersion(ADMIN_URL);
  const info = machine(pgVersion);
  log(`connections ${options.connections}, duration ${options.duration} s, Latchkey runs ${options.runs}, warm-up ${options.warmup} s per server`);

  // ── Latchkey against a fresh database ──
  const { url: databaseUrl, dataDir } = await benchDatabaseAndDataDir({ cleanups, log });


  const apiKey = `2fa_${randomBytes(32).toString("base64url")}`; // 43 base64url characters
  const latchkey = startTsxServer({
    name: "Latchkey",
    root: ROOT,
    script: "src/server.ts",
    port: await freePort(),
    env: {
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn",
      NODE_ENV: "production",
      RATE_LIMIT_GLOBAL_PER_MIN: "1000000",
      BOOTSTRAP_API_KEY: apiKey,
      BOOTSTRAP_APP_NAME: "Bench",
      ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      DATA_DIR: dataDir,
      // Nothing from the caller's environment that would change what is measured.
      REDIS_URL: "",
      TRUST_PROXY: "",
      BOOTSTRAP_WEBHOOK_URL: "",
      BOOTSTRAP_WEBHOOK_SECRET: "",
      ADMIN_EMAIL: "",
      ADMIN_PASSWORD: "",
    },
  });
  cleanups.push({ name: "stop Latchkey", fn: () => stopServer(latchkey) });

  const bare = startTsxServer({ name: "bare Fastify", root: ROOT, script: "bench/bare-server.ts", port: await freePort(), env: {} });
  cleanups.push({ name: "stop bare server", fn: () => stopServer(bare) });

  await Promise.all([waitUntilReady(latchkey, "/ready"), waitUntilReady(bare, ROUTE)]);
  for (const s of [latchkey, bare]) {
    log(`${s.name} ready on ${s.baseUrl} — serving pid ${s.serverPid} (${commandLine(s.serverPid!).slice(0, 120)}), tsx wrapper pid ${s.wrapperPid}`);
  }

  // ── same answer shape, and the key is really checked ──
  const authHeaders = { "x-api-key": apiKey };
  const [lk, lkNoKey, br] = await Promise.all([
    probe(`${latchkey.baseUrl}${ROUTE}`, authHeaders),
    probe(`${latchkey.baseUrl}${ROUTE}`),
    probe(`${bare.baseUrl}${ROUTE}`),
  ]);
  if (lk.status !== 200) throw new Error(`Latchkey answered ${lk.status} to the authenticated request: ${JSON.stringify(lk.body)}`);
  if (lkNoKey.status !== 401) throw new Error(`Latchkey answered ${lkNoKey.status} without a key; expected 401`);
  if (br.status !== 200) throw new Error(`bare server answered ${br.status}`);
  if (JSON.stringify(shapeOf(lk.body)) !== JSON.stringify(shapeOf(br.body))) {
    throw new Error(`the two servers answer different shapes:\n  Latchkey ${JSON.stringify(lk.body)}\n  bare     ${JSON.stringify(br.body)}`);
  }
  log(`both answer ${JSON.stringify(shapeOf(br.body))}; Latchkey without a key: 401`);

  // ── bare Fastify: the floor ──
  if (options.warmup > 0) await measure(bare, options, {}, "warm-up (not counted)", options.warmup);
  const bareRun = await measure(bare, options, {}, "run 1", options.duration);
  const bareMeasured: MeasuredRun = { server: "bare Fastify", label: "1", ...bareRun };
  await stopServer(bare);

  // ── Latchkey: consecutive runs ──
  if (options.warmup > 0) await measure(latchkey, options, authHeaders, "warm-up (not counted)", options.warmup);
  const linesBefore = latchkey.output.lines;
  const latchkeyMeasured: MeasuredRun[] = [];
  for (let i = 1; i <= options.runs; i++) {
    const run = await measure(latchkey, options, authHeaders, `run ${i}/${options.runs}`, options.duration);
    latchkeyMeasured.push({ server: "Latchkey", label: `${i}/${options.runs}`, ...run });
  }
  const logLines = latchkey.output.lines - linesBefore;

  await cleanup();

  // ── report ──
  const { verdicts, ratio, invalid, disturbed } = evaluate(bareMeasured, latchkeyMeasured, options.connections);
  const out: string[] = [
    "",
    "Latchkey foundation benchmark — GET /api/v1/app",
    ...info.map((l) => `  ${l}`),
    `  load        autocannon, ${options.connections} connections, ${options.duration} s per run, ${options.warmup} s warm-up per server (not counted), 127.0.0.1`,
    `  loadavg     ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} (1/5/15 min, at the end)`,
    `  Latchkey    PostgreSQL ${pgVersion}, LOG_LEVEL=${process.env.BENCH_LOG_LEVEL ?? "warn"}, X-API-Key (cached key check + 1 indexed read of the app row)`,
    "",
    resultsTable([bareMeasured, ...latchkeyMeasured]),
    "",
    "Where the CPU went (100 % = one core busy for the whole run; the load generator is this process):",
    cpuTable([bareMeasured, ...latchkeyMeasured]),
    "",
    `ratio  Latchkey req/s ÷ bare req/s = ${ratio.toFixed(3)}  (target ≥ ${TARGETS.minRatio})`,
    "",
    ...verdicts.map((v) => `${v.pass ? "PASS" : "FAIL"}  ${v.name}: ${v.detail}`),
  ];
  if (invalid.length > 0) {
    out.push("", "INVALID  responses other than 2xx or connection errors during measured runs — the figures above do not measure the intended request:");
    out.push(...invalid.map((l) => `  ${l}`));
  } else {
    out.push("", "valid    every measured response was 2xx, no connection errors");
  }
  if (disturbed.length > 0) {
    out.push("", `DISTURBED  unrelated processes used more than ${DISTURBED_OTHER_CORES * 100} % of a core during some runs; their figures understate both servers:`);
    out.push(...disturbed.map((l) => `  ${l}`));
  }
  if (logLines > 0) {
    out.push("", `note     Latchkey wrote ${logLines} log lines during the measured runs; the last ones:`, ...latchkey.output.tail.slice(-5).map((l) => `  | ${l}`));
  }
  console.log(out.join("\n"));
  return 0;
}

main()
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    console.error(`bench could not run: ${err instanceof Error ? err.message : String(err)}`);
    await cleanup();
    process.exit(1);
  });
