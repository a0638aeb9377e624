/**
 * Deliveries as receivers see them (API.md §5): every event reaches each endpoint that
 * subscribes to it, signed so that receivers written exactly like SecureKey's Node/Express,
 * Python/Flask and C# examples, the SDK's verifyWebhookSignature and the `standardwebhooks`
 * verifier all accept it — with Korean text in the payload; both secrets sign during a
 * rotation; test events; metrics.
 */
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_TYPES, recordEvent, type EventInput, type EventType } from "../../../src/infra/events.ts";
import { TwoFactorClient, verifyWebhookSignature } from "../../../src/sdk/index.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { csharpStyleVerifies, expressStyleVerifies, flaskStyleVerifies, headerOf, startReceiver, type ReceivedRequest, type Receiver } from "./webhook-receiver.ts";

/** The §5 events a receiver can subscribe to (webhook.test is only sent on request). */
const CONTRACT_EVENTS = EVENT_TYPES.filter((type) => type !== "webhook.test");

let t: TestApp;
let client: TwoFactorClient;
const receivers: Receiver[] = [];

beforeAll(async () => {
  t = await createTestApp({
    env: { WEBHOOK_ALLOW_PRIVATE: "true" },
    deps: { webhooks: { retryScheduleMs: [100, 200], attemptTimeoutMs: 2000, pollIntervalMs: 100 } },
  });
  await t.app.listen({ port: 0, host: "127.0.0.1" });
  client = new TwoFactorClient({ apiKey: t.apiKey, baseUrl: `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}` });
});
afterAll(async () => {
  await t?.close();
  for (const receiver of receivers) await receiver.close();
});

async function receiver(): Promise<Receiver> {
  const started = await startReceiver();
  receivers.push(started);
  return started;
}

async function record(input: Partial<EventInput> & { type: EventType }, appId = t.appId) {
  return t.database.db.prisma.$transaction((tx) => recordEvent(tx, { appId, at: new Date(), ...input }));
}

async function storedPayload(eventId: string): Promise<string> {
  return (await t.database.db.prisma.event.findUniqueOrThrow({ where: { id: eventId } })).payload;
}

const eventIdOf = (request: ReceivedRequest) => (JSON.parse(request.rawBody.toString("utf8")) as { id: string }).id;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("receivers written like SecureKey's examples verify every delivery", () => {
  it("every §5 event, with Korean text, verifies in Express, Flask and C# style, with the SDK and with standardwebhooks", async () => {
    const hooks = await receiver();
    const endpoint = await client.webhooks.create({ url: hooks.url, description: "모든 이벤트" });
    expect(endpoint.secret).toMatch(/^whsec_/);

    const recorded = [];
    for (const type of CONTRACT_EVENTS) {
      recorded.push(await record({
        type,
        channel: "sms",
        externalUserId: "사용자_123",
        data: { purpose: "결제", note: "로그인 승인 ✅ — 「테스트」", destination: "+82******5678", amount: 12_345.5, nested: { list: [1, "둘", null, true] } },
      }));
    }
    const requests = await hooks.waitFor(recorded.length);
    const before = Math.floor(Date.now() / 1000);

    const verifier = new Webhook(endpoint.secret);
    const byEvent = new Map(requests.map((r) => [eventIdOf(r), r]));
    for (const payload of recorded) {
      const request = byEvent.get(payload.id)!;
      expect(request, payload.event).toBeDefined();
      const raw = request.rawBody.toString("utf8");
      // Exactly the stored bytes: compact JSON.stringify, no trailing newline, and it survives a
      // parse/re-stringify round trip byte for byte (what the Express example relies on).
      expect(raw).toBe(await storedPayload(payload.id));
      expect(raw).toBe(JSON.stringify(payload));
      expect(JSON.stringify(JSON.parse(raw))).toBe(raw);
      expect(JSON.parse(raw).data).toMatchObject({ externalUserId: "사용자_123", note: "로그인 승인 ✅ — 「테스트」" });

      expect(request.method).toBe("POST");
      expect(headerOf(request, "content-type")).toBe("application/json");
      expect(Number(headerOf(request, "content-length"))).toBe(Buffer.byteLength(raw));
      expect(headerOf(request, "x-securekey-event")).toBe(payload.event);
      expect(headerOf(request, "x-securekey-delivery")).toMatch(/^whd_[0-9a-f]{32}$/);
      expect(headerOf(request, "webhook-id")).toBe(headerOf(request, "x-securekey-delivery"));
      expect(headerOf(request, "webhook-timestamp")).toBe(headerOf(request, "x-securekey-timestamp"));
      expect(Math.abs(Number(headerOf(request, "x-securekey-timestamp")) - before)).toBeLessThan(30);
      expect(headerOf(request, "x-securekey-signature")).toMatch(/^sha256=[0-9a-f]{64}$/);
      expect(headerOf(request, "webhook-signature")).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);

      expect(expressStyleVerifies(request, endpoint.secret), `${payload.event}: Express`).toBe(true);
      expect(flaskStyleVerifies(request, endpoint.secret), `${payload.event}: Flask`).toBe(true);
      expect(csharpStyleVerifies(request, endpoint.secret), `${payload.event}: C#`).toBe(true);
      expect(verifyWebhookSignature(request.rawBody, headerOf(request, "x-securekey-signature"), endpoint.secret)).toBe(true);
      expect(verifyWebhookSignature(raw, headerOf(request, "x-securekey-signature"), endpoint.secret)).toBe(true);
      expect(verifyWebhookSignature(JSON.parse(raw) as object, headerOf(request, "x-securekey-signature"), endpoint.secret)).toBe(true);
      expect(verifier.verify(raw, request.headers as Record<string, string>)).toEqual(payload);

      // And nothing else verifies: another secret, or a body changed by one byte.
      expect(flaskStyleVerifies(request, `${endpoint.secret}x`)).toBe(false);
      expect(verifyWebhookSignature(raw.replace("결제", "결재"), headerOf(request, "x-securekey-signature"), endpoint.secret)).toBe(false);
      expect(() => verifier.verify(raw.replace("결제", "결재"), request.headers as Record<string, string>)).toThrow();
    }

    // The deliveries list says so too, through the SDK.
    let page = await client.webhooks.deliveries(endpoint.id, { limit: 100 });
    for (let i = 0; i < 50 && page.deliveries.some((d) => d.status !== "succeeded"); i++) {
      await sleep(100);
      page = await client.webhooks.deliveries(endpoint.id, { limit: 100 });
    }
    expect(page.deliveries).toHaveLength(recorded.length);
    for (const delivery of page.deliveries) {
      expect(delivery).toMatchObject({ status: "succeeded", attemptCount: 1, nextAttemptAt: null, lastError: null });
      expect(delivery.attempts).toEqual([{ id: expect.any(String), attemptedAt: expect.any(String), statusCode: 200, durationMs: expect.any(Number), error: null, responseBody: "ok" }]);
    }
  });

  it("a secret the customer supplied (not whsec_) verifies everywhere; Standard Webhooks uses its raw bytes", async () => {
    const hooks = await receiver();
    const secret = "sk_live_SecureKeyStyleSecret_0123456789";
    await client.webhooks.create({ url: hooks.url, secret });
    const payload = await record({ type: "verification.failed", channel: "totp", externalUserId: "u-1", data: { reason: "잘못된 코드" } });
    const [request] = await hooks.waitFor(1);
    expect(eventIdOf(request!)).toBe(payload.id);
    expect(expressStyleVerifies(request!, secret)).toBe(true);
    expect(flaskStyleVerifies(request!, secret)).toBe(true);
    expect(csharpStyleVerifies(request!, secret)).toBe(true);
    expect(new Webhook(secret, { format: "raw" }).verify(request!.rawBody.toString("utf8"), request!.headers as Record<string, string>)).toEqual(payload);
  });
});

describe("fan-out", () => {
  it("each endpoint gets exactly the events it subscribes to; disabled endpoints and other apps' endpoints get none", async () => {
    const all = await receiver();
    const onlyPush = await receiver();
    const disabled = await receiver();
    const otherApp = await receiver();
    await client.webhooks.create({ url: all.url });
    await client.webhooks.create({ url: onlyPush.url, events: ["push.approved", "push.denied"] });
    await client.webhooks.create({ url: disabled.url, enabled: false });
    const tenant = await t.createTenant("other");
    const tenantClient = new TwoFactorClient({ apiKey: tenant.apiKey, baseUrl: client.baseUrl });
    await tenantClient.webhooks.create({ url: otherApp.url });

    const otp = await record({ type: "otp.sent", channel: "sms" });
    const approved = await record({ type: "push.approved", channel: "push", externalUserId: "u1" });
    const theirs = await record({ type: "totp.enabled", channel: "totp" }, tenant.appId);

    await all.waitFor(2);
    await onlyPush.waitFor(1);
    await otherApp.waitFor(1);
    await sleep(500); // anything misrouted would have arrived by now
    expect(all.requests.map(eventIdOf).sort()).toEqual([otp.id, approved.id].sort());
    expect(onlyPush.requests.map(eventIdOf)).toEqual([approved.id]);
    expect(otherApp.requests.map(eventIdOf)).toEqual([theirs.id]);
    expect(disabled.requests).toEqual([]);
  });

  it("an event recorded in a transaction that rolls back is never delivered", async () => {
    const hooks = await receiver();
    await client.webhooks.create({ url: hooks.url, events: ["mfa.required"] });
    await expect(t.database.db.prisma.$transaction(async (tx) => {
      await recordEvent(tx, { appId: t.appId, type: "mfa.required", at: new Date() });
      throw new Error("the state change failed");
    })).rejects.toThrow("the state change failed");
    const committed = await record({ type: "mfa.required" });
    await hooks.waitFor(1);
    await sleep(300);
    expect(hooks.requests.map(eventIdOf)).toEqual([committed.id]);
  });

  it("a disabled endpoint's deliveries wait and go out when it is enabled again", async () => {
    const hooks = await receiver();
    const endpoint = await client.webhooks.create({ url: hooks.url });
    const payload = await record({ type: "webauthn.registered", channel: "webauthn" });
    await hooks.waitFor(1);
    let delivery = (await client.webhooks.deliveries(endpoint.id)).deliveries[0]!;
    while (delivery.status !== "succeeded") {
      await sleep(20);
      delivery = (await client.webhooks.deliveries(endpoint.id)).deliveries[0]!;
    }
    await client.webhooks.update(endpoint.id, { enabled: false });
    // Its delivery is pending again (as if a retry were due) while the endpoint is disabled.
    await t.database.db.query("UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), lease_until = NULL WHERE id = $1", [delivery.id]);
    await sleep(400);
    expect(hooks.requests).toHaveLength(1);
    await client.webhooks.update(endpoint.id, { enabled: true });
    const requests = await hooks.waitFor(2);
    expect(eventIdOf(requests[1]!)).toBe(payload.id);
  });
});

describe("secret rotation", () => {
  it("both secrets sign for 24 h (two signatures per header), then only the new one", async () => {
    const hooks = await receiver();
    const endpoint = await client.webhooks.create({ url: hooks.url });
    const rotation = await client.webhooks.rotateSecret(endpoint.id);
    expect(rotation.secret).not.toBe(endpoint.secret);

    await record({ type: "totp.disabled", channel: "totp", externalUserId: "회원-7" });
    const [during] = await hooks.waitFor(1);
    expect(headerOf(during!, "x-securekey-signature").split(" ")).toHaveLength(2);
    expect(headerOf(during!, "webhook-signature").split(" ")).toHaveLength(2);
    for (const secret of [endpoint.secret, rotation.secret]) {
      expect(expressStyleVerifies(during!, secret)).toBe(true);
      expect(flaskStyleVerifies(during!, secret)).toBe(true);
      expect(csharpStyleVerifies(during!, secret)).toBe(true);
      expect(verifyWebhookSignature(during!.rawBody, headerOf(during!, "x-securekey-signature"), secret)).toBe(true);
      expect(() => new Webhook(secret).verify(during!.rawBody.toString("utf8"), during!.headers as Record<string, string>)).not.toThrow();
    }
    // The new secret signs first, so receivers that read only the first signature move on.
    expect(flaskStyleVerifies({ ...during!, headers: { ...during!.headers, "x-securekey-signature": headerOf(during!, "x-securekey-signature").split(" ")[0] } }, rotation.secret)).toBe(true);

    await t.database.db.query("UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second' WHERE id = $1", [endpoint.id]);
    await record({ type: "totp.disabled", channel: "totp" });
    const requests = await hooks.waitFor(2);
    const after = requests[1]!;
    expect(headerOf(after, "x-securekey-signature").split(" ")).toHaveLength(1);
    expect(flaskStyleVerifies(after, rotation.secret)).toBe(true);
    expect(flaskStyleVerifies(after, endpoint.secret)).toBe(false);
    expect(() => new Webhook(endpoint.secret).verify(after.rawBody.toString("utf8"), after.headers as Record<string, string>)).toThrow();
    expect((await client.webhooks.get(endpoint.id)).previousSecretExpiresAt).toBeNull();
  });
});

describe("test events", () => {
  it("POST /webhooks/:id/test delivers a signed webhook.test to that endpoint only", async () => {
    const target = await receiver();
    const bystander = await receiver();
    const endpoint = await client.webhooks.create({ url: target.url, events: ["otp.sent"] });
    await client.webhooks.create({ url: bystander.url });
    const queued = await client.webhooks.test(endpoint.id);
    const [request] = await target.waitFor(1);
    expect(headerOf(request!, "x-securekey-event")).toBe("webhook.test");
    expect(headerOf(request!, "x-securekey-delivery")).toBe(queued!.deliveryId);
    expect(JSON.parse(request!.rawBody.toString("utf8"))).toMatchObject({ id: queued!.eventId, event: "webhook.test", data: { endpointId: endpoint.id } });
    expect(flaskStyleVerifies(request!, endpoint.secret)).toBe(true);
    await sleep(300);
    expect(bystander.requests).toEqual([]);
  });
});

describe("metrics", () => {
  it("exposes deliveries by outcome, attempt latency and the backlog", async () => {
    const res = await t.app.inject({ method: "GET", url: "/metrics" });
    expect(res.statusCode).toBe(200);
    const delivered = Number(/latchkey_webhook_deliveries_total\{outcome="delivered"\} (\d+)/.exec(res.body)?.[1]);
    expect(delivered).toBeGreaterThan(10);
    expect(res.body).toMatch(/latchkey_webhook_deliveries_total\{outcome="failed"\} 0/);
    expect(res.body).toMatch(/latchkey_webhook_attempt_duration_seconds_bucket\{le="[0-9.]+",result="2xx"\} \d+/);
    expect(res.body).toMatch(/latchkey_webhook_attempt_duration_seconds_count\{result="2xx"\} \d+/);
    expect(res.body).toMatch(/latchkey_webhook_backlog\{state="due"\} \d+/);
    expect(res.body).toMatch(/latchkey_webhook_backlog\{state="scheduled"\} \d+/);
    expect(res.body).toMatch(/latchkey_webhook_backlog\{state="undispatched_events"\} \d+/);
  });
});
