/**
 * Local webhook receivers for the tests: a plain node:http server that records every request
 * (raw bytes and headers) and answers as the test says, plus the signature checks of
 * SecureKey's documented receiver examples, written the way those examples write them.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import http, { type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  rawBody: Buffer;
  receivedAt: number;
}

/** Answers one request; the default answers 200 `ok`. May never answer (a hanging receiver). */
export type ReceiverHandler = (request: ReceivedRequest, response: ServerResponse) => unknown;

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  handle(handler: ReceiverHandler): void;
  /** Resolves once `count` requests (in total) arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

export async function startReceiver(options: { port?: number; handler?: ReceiverHandler } = {}): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  let handler: ReceiverHandler = options.handler ?? ((_req, res) => res.writeHead(200, { "content-type": "text/plain" }).end("ok"));
  const waiters = new Set<() => void>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const received: ReceivedRequest = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, rawBody: Buffer.concat(chunks), receivedAt: Date.now() };
      requests.push(received);
      for (const wake of waiters) wake();
      Promise.resolve(handler(received, res)).catch(() => res.destroy());
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    port,
    requests,
    handle(next) {
      handler = next;
    },
    waitFor(count, timeoutMs = 10_000) {
      if (requests.length >= count) return Promise.resolve(requests);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`expected ${count} webhook requests within ${timeoutMs} ms, got ${requests.length}`));
        }, timeoutMs);
        const check = () => {
          if (requests.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(requests);
        };
        waiters.add(check);
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const header = (request: ReceivedRequest, name: string) => {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] ?? "" : value ?? "";
};

/** A SecureKey receiver compares the whole header; during a rotation it may carry several. */
const signaturesIn = (request: ReceivedRequest) => header(request, "x-securekey-signature").split(" ");

/**
 * SecureKey's Node/Express example: `app.use(express.json())`, then
 * `'sha256=' + crypto.createHmac('sha256', secret).update(JSON.stringify(req.body)).digest('hex')`
 * compared with the `x-securekey-signature` header.
 */
export function expressStyleVerifies(request: ReceivedRequest, secret: string): boolean {
  const body = JSON.parse(request.rawBody.toString("utf8")) as unknown; // what express.json() hands over as req.body
  const expected = "sha256=" + createHmac("sha256", secret).update(JSON.stringify(body)).digest("hex");
  return signaturesIn(request).some((signature) => signature.length === expected.length && timingSafeEqual(Buffer.from(signature), Buffer.from(expected)));
}

/**
 * SecureKey's Python/Flask example: `hmac.new(secret.encode(), request.get_data(), hashlib.sha256).hexdigest()`
 * over the raw request bytes, `hmac.compare_digest` with the header after `sha256=`.
 */
export function flaskStyleVerifies(request: ReceivedRequest, secret: string): boolean {
  const digest = createHmac("sha256", Buffer.from(secret, "utf8")).update(request.rawBody).digest("hex");
  return signaturesIn(request).some((signature) => signature === `sha256=${digest}`);
}

/**
 * SecureKey's C# example: the body read as a UTF-8 string `payload`, then
 * `new HMACSHA256(Encoding.UTF8.GetBytes(secret)).ComputeHash(Encoding.UTF8.GetBytes(payload))`,
 * `BitConverter.ToString(hash).Replace("-", "").ToLower()`.
 */
export function csharpStyleVerifies(request: ReceivedRequest, secret: string): boolean {
  const payload = request.rawBody.toString("utf8");
  const hash = createHmac("sha256", Buffer.from(secret, "utf8")).update(Buffer.from(payload, "utf8")).digest();
  const hex = [...hash].map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join("-").replaceAll("-", "").toLowerCase();
  return signaturesIn(request).some((signature) => signature === `sha256=${hex}`);
}

export const headerOf = header;
