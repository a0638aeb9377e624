/**
 * The webhook receiver of `bench/webhooks.ts`, in its own process: answers every POST on
 * HOOK_PORT with 200 at once and counts it; a control server on CONTROL_PORT reports the
 * counts (`GET /stats`), forgets them (`POST /reset`) and takes the receiver down (`POST
 * /down`: the port closes, connections are refused) or back up (`POST /up`).
 */
import http from "node:http";

const hookPort = Number(process.env.HOOK_PORT);
const controlPort = Number(process.env.CONTROL_PORT);

let received = 0;
let firstReceiptAt = new Map<string, number>();
let latenciesMs: number[] = [];

const hooks = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const now = Date.now();
    received++;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { id: string; createdAt: string };
      if (!firstReceiptAt.has(body.id)) {
        firstReceiptAt.set(body.id, now);
        latenciesMs.push(now - Date.parse(body.createdAt));
      }
    } catch {
      // not an event: counted, not tracked
    }
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
});
hooks.keepAliveTimeout = 30_000;

function listen(): Promise<void> {
  return new Promise((resolve) => hooks.listen(hookPort, "127.0.0.1", resolve));
}

const control = http.createServer((req, res) => {
  const reply = (body: unknown) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  if (req.method === "GET" && req.url === "/stats") {
    return reply({ received, distinct: firstReceiptAt.size, lastReceiptAt: Math.max(0, ...[...firstReceiptAt.values()].slice(-1)), listening: hooks.listening });
  }
  if (req.method === "GET" && req.url === "/latencies") return reply({ latenciesMs, receipts: Object.fromEntries(firstReceiptAt) });
  if (req.method === "POST" && req.url === "/reset") {
    received = 0;
    firstReceiptAt = new Map();
    latenciesMs = [];
    return reply({ ok: true });
  }
  if (req.method === "POST" && req.url === "/down") {
    hooks.close();
    hooks.closeAllConnections();
    return reply({ ok: true });
  }
  if (req.method === "POST" && req.url === "/up") {
    if (hooks.listening) return reply({ ok: true });
    void listen().then(() => reply({ ok: true }));
    return;
  }
  res.writeHead(404).end();
});

await listen();
await new Promise<void>((resolve) => control.listen(controlPort, "127.0.0.1", resolve));
process.on("SIGTERM", () => process.exit(0));
