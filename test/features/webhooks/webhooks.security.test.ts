/**
 * Attacks on webhooks, each refused:
 * - SSRF at creation: a tenant registers a URL that points into the server's own network —
 *   loopback, RFC 1918, link-local cloud metadata (169.254.169.254, fd00:ec2::254),
 *   multicast, CGNAT (Alibaba metadata), IPv4-mapped / NAT64 IPv6 forms, decimal/hex/octal
 *   IPv4 spellings, or a name that resolves there — to make Latchkey POST to it. 400.
 * - DNS rebinding: the name resolved to a public address at creation and to 127.0.0.1 at
 *   delivery. The delivery re-resolves and refuses; the connection only ever goes to the
 *   address that was checked (proved by a name only the injected resolver knows).
 * - An endpoint stored before WEBHOOK_ALLOW_PRIVATE was turned off is refused at delivery.
 * - Redirect to the metadata service: a 3xx is never followed.
 * - Secrets leaking into logs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordEvent } from "../../../src/infra/events.ts";
import { systemResolver } from "../../../src/infra/ssrf.ts";
import { newId } from "../../../src/shared/ids.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { startReceiver, type Receiver } from "./webhook-receiver.ts";

/** DNS the tests control; `localhost` goes to the real resolver (/etc/hosts). */
const dns: Record<string, string[]> = {
  "hooks.example.com": ["93.184.215.14"],
  "metadata.google.internal": ["169.254.169.254"],
  "mixed.example.com": ["93.184.215.14", "127.0.0.1"],
  "private-v6.example.com": ["fd12:3456:789a::1"],
  "rebind.example.com": ["93.184.215.14"],
};
let resolverCalls: string[] = [];
const resolveHost = async (host: string) => {
  resolverCalls.push(host);
  if (host === "localhost") return systemResolver(host);
  const answer = dns[host];
  if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
  return answer;
};

const receivers: Receiver[] = [];
let strict: TestApp;
/** An instance of a deployment that allows private targets (its receivers live on its network). */
let allowing: TestApp;
const deps = { webhooks: { resolveHost, retryScheduleMs: [60_000], attemptTimeoutMs: 1000, pollIntervalMs: 50 } };

beforeAll(async () => {
  strict = await createTestApp({ env: { WEBHOOK_ALLOW_PRIVATE: "false" }, deps, captureLogs: true });
  allowing = await createTestApp({ env: { WEBHOOK_ALLOW_PRIVATE: "true" }, deps });
});
afterAll(async () => {
  await strict?.close();
  await allowing?.close();
  for (const r of receivers) await r.close();
});

async function receiver(): Promise<Receiver> {
  const started = await startReceiver();
  receivers.push(started);
  return started;
}

const createOn = (t: TestApp, url: string, apiKey = t.apiKey) =>
  t.app.inject({ method: "POST", url: "/api/v1/webhooks", headers: { "x-api-key": apiKey }, payload: { url } });

async function firstAttempt(t: TestApp, endpointId: string, apiKey = t.apiKey, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await t.app.inject({ method: "GET", url: `/api/v1/webhooks/${endpointId}/deliveries`, headers: { "x-api-key": apiKey } });
    const attempt = res.json().data.deliveries[0]?.attempts[0];
    if (attempt) return attempt as { statusCode: number | null; error: string | null };
    if (Date.now() > deadline) throw new Error("no attempt was made");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("SSRF at creation", () => {
  it.each([
    ["loopback", "http://127.0.0.1/hooks", "loopback"],
    ["loopback, another address", "http://127.1.2.3:8080/hooks", "loopback"],
    ["localhost (resolved)", "http://localhost:3000/hooks", "loopback"],
    ["IPv6 loopback", "http://[::1]/hooks", "loopback"],
    ["unspecified", "http://0.0.0.0/hooks", "unspecified"],
    ["RFC 1918 10/8", "http://10.0.0.1/hooks", "private"],
    ["RFC 1918 172.16/12", "https://172.16.5.4/hooks", "private"],
    ["RFC 1918 192.168/16", "http://192.168.0.1/hooks", "private"],
    ["AWS/GCP/Azure metadata", "http://169.254.169.254/latest/meta-data/iam/", "link-local"],
    ["AWS metadata over IPv6", "http://[fd00:ec2::254]/latest/meta-data/", "unique-local"],
    ["IPv6 link-local", "http://[fe80::1]/hooks", "link-local"],
    ["IPv4 multicast", "http://224.0.0.251/hooks", "multicast"],
    ["IPv6 multicast", "http://[ff02::1]/hooks", "multicast"],
    ["Alibaba metadata (CGNAT)", "http://100.100.100.200/latest/meta-data/", "carrier-grade NAT"],
    ["broadcast", "http://255.255.255.255/hooks", "broadcast"],
    ["documentation range", "http://192.0.2.10/hooks", "reserved"],
    ["IPv4-mapped loopback", "http://[::ffff:127.0.0.1]/hooks", "loopback"],
    ["IPv4-mapped metadata", "http://[::ffff:a9fe:a9fe]/hooks", "link-local"],
    ["NAT64 metadata", "http://[64:ff9b::a9fe:a9fe]/hooks", "NAT64"],
    ["decimal IPv4", "http://2130706433/hooks", "loopback"],
    ["hex IPv4", "http://0x7f.0x1/hooks", "loopback"],
    ["octal IPv4", "http://0177.0.0.01/hooks", "loopback"],
    ["a name for the metadata service", "http://metadata.google.internal/computeMetadata/v1/", "link-local"],
    ["a name answering public and loopback", "https://mixed.example.com/hooks", "loopback"],
    ["a name answering a private IPv6", "https://private-v6.example.com/hooks", "unique-local"],
  ])("refuses %s (%s) with 400 VALIDATION_ERROR naming url, storing nothing", async (_name, url, range) => {
    const before = await strict.database.db.prisma.webhookEndpoint.count();
    const res = await createOn(strict, url);
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body).toMatchObject({ success: false, code: "VALIDATION_ERROR", details: [{ field: "body.url", message: expect.stringContaining(range) }] });
    expect(body.error).toMatch(/^url: /);
    expect(await strict.database.db.prisma.webhookEndpoint.count()).toBe(before);
  });

  it("accepts a public address, literal or by name", async () => {
    // A tenant that records no event: nothing is ever sent to these real addresses.
    const { apiKey } = await strict.createTenant("public targets");
    expect((await createOn(strict, "https://93.184.215.14/hooks", apiKey)).statusCode).toBe(201);
    expect((await createOn(strict, "https://[2606:4700::6810:84e5]/hooks", apiKey)).statusCode).toBe(201);
    expect((await createOn(strict, "https://hooks.example.com/hooks", apiKey)).statusCode).toBe(201);
  });
});

describe("SSRF at delivery", () => {
  it("DNS rebinding: a name that turned private after creation is re-resolved and refused; nothing is sent", async () => {
    const inside = await receiver();
    const created = await createOn(strict, `http://rebind.example.com:${inside.port}/hooks`);
    expect(created.statusCode).toBe(201);
    dns["rebind.example.com"] = ["127.0.0.1"]; // the attacker's DNS now answers loopback
    resolverCalls = [];
    await strict.database.db.prisma.$transaction((tx) => recordEvent(tx, { appId: strict.appId, type: "otp.sent", at: new Date() }));
    const attempt = await firstAttempt(strict, created.json().data.id);
    expect(attempt).toMatchObject({ statusCode: null, error: expect.stringMatching(/^refused: rebind\.example\.com resolves to 127\.0\.0\.1, a loopback address/) });
    expect(resolverCalls).toContain("rebind.example.com");
    expect(inside.requests).toEqual([]);
    const metrics = await strict.app.inject({ method: "GET", url: "/metrics" });
    expect(metrics.body).toMatch(/latchkey_webhook_attempt_duration_seconds_count\{result="blocked"\} [1-9]/);
  });

  it("an endpoint stored while private targets were allowed is refused once they are not", async () => {
    const inside = await receiver();
    const tenant = await strict.createTenant("legacy");
    const id = newId("whk");
    await strict.database.db.prisma.webhookEndpoint.create({
      data: { id, appId: tenant.appId, url: inside.url, events: [], secretSealed: strict.keyring.seal("whsec_legacy", id) },
    });
    await strict.database.db.prisma.$transaction((tx) => recordEvent(tx, { appId: tenant.appId, type: "otp.sent", at: new Date() }));
    const attempt = await firstAttempt(strict, id, tenant.apiKey);
    expect(attempt.error).toMatch(/^refused: 127\.0\.0\.1 is a loopback address/);
    expect(inside.requests).toEqual([]);
  });

  it("a redirect towards the metadata service is not followed", async () => {
    const hooks = await receiver();
    hooks.handle((_req, res) => res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/iam/security-credentials/" }).end());
    const created = await createOn(allowing, hooks.url);
    await allowing.database.db.prisma.$transaction((tx) => recordEvent(tx, { appId: allowing.appId, type: "otp.sent", at: new Date() }));
    const attempt = await firstAttempt(allowing, created.json().data.id);
    expect(attempt).toMatchObject({ statusCode: 302, error: expect.stringMatching(/^HTTP 302: redirects are not followed/) });
    expect(hooks.requests).toHaveLength(1);
  });

  it("the connection goes to the address the guard resolved (a name only the injected resolver knows)", async () => {
    const hooks = await receiver();
    dns["only-the-guard-knows.test"] = ["127.0.0.1"];
    const created = await createOn(allowing, `http://only-the-guard-knows.test:${hooks.port}/hooks`);
    expect(created.statusCode).toBe(201);
    await allowing.database.db.prisma.$transaction((tx) => recordEvent(tx, { appId: allowing.appId, type: "otp.sent", at: new Date() }));
    const [request] = await hooks.waitFor(1);
    expect(request!.headers.host).toBe(`only-the-guard-knows.test:${hooks.port}`);
  });
});

describe("secrets stay out of logs", () => {
  it("no log line carries a signing secret", async () => {
    const { apiKey } = await strict.createTenant("logged");
    const supplied = "whsec_c3VwcGxpZWQtc2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw==";
    const created = await strict.app.inject({ method: "POST", url: "/api/v1/webhooks", headers: { "x-api-key": apiKey }, payload: { url: "https://hooks.example.com/logged", secret: supplied } });
    const generated = await createOn(strict, "https://hooks.example.com/logged-2", apiKey);
    const { id, secret } = generated.json().data;
    const rotated = await strict.app.inject({ method: "POST", url: `/api/v1/webhooks/${id}/rotate-secret`, headers: { "x-api-key": apiKey }, payload: {} });
    expect(created.statusCode).toBe(201);
    expect(rotated.statusCode).toBe(200);
    const everything = JSON.stringify(strict.logs);
    expect(strict.logs.length).toBeGreaterThan(0);
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(supplied);
    expect(everything).not.toContain(rotated.json().data.secret);
  });
});
