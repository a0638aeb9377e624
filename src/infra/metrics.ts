/**
 * Prometheus metrics (prom-client): request counts and latency by route and status, plus
 * per-channel outcome counters the channels increment. One registry per app instance.
 */
import type { FastifyInstance } from "fastify";
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<"method" | "route" | "status">;
  httpDuration: Histogram<"method" | "route" | "status">;
  /** Channel outcomes: channel=sms|email|totp|webauthn|push, outcome=sent|succeeded|failed|… */
  channelOutcomes: Counter<"channel" | "outcome">;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: "latchkey_" });
  return {
    registry,
    httpRequests: new Counter({
      name: "latchkey_http_requests_total",
      help: "HTTP requests by route and status",
      labelNames: ["method", "route", "status"],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: "latchkey_http_request_duration_seconds",
      help: "HTTP request latency by route and status",
      labelNames: ["method", "route", "status"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    channelOutcomes: new Counter({
      name: "latchkey_channel_outcomes_total",
      help: "Verification outcomes by channel",
      labelNames: ["channel", "outcome"],
      registers: [registry],
    }),
  };
}

/** Times every request; unmatched routes are labelled "unmatched" so URLs cannot explode cardinality. */
export function instrumentRequests(app: FastifyInstance, metrics: Metrics): void {
  // The labelled series are looked up once per (method, route, status), not hashed per request.
  const series = new Map<string, { count: Counter.Internal; duration: Histogram.Internal<"method" | "route" | "status"> }>();
  app.addHook("onResponse", (request, reply, done) => {
    const route = request.routeOptions.url ?? "unmatched";
    const id = `${request.method} ${reply.statusCode} ${route}`;
    let entry = series.get(id);
    if (!entry) {
      const labels = { method: request.method, route, status: String(reply.statusCode) };
      entry = { count: metrics.httpRequests.labels(labels), duration: metrics.httpDuration.labels(labels) };
      series.set(id, entry);
    }
    entry.count.inc();
    entry.duration.observe(reply.elapsedTime / 1000);
    done();
  });
}
