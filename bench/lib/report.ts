/** The results table and the PASS/FAIL lines against the foundation targets. */
import type { CpuUse } from "./cpu.ts";
import type { RunSummary } from "./load.ts";

export const TARGETS = {
  /** Latchkey req/s ÷ bare Fastify req/s, same machine, same run, same concurrency. */
  minRatio: 0.6,
  /** Latchkey p99 latency at the bare server's concurrency, milliseconds. */
  maxP99Ms: 20,
  /** Every post-run RSS within this fraction of the mean of the Latchkey runs. */
  maxRssDeviation: 0.1,
} as const;

export interface MeasuredRun {
  server: "bare Fastify" | "Latchkey";
  label: string;
  summary: RunSummary;
  /** RSS of the serving node process right after the run, bytes. */
  rss: number;
  /** Highest RSS seen (sampled every second) during the run, bytes. */
  peakRss: number;
  cpu: CpuUse;
  /** The unrelated processes that used the most CPU during the run ("name (pid) NN %"). */
  busiestOthers?: string[];
}

/** A run during which unrelated processes used more than this (in cores) is flagged as disturbed. */
export const DISTURBED_OTHER_CORES = 0.15;

export interface Verdict {
  name: string;
  pass: boolean;
  detail: string;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");
/** autocannon's latency percentiles are whole milliseconds; show decimals only when there are some. */
const ms = (n: number) => (Number.isInteger(n) ? String(n) : fixed(n, 2));
const cores = (n: number) => `${fixed(n * 100, 0)} %`;

/** An aligned text table; numeric-looking cells are right-aligned. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const isNumeric = (cell: string) => /^[-+]?[\d.,]+( MiB| %)?$/.test(cell);
  const line = (cells: string[]) =>
    cells.map((c, i) => (isNumeric(c) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(" │ ").trimEnd();
  const rule = widths.map((w) => "─".repeat(w)).join("─┼─");
  return [line(header), rule, ...rows.map(line)].join("\n");
}

export function resultsTable(runs: MeasuredRun[]): string {
  const header = ["server", "run", "req/s (mean)", "p50 ms", "p99 ms", "requests", "errors", "non-2xx", "RSS after run", "peak RSS"];
  const rows = runs.map(({ server, label, summary: s, rss, peakRss }) => [
    server,
    label,
    fixed(s.reqPerSec, 0),
    ms(s.p50),
    ms(s.p99),
    String(s.requests),
    String(s.errors),
    String(s.non2xx),
    mib(rss),
    mib(peakRss),
  ]);
  return formatTable(header, rows);
}

/** Where the CPU went in each run, in shares of one core (the machine has os.availableParallelism()). */
export function cpuTable(runs: MeasuredRun[]): string {
  const header = ["server", "run", "server CPU", "server CPU µs/req", "postgres CPU", "loadgen CPU", "other processes", "irq+softirq+steal"];
  const rows = runs.map(({ server, label, cpu }) => [
    server,
    label,
    cores(cpu.server),
    fixed(cpu.serverMicrosPerRequest, 0),
    cores(cpu.postgres),
    cores(cpu.generator),
    cores(cpu.other),
    cores(cpu.kernel),
  ]);
  return formatTable(header, rows);
}

export function evaluate(
  bare: MeasuredRun,
  latchkey: MeasuredRun[],
  connections: number,
): { verdicts: Verdict[]; ratio: number; invalid: string[]; disturbed: string[] } {
  const meanReq = latchkey.reduce((sum, r) => sum + r.summary.reqPerSec, 0) / latchkey.length;
  const ratio = meanReq / bare.summary.reqPerSec;
  const worstP99 = Math.max(...latchkey.map((r) => r.summary.p99));
  const rss = latchkey.map((r) => r.rss);
  const rssMean = rss.reduce((a, b) => a + b, 0) / rss.length;
  const rssDeviation = Math.max(...rss.map((v) => Math.abs(v - rssMean) / rssMean));
  const peaks = latchkey.map((r) => r.peakRss);
  const peakMean = peaks.reduce((a, b) => a + b, 0) / peaks.length;
  const peakDeviation = Math.max(...peaks.map((v) => Math.abs(v - peakMean) / peakMean));

  const verdicts: Verdict[] = [
    {
      name: `throughput ratio ≥ ${TARGETS.minRatio}`,
      pass: ratio >= TARGETS.minRatio,
      detail: `Latchkey ${fixed(meanReq, 0)} req/s (mean of ${latchkey.length} runs) ÷ bare ${fixed(bare.summary.reqPerSec, 0)} req/s = ${fixed(ratio, 3)}`,
    },
    {
      name: `Latchkey p99 < ${TARGETS.maxP99Ms} ms at the bare server's concurrency (${connections} connections)`,
      pass: worstP99 < TARGETS.maxP99Ms,
      detail: `worst p99 over the runs ${ms(worstP99)} ms (per run: ${latchkey.map((r) => ms(r.summary.p99)).join(", ")}; bare ${ms(bare.summary.p99)} ms)`,
    },
    {
      name: `RSS flat within ±${TARGETS.maxRssDeviation * 100} % over ${latchkey.length} runs`,
      pass: latchkey.length >= 2 ? rssDeviation <= TARGETS.maxRssDeviation : false,
      detail:
        latchkey.length >= 2
          ? `${rss.map(mib).join(" → ")}; mean ${mib(rssMean)}, largest deviation ${fixed(rssDeviation * 100, 1)} %` +
            ` (peaks during the runs: ${peaks.map(mib).join(" → ")}, largest deviation ${fixed(peakDeviation * 100, 1)} %)`
          : "needs at least 2 runs (--runs)",
    },
  ];

  const invalid: string[] = [];
  for (const run of [bare, ...latchkey]) {
    const s = run.summary;
    if (s.non2xx > 0 || s.errors > 0) {
      const codes = Object.entries(s.statusCodes).map(([code, n]) => `${code}×${n}`).join(", ");
      invalid.push(`${run.server} ${run.label}: ${s.non2xx} non-2xx, ${s.errors} errors (${s.timeouts} timeouts); status codes ${codes}`);
    }
  }
  const disturbed = [bare, ...latchkey]
    .filter((run) => run.cpu.other > DISTURBED_OTHER_CORES)
    .map((run) => `${run.server} ${run.label}: other processes used ${cores(run.cpu.other)} of a core${run.busiestOthers?.length ? ` — ${run.busiestOthers.join("; ")}` : ""}`);
  return { verdicts, ratio, invalid, disturbed };
}

/** The nearest-rank `p`th percentile of ascending `sorted` values (NaN when there are none). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
