/** Command-line options of `npm run bench -- [options]`. */
import { parseArgs } from "node:util";
import { intOption } from "./cli.ts";

export interface BenchOptions {
  /** Seconds per measured run. */
  duration: number;
  connections: number;
  /** Consecutive measured Latchkey runs. */
  runs: number;
  /** Seconds of unmeasured load before the first measured run of each server. */
  warmup: number;
}

export const USAGE = `Usage: npm run bench -- [options]

  --duration <s>     seconds per measured run (default 30)
  --connections <n>  concurrent connections, same for both servers (default 50)
  --runs <n>         consecutive measured Latchkey runs (default 3)
  --warmup <s>       unmeasured warm-up seconds before each server's runs (default 10)
  --quick            smoke check: 5 s runs, 2 s warm-up (explicit options still win)
  -h, --help         this text`;

/** Parsed options, or null when --help was asked for. Throws on a bad option. */
export function parseBenchArgs(argv: string[]): BenchOptions | null {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      duration: { type: "string" },
      connections: { type: "string" },
      runs: { type: "string" },
      warmup: { type: "string" },
      quick: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return null;
  const quick = values.quick === true;
  return {
    duration: intOption("duration", values.duration, quick ? 5 : 30, 1),
    connections: intOption("connections", values.connections, 50, 1),
    runs: intOption("runs", values.runs, 3, 1),
    // Latchkey needs ~10–20 s of load before V8 has optimised its hot paths (first 5 s: about half
    // the steady throughput), so the default warm-up is 10 s rather than a token few.
    warmup: intOption("warmup", values.warmup, quick ? 2 : 10, 0),
  };
}
