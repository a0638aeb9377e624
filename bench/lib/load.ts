/** One autocannon run against 127.0.0.1, reduced to the figures the report needs. */
import autocannon from "autocannon";

export interface LoadOptions {
  url: string;
  connections: number;
  /** Seconds. */
  duration: number;
  headers?: Record<string, string>;
}

export interface RunSummary {
  /** Mean of the per-second request counts (autocannon's requests.average). */
  reqPerSec: number;
  /** Completed requests. */
  requests: number;
  /** Latency of 2xx responses, milliseconds. */
  p50: number;
  p99: number;
  meanLatency: number;
  /** Connection errors and timeouts. */
  errors: number;
  timeouts: number;
  non2xx: number;
  /** Status code → count, for the diagnostics when something was not 2xx. */
  statusCodes: Record<string, number>;
}

export function assertLoopback(url: string): void {
  const { hostname } = new URL(url);
  if (hostname !== "127.0.0.1") throw new Error(`the benchmark only targets 127.0.0.1, not ${hostname}`);
}

export async function runLoad(options: LoadOptions): Promise<RunSummary> {
  assertLoopback(options.url);
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.duration,
    headers: options.headers ?? {},
    timeout: 10,
  });
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = Number(count);
  return {
    reqPerSec: result.requests.average,
    requests: result.requests.total,
    p50: result.latency.p50,
    p99: result.latency.p99,
    meanLatency: result.latency.average,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statusCodes,
  };
}
