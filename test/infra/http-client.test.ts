/**
 * The guarded HTTP client webhook deliveries go through, against local servers: what it keeps
 * of an answer, redirects not followed, one deadline for the whole exchange, interruption,
 * oversized answers cut off, and the SSRF guard on literals and on resolved names.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGuardedHttpClient, type GuardedHttpClient, type PostOptions } from "../../src/infra/http-client.ts";

let server: http.Server;
let base: string;
let client: GuardedHttpClient;
const received: Array<{ path: string; headers: http.IncomingHttpHeaders; body: string }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ path: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      if (req.url === "/ok") return res.writeHead(200, { "content-type": "text/plain" }).end(`${"가".repeat(400)}tail`);
      if (req.url === "/empty") return res.writeHead(204).end();
      if (req.url === "/redirect") return res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data" }).end();
      if (req.url === "/error") return res.writeHead(503).end("down for maintenance");
      if (req.url === "/huge") {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        // Endless: only the client's limit ends it.
        const chunk = Buffer.alloc(16 * 1024, 120);
        const pump = () => { while (res.write(chunk)); };
        res.on("drain", pump);
        pump();
        return;
      }
      if (req.url === "/slow-body") {
        res.writeHead(200);
        res.write("first part");
        return; // never ends
      }
      // /hang: never answers
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = createGuardedHttpClient({ allowPrivate: true, resolve: async () => ["127.0.0.1"] });
});
afterAll(async () => {
  await client?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

const options = (overrides: Partial<PostOptions> = {}): PostOptions => ({
  headers: { "content-type": "application/json", "x-test": "1" },
  body: JSON.stringify({ greeting: "안녕하세요" }),
  timeoutMs: 2000,
  keepBodyBytes: 1024,
  ...overrides,
});

describe("answers", () => {
  it("sends the body and headers as given and keeps the status and the first 1 KiB of the answer", async () => {
    const outcome = await client.post(`${base}/ok`, options());
    expect(outcome).toMatchObject({ statusCode: 200, failure: null, error: null });
    // 400 three-byte characters then "tail": the kept prefix ends inside character 342.
    expect(Buffer.byteLength(outcome.bodyPrefix!.replace(/\uFFFD$/, ""), "utf8")).toBeLessThanOrEqual(1024);
    expect(outcome.bodyPrefix!.startsWith("가".repeat(341))).toBe(true);
    const last = received.at(-1)!;
    expect(last.body).toBe(JSON.stringify({ greeting: "안녕하세요" }));
    expect(last.headers["x-test"]).toBe("1");
    expect(last.headers["content-length"]).toBe(String(Buffer.byteLength(last.body)));
  });

  it("an answer without a body keeps none", async () => {
    expect(await client.post(`${base}/empty`, options())).toMatchObject({ statusCode: 204, bodyPrefix: null, failure: null });
  });

  it("a 3xx is an answer: never followed, its Location reported", async () => {
    const before = received.length;
    const outcome = await client.post(`${base}/redirect`, options());
    expect(outcome).toMatchObject({ statusCode: 302, failure: null, location: "http://169.254.169.254/latest/meta-data" });
    expect(received.length).toBe(before + 1);
  });

  it("an error status is an answer with its body kept", async () => {
    expect(await client.post(`${base}/error`, options())).toMatchObject({ statusCode: 503, bodyPrefix: "down for maintenance", failure: null });
  });

  it("an endless answer is cut off after 64 KiB with its status and prefix", async () => {
    const outcome = await client.post(`${base}/huge`, options());
    expect(outcome.statusCode).toBe(200);
    expect(outcome.bodyPrefix).toBe("x".repeat(1024));
    expect(outcome.failure).toBeNull();
  });
});

describe("one deadline", () => {
  it("a receiver that never answers times out at the deadline", async () => {
    const started = performance.now();
    const outcome = await client.post(`${base}/hang`, options({ timeoutMs: 300 }));
    const took = performance.now() - started;
    expect(outcome).toMatchObject({ statusCode: null, failure: "timeout", error: "timed out: no complete answer within 300 ms" });
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(2000);
  });

  it("a body that never ends times out too, keeping the status it saw", async () => {
    const outcome = await client.post(`${base}/slow-body`, options({ timeoutMs: 300 }));
    expect(outcome).toMatchObject({ statusCode: 200, failure: "timeout" });
  });

  it("the caller's signal ends a call in flight, and one already aborted never sends", async () => {
    const controller = new AbortController();
    const pending = client.post(`${base}/hang`, options({ timeoutMs: 5000, signal: controller.signal }));
    setTimeout(() => controller.abort(), 100);
    expect(await pending).toMatchObject({ statusCode: null, failure: "network", error: "interrupted" });

    const before = received.length;
    const aborted = new AbortController();
    aborted.abort();
    expect(await client.post(`${base}/ok`, options({ signal: aborted.signal }))).toMatchObject({ failure: "network", error: "interrupted" });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received.length).toBe(before);
  });

  it("a refused connection is a network failure", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const outcome = await client.post(`http://127.0.0.1:${port}/`, options());
    expect(outcome.failure).toBe("network");
    expect(outcome.error).toMatch(/ECONNREFUSED/);
  });
});

describe("the SSRF guard", () => {
  const guarded = createGuardedHttpClient({ allowPrivate: false, resolve: async (host) => (host === "internal.example" ? ["10.0.0.7"] : ["127.0.0.1"]) });
  afterAll(async () => guarded.close());

  it("refuses a private IP literal before connecting", async () => {
    const before = received.length;
    const outcome = await guarded.post(`${base}/ok`, options());
    expect(outcome).toMatchObject({ statusCode: null, failure: "blocked" });
    expect(outcome.error).toMatch(/^refused: 127\.0\.0\.1 is a loopback address/);
    expect(received.length).toBe(before);
  });

  it("refuses a name that resolves to a private address, at connect time", async () => {
    const outcome = await guarded.post("http://internal.example/hook", options());
    expect(outcome).toMatchObject({ statusCode: null, failure: "blocked" });
    expect(outcome.error).toMatch(/internal\.example resolves to 10\.0\.0\.7, a private address/);
  });
});
