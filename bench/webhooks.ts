/**
 * Webhook delivery benchmark (`npx tsx bench/webhooks.ts [options]`, see bench/README.md).
 *
 * On a fresh PostgreSQL database, with Latchkey and a receiver (answers 200 at once) as child
 * processes on 127.0.0.1:
 * 1. the floor: the same number of signed POSTs sent to the receiver by a plain undici loop
 *    with the same concurrency, no database;
 * 2. throughput: N events queued at once (one INSERT into the outbox, then the signal an
 *    API-only instance sends); Latchkey fans them out, signs and delivers them; deliveries/s
 *    and time to drain, from the commit to the last first receipt; the target is ≥ 0.5 of the
 *    floor;
 *    1 and 2 alternate for --rounds rounds (each side sees the machine as the other did), and the
 *    ratio is taken between the medians;
 * 3. backlog: the receiver is down for D seconds while events arrive at R per second, then
 *    comes back; time until every event of the outage has arrived (default retry schedule).
 * Prints a table and PASS/FAIL; exits 0 even on FAIL, non-zero only when something could not run.
 */
import { createHmac, randomBytes } from "node:crypto";

import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isMainThread } from "node:worker_threads";
import pg from "pg";
import { Agent, request } from "undici";
import { cpuSnapshot, cpuUse, type CpuUse } from "./lib/cpu.ts";
import { ADMIN_URL, benchDatabaseAndDataDir, serverVersion } from "./lib/database.ts";
import { freePort, startTsxServer, stopServer, waitUntilReady, type ChildServer } from "./lib/proc.ts";
import { formatTable, median, percentile } from "./lib/report.ts";
import { cleanupOnExit, intOption, parseCommandLine } from "./lib/cli.ts";
import { serveLoadInWorker, startLoadWorker } from "./lib/worker.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TARGET_RATIO = 0.5;

const USAGE = `Usage: npx tsx bench/webhooks.ts [options]

  --events <n>          events in the throughput run (default 10000)
  --concurrency <n>     attempts in flight, Latchkey and floor alike (default 16;
                        sets WEBHOOK_CONCURRENCY and WEBHOOK_ENDPOINT_CONCURRENCY)
  --poll <ms>           WEBHOOK_POLL_INTERVAL_MS of the server (default 1000, as in production).
                        This process records the events as an API-only instance would, signal
                        included, so the server fans them out without waiting for a poll
  --backlog-down <s>    seconds the receiver is down in the backlog run (default 60; 0 skips it)
  --backlog-rate <n>    events per second during the backlog run (default 100)
  --warmup <n>          events Latchkey delivers before the first round, and POSTs each floor round
                        sends before it measures; not counted (default 1000)
  --rounds <n>          alternating floor / Latchkey rounds; the ratio is of their medians (default 5)
  -h, --help            this text`;

interface Options {
  events: number;
  concurrency: number;
  pollMs: number;
  backlogDownSeconds: number;
  backlogRate: number;
  warmup: number;
  rounds: number;
}

function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      events: { type: "string" },
      concurrency: { type: "string" },
      poll: { type: "string" },
      "backlog-down": { type: "string" },
      "backlog-rate": { type: "string" },
      warmup: { type: "string" },
      rounds: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return null;
  return {
    events: intOption("events", values.events, 10_000, 1),
    concurrency: intOption("concurrency", values.concurrency, 16, 1),
    pollMs: intOption("poll", values.poll, 1000, 10),
    backlogDownSeconds: intOption("backlog-down", values["backlog-down"], 60, 0),
    backlogRate: intOption("backlog-rate", values["backlog-rate"], 100, 1),
    warmup: intOption("warmup", values.warmup, 1000, 0),
    rounds: intOption("rounds", values.rounds, 5, 1),
  };
}

// ── cleanup, also on failure and Ctrl-C ────────────────────────────────────────────────────
const { cleanups, cleanup } = cleanupOnExit("stopping the servers and dropping the bench database…");

const log = (message: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ── the receiver process ───────────────────────────────────────────────────────────────────
interface ReceiverStats {
  received: number;
  distinct: number;
  listening: boolean;
}

class ReceiverControl {
  constructor(readonly hookUrl: string, private readonly controlUrl: string) {}
  async stats(): Promise<ReceiverStats> {
    return (await (await fetch(`${this.controlUrl}/stats`)).json()) as ReceiverStats;
  }
  async latencies(): Promise<{ latenciesMs: number[]; receipts: Record<string, number> }> {
    return (await (await fetch(`${this.controlUrl}/latencies`)).json()) as { latenciesMs: number[]; receipts: Record<string, number> };
  }
  async post(command: "reset" | "down" | "up"): Promise<void> {
    await (await fetch(`${this.controlUrl}/${command}`, { method: "POST" })).arrayBuffer();
  }
  /** Resolves when `distinct` reaches `count`; the time it did (ms since the epoch). */
  async waitForDistinct(count: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const stats = await this.stats();
      if (stats.distinct >= count) return Date.now();
      if (Date.now() > deadline) throw new Error(`receiver got ${stats.distinct} of ${count} events within ${timeoutMs / 1000} s`);
      await sleep(20);
    }
  }
}

// ── events ────────────────────────────────────────────────────────────────────────────────
interface Queued {
  ids: string[];
  payloads: string[];
}

function makeEvents(count: number, appId: string): Queued & { createdAt: Date } {
  const createdAt = new Date();
  const ids: string[] = [];
  const payloads: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `evt_${randomBytes(18).toString("base64url")}`;
    ids.push(id);
    payloads.push(JSON.stringify({
      id,
      event: "verification.succeeded",
      channel: "sms",
      createdAt: createdAt.toISOString(),
      data: { externalUserId: `user_${i}`, purpose: "login", requestId: `otp_${randomBytes(12).toString("hex")}`, destination: "+82******5678" },
    }));
  }
  void appId;
  return { ids, payloads, createdAt };
}

/**
 * Events recorded the way an API-only instance (WEBHOOK_WORKER=false) records them: the outbox
 * rows recordEvent would write (one INSERT, one commit), then the cross-instance signal it
 * sends (Latchkey's own signals module, over PostgreSQL NOTIFY) so the delivering instance
 * fans them out at once instead of at its next poll.
 */
class Outbox {
  constructor(private readonly pool: pg.Pool, private readonly signalRecorded: () => Promise<void>, private readonly appId: string) {}

  async record(events: Queued & { createdAt: Date }): Promise<void> {
    await this.pool.query(
      `INSERT INTO events (id, app_id, type, channel, payload, created_at)
       SELECT id, $2, 'verification.succeeded', 'sms', payload, $3 FROM unnest($1::text[], $4::text[]) AS e(id, payload)`,
      [events.ids, this.appId, events.createdAt.toISOString(), events.payloads],
    );
    await this.signalRecorded();
  }
}

// ── the floor: a plain undici loop, in a worker thread ─────────────────────────────────────
interface FloorJob {
  url: string;
  payloads: string[];
  concurrency: number;
  secret: string;
  /** Requests sent first, not measured (the worker's code warms up like Latchkey's did). */
  warmup: number;
}

/** In its own thread, so the bench's heap (receipt maps, event arrays) never slows it down. */
async function floor(job: FloorJob): Promise<{ ms: number; latencies: number[]; failures: number }> {
  const agent = new Agent({ keepAliveTimeout: 4000 });
  const send = async (body: string) => {
    const timestamp = Math.floor(Date.now() / 1000);
    const id = `whd_${randomBytes(16).toString("hex")}`;
    const headers = {
      "content-type": "application/json",
      "x-securekey-event": "verification.succeeded",
      "x-securekey-delivery": id,
      "x-securekey-timestamp": String(timestamp),
      "x-securekey-signature": `sha256=${createHmac("sha256", job.secret).update(body).digest("hex")}`,
      "webhook-id": id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": `v1,${createHmac("sha256", Buffer.from(job.secret.slice(6), "base64")).update(`${id}.${timestamp}.${body}`).digest("base64")}`,
    };
    const res = await request(job.url, { method: "POST", headers, body, dispatcher: agent });
    await res.body.arrayBuffer();
    return res.statusCode >= 200 && res.statusCode < 300;
  };
  const loop = async (payloads: string[], onDone: (ms: number, ok: boolean) => void) => {
    let next = 0;
    await Promise.all(Array.from({ length: job.concurrency }, async () => {
      while (next < payloads.length) {
        const body = payloads[next++]!;
        const t0 = performance.now();
        const ok = await send(body).catch(() => false);
        onDone(performance.now() - t0, ok);
      }
    }));
  };
  await loop(job.payloads.slice(0, job.warmup), () => undefined);
  const latencies: number[] = [];
  let failures = 0;
  const started = performance.now();
  await loop(job.payloads.slice(job.warmup), (ms, ok) => {
    latencies.push(ms);
    if (!ok) failures++;
  });
  const ms = performance.now() - started;
  await agent.close();
  return { ms, latencies: latencies.sort((a, b) => a - b), failures };
}

serveLoadInWorker(floor);

async function main(): Promise<number> {
  const options = parseCommandLine(parseOptions, USAGE);
  if (typeof options === "number") return options;
  const pgVersion = await serverVersion(ADMIN_URL);
  log(`events ${options.events}, concurrency ${options.concurrency}, poll ${options.pollMs} ms, backlog ${options.backlogDownSeconds} s down at ${options.backlogRate} events/s; PostgreSQL ${pgVersion}, node ${process.version}, ${os.availableParallelism()} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);

  const { url: databaseUrl, dataDir } = await benchDatabaseAndDataDir({ label: "webhooks", cleanups, log });

  const hookPort = await freePort();
  const controlPort = await freePort();
  const receiverProcess = startTsxServer({ name: "receiver", root: ROOT, script: "bench/webhooks-receiver.ts", port: controlPort, env: { HOOK_PORT: String(hookPort), CONTROL_PORT: String(controlPort) } });
  cleanups.push({ name: "stop the receiver", fn: () => stopServer(receiverProcess) });

  const apiKey = `2fa_${randomBytes(32).toString("base64url")}`;
  const latchkey: ChildServer = startTsxServer({
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
      WEBHOOK_ALLOW_PRIVATE: "true",
      WEBHOOK_CONCURRENCY: String(options.concurrency),
      WEBHOOK_ENDPOINT_CONCURRENCY: String(options.concurrency),
      WEBHOOK_POLL_INTERVAL_MS: String(options.pollMs),
      WEBHOOK_RETRY_SCHEDULE_MS: "",
      WEBHOOK_TIMEOUT_MS: "",
      REDIS_URL: "",
      BOOTSTRAP_WEBHOOK_URL: "",
      BOOTSTRAP_WEBHOOK_SECRET: "",
      ADMIN_EMAIL: "",
      ADMIN_PASSWORD: "",
    },
  });
  cleanups.push({ name: "stop Latchkey", fn: () => stopServer(latchkey) });
  await Promise.all([waitUntilReady(latchkey, "/ready"), waitUntilReady(receiverProcess, "/stats")]);
  const receiver = new ReceiverControl(`http://127.0.0.1:${hookPort}/hooks`, `http://127.0.0.1:${controlPort}`);
  log(`Latchkey on ${latchkey.baseUrl} (pid ${latchkey.serverPid}), receiver on ${receiver.hookUrl}`);

  const headers = { "x-api-key": apiKey, "content-type": "application/json" };
  const appId = ((await (await fetch(`${latchkey.baseUrl}/api/v1/app`, { headers })).json()) as { data: { appId: string } }).data.appId;
  const created = await fetch(`${latchkey.baseUrl}/api/v1/webhooks`, { method: "POST", headers, body: JSON.stringify({ url: receiver.hookUrl }) });
  if (created.status !== 201) throw new Error(`could not create the endpoint: ${created.status} ${await created.text()}`);
  const secret = ((await created.json()) as { data: { secret: string } }).data.secret;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  cleanups.push({ name: "close the bench's pool", fn: () => pool.end() });
  // Imported here, not at the top: the floor's worker thread loads this module too, and needs none of it.
  const { openDatabase } = await import("../src/infra/db.ts");
  const { createSignals } = await import("../src/infra/signals.ts");
  const { EVENTS_RECORDED_SIGNAL } = await import("../src/features/webhooks/webhooks.delivery.ts");
  const signalDb = await openDatabase({ url: databaseUrl, poolSize: 1 });
  const signals = createSignals({ db: signalDb });
  cleanups.push({ name: "close the bench's signals", fn: async () => {
    await signals.close();
    await signalDb.close();
  } });
  const outbox = new Outbox(pool, () => signals.publish(EVENTS_RECORDED_SIGNAL), appId);

  // ── 1 and 2, alternating: the floor, then Latchkey, --rounds times ──
  if (options.warmup > 0) {
    await receiver.post("reset");
    await outbox.record(makeEvents(options.warmup, appId));
    await receiver.waitForDistinct(options.warmup, 120_000);
    log(`warm-up: ${options.warmup} events delivered by Latchkey (not counted); each floor round sends ${options.warmup} unmeasured POSTs first`);
  }
  const floorRounds: FloorRound[] = [];
  const latchkeyRounds: LatchkeyRound[] = [];
  // One thread for every floor round: the floor's code stays warm from round to round, as Latchkey's does.
  const floorWorker = startLoadWorker<FloorJob, Awaited<ReturnType<typeof floor>>>(import.meta.url);
  cleanups.push({ name: "stop the floor's thread", fn: () => floorWorker.close() });
  for (let round = 1; round <= options.rounds; round++) {
    const floorEvents = makeEvents(options.warmup + options.events, appId);
    const floorJob: FloorJob = { url: receiver.hookUrl, payloads: floorEvents.payloads, concurrency: options.concurrency, secret, warmup: options.warmup };
    const floorCpuBefore = cpuSnapshot(receiverProcess.serverPid!);
    const floorRun = await floorWorker.run(floorJob);
    const floorRound = { ...floorRun, rate: options.events / (floorRun.ms / 1000), cpu: cpuUse(floorCpuBefore, cpuSnapshot(receiverProcess.serverPid!), options.events) };
    floorRounds.push(floorRound);
    log(`round ${round} floor (undici loop): ${options.events} signed POSTs in ${floorRun.ms.toFixed(0)} ms = ${floorRound.rate.toFixed(0)}/s, p50 ${percentile(floorRun.latencies, 50).toFixed(1)} ms, p99 ${percentile(floorRun.latencies, 99).toFixed(1)} ms, failures ${floorRun.failures}`);

    await receiver.post("reset");
    const run = makeEvents(options.events, appId);
    const latchkeyCpuBefore = cpuSnapshot(latchkey.serverPid!);
    const insertStarted = Date.now();
    await outbox.record(run);
    const committedAt = Date.now();
    await receiver.waitForDistinct(options.events, 600_000);
    const cpu = cpuUse(latchkeyCpuBefore, cpuSnapshot(latchkey.serverPid!), options.events);
    const { latenciesMs, receipts } = await receiver.latencies();
    const receiptTimes = Object.values(receipts);
    // The receiver's own clock of the last first receipt, not the end of the 20 ms poll that noticed it.
    const drainMs = Math.max(...receiptTimes) - committedAt;
    const firstReceiptMs = Math.min(...receiptTimes) - committedAt;
    const e2e = latenciesMs.map((ms) => ms - (committedAt - run.createdAt.getTime())).sort((a, b) => a - b);
    const stats = await receiver.stats();
    const latchkeyRound = { drainMs, rate: options.events / (drainMs / 1000), e2e, cpu };
    latchkeyRounds.push(latchkeyRound);
    log(`round ${round} Latchkey: ${options.events} events (insert ${committedAt - insertStarted} ms) delivered in ${drainMs} ms = ${latchkeyRound.rate.toFixed(0)}/s (first one ${firstReceiptMs} ms after the commit; ${(options.events / ((drainMs - firstReceiptMs) / 1000)).toFixed(0)}/s from the first to the last); commit→receipt p50 ${percentile(e2e, 50).toFixed(0)} ms, p99 ${percentile(e2e, 99).toFixed(0)} ms; ${stats.received} requests for ${stats.distinct} events`);
  }
  const metrics = await (await fetch(`${latchkey.baseUrl}/metrics`)).text();
  const attemptP = histogramPercentiles(metrics, "latchkey_webhook_attempt_duration_seconds", 'result="2xx"');

  // ── 3. backlog ──
  let backlog: { generated: number; downMs: number; drainMs: number; received: number } | undefined;
  if (options.backlogDownSeconds > 0) {
    await receiver.post("reset");
    await receiver.post("down");
    log(`backlog: receiver down for ${options.backlogDownSeconds} s while ${options.backlogRate} events/s arrive`);
    const outage: string[] = [];
    const tickMs = 100;
    const perTick = (options.backlogRate * tickMs) / 1000;
    const downStarted = Date.now();
    // Paced by the clock: after t seconds, rate × t events have been queued.
    while (Date.now() - downStarted < options.backlogDownSeconds * 1000) {
      const due = Math.floor(((Date.now() - downStarted) / 1000) * options.backlogRate) - outage.length;
      if (due > 0) {
        const batch = makeEvents(due, appId);
        await outbox.record(batch);
        outage.push(...batch.ids);
      }
      await sleep(tickMs);
    }
    await receiver.post("up");
    const upAt = Date.now();
    // Traffic goes on at the same rate while the backlog drains.
    let stop = false;
    const ongoing = (async () => {
      while (!stop) {
        await outbox.record(makeEvents(Math.max(1, Math.round(perTick)), appId));
        await sleep(tickMs);
      }
    })();
    const deadline = upAt + 30 * 60_000;
    let lastSeen = 0;
    for (;;) {
      const { receipts } = await receiver.latencies();
      const missing = outage.filter((id) => receipts[id] === undefined).length;
      if (missing === 0) {
        lastSeen = Math.max(...outage.map((id) => receipts[id]!));
        break;
      }
      if (Date.now() > deadline) throw new Error(`${missing} backlog events still missing after 30 min`);
      await sleep(250);
    }
    stop = true;
    await ongoing;
    const after = await receiver.stats();
    backlog = { generated: outage.length, downMs: upAt - downStarted, drainMs: lastSeen - upAt, received: after.received };
    log(`backlog: ${outage.length} events queued during ${((upAt - downStarted) / 1000).toFixed(0)} s down; all arrived ${backlog.drainMs} ms after the receiver came back`);
  }

  await cleanup();

  const floorRate = median(floorRounds.map((r) => r.rate));
  const rate = median(latchkeyRounds.map((r) => r.rate));
  const ratio = rate / floorRate;
  console.log("");
  console.log(formatTable(
    ["run", "deliveries", "time ms", "per second", "p50 ms", "p99 ms", "note"],
    [
      ...floorRounds.flatMap((f, i) => {
        const l = latchkeyRounds[i]!;
        return [
          [`${i + 1} floor: undici loop`, String(options.events), f.ms.toFixed(0), f.rate.toFixed(0), percentile(f.latencies, 50).toFixed(1), percentile(f.latencies, 99).toFixed(1), `per request, ${options.concurrency} in flight`],
          [`${i + 1} Latchkey: drain`, String(options.events), String(l.drainMs), l.rate.toFixed(0), percentile(l.e2e, 50).toFixed(0), percentile(l.e2e, 99).toFixed(0), "commit → first receipt"],
        ];
      }),
      ["Latchkey: attempts", String(options.events * options.rounds), "", "", attemptP.p50, attemptP.p99, "attempt latency (histogram bucket bound)"],
      ...(backlog ? [["backlog drain", String(backlog.generated), String(backlog.drainMs), "", "", "", `${(backlog.downMs / 1000).toFixed(0)} s down at ${options.backlogRate}/s; receiver up → last outage event`]] : []),
    ],
  ));
  console.log("");
  const cpuLine = (name: string, cpu: CpuUse, perWhat: string) =>
    `${name}: ${cpuShare(cpu.server)} (${cpu.serverMicrosPerRequest.toFixed(0)} µs ${perWhat}), postgres ${cpuShare(cpu.postgres)}, this process ${cpuShare(cpu.generator)}, everything else ${cpuShare(cpu.other)}`;
  floorRounds.forEach((f, i) => {
    console.log(`CPU during floor ${i + 1} — ${cpuLine("receiver", f.cpu, "per request")}; the undici loop is "this process" (${((f.cpu.generator * f.ms * 1000) / options.events).toFixed(0)} µs per request)`);
    console.log(`CPU during drain ${i + 1} — ${cpuLine("Latchkey", latchkeyRounds[i]!.cpu, "per delivery")}`);
  });
  console.log(`ratio Latchkey / floor = ${ratio.toFixed(2)}: median ${rate.toFixed(0)} deliveries/s ÷ median ${floorRate.toFixed(0)} POSTs/s over ${options.rounds} alternating rounds (per round: ${floorRounds.map((f, i) => (latchkeyRounds[i]!.rate / f.rate).toFixed(2)).join(", ")}) (target ≥ ${TARGET_RATIO}): ${ratio >= TARGET_RATIO ? "PASS" : "FAIL"}`);
  console.log(`machine: ${os.availableParallelism()} CPUs shared by Latchkey, PostgreSQL, the receiver and this process; load average at the end ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  return 0;
}

const cpuShare = (cores: number) => `${(cores * 100).toFixed(0)} % of a core`;

interface FloorRound {
  ms: number;
  latencies: number[];
  failures: number;
  rate: number;
  cpu: CpuUse;
}

interface LatchkeyRound {
  drainMs: number;
  rate: number;
  /** Commit → first receipt of each event, sorted (ms). */
  e2e: number[];
  cpu: CpuUse;
}

/** p50/p99 upper bucket bounds of a Prometheus histogram with the given label. */
function histogramPercentiles(text: string, name: string, label: string): { p50: string; p99: string } {
  const buckets: Array<{ le: number; count: number }> = [];
  const pattern = new RegExp(`^${name}_bucket\\{le="([^"]+)",${label}\\} (\\d+)$`, "gm");
  for (const match of text.matchAll(pattern)) buckets.push({ le: match[1] === "+Inf" ? Infinity : Number(match[1]), count: Number(match[2]) });
  const total = buckets.at(-1)?.count ?? 0;
  const at = (p: number) => {
    const hit = buckets.find((b) => b.count >= total * p);
    return hit ? (hit.le === Infinity ? "> max" : `≤ ${(hit.le * 1000).toFixed(0)}`) : "n/a";
  };
  return { p50: at(0.5), p99: at(0.99) };
}

if (isMainThread) main().then(
  (code) => process.exit(code),
  async (err) => {
    console.error(err);
    await cleanup();
    process.exit(1);
  },
);
