/**
 * Managing webhook endpoints through the real HTTP stack (API.md §5): create with a generated
 * or supplied secret shown once, list, read, change, delete, rotate, test, deliveries,
 * redeliver — and every bad input a clear 4xx that changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keysRepository } from "../../../src/features/keys/keys.repository.ts";
import { createApiKey } from "../../../src/features/keys/keys.service.ts";
import { MAX_ENDPOINTS_PER_APP } from "../../../src/features/webhooks/webhooks.service.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";

/** A DNS table: these names are public receivers; anything else does not resolve. */
const DNS: Record<string, string[]> = {
  "hooks.example.com": ["93.184.215.14"],
  "other.example.com": ["2606:4700::6810:84e5"],
  "internal.example.com": ["10.0.0.7"],
};
const resolveHost = async (host: string) => {
  const answer = DNS[host];
  if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
  return answer;
};

let t: TestApp;
const headers = () => ({ "x-api-key": t.apiKey });
const create = (body: Record<string, unknown>, extra: Record<string, string> = {}) =>
  t.app.inject({ method: "POST", url: "/api/v1/webhooks", headers: { ...headers(), ...extra }, payload: body });
const endpointCount = async () => t.database.db.prisma.webhookEndpoint.count({ where: { appId: t.appId } });

beforeAll(async () => {
  // No delivery worker here: these tests are about managing endpoints (deliveries: webhooks.delivery.test.ts).
  t = await createTestApp({ deps: { webhooks: { worker: false, resolveHost } } });
});
afterAll(async () => t?.close());

describe("POST /api/v1/webhooks", () => {
  it("creates an endpoint and shows its generated whsec_ secret once", async () => {
    const res = await create({ url: "https://hooks.example.com/latchkey", events: ["verification.succeeded", "push.approved"], description: "결제 서버" });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toEqual({
      success: true,
      message: expect.any(String),
      data: {
        id: expect.stringMatching(/^whk_[0-9A-Za-z]{24}$/),
        url: "https://hooks.example.com/latchkey",
        description: "결제 서버",
        events: ["verification.succeeded", "push.approved"],
        enabled: true,
        previousSecretExpiresAt: null,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
        secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
      },
    });
    expect(Buffer.from(body.data.secret.slice("whsec_".length), "base64")).toHaveLength(32);

    const read = await t.app.inject({ method: "GET", url: `/api/v1/webhooks/${body.data.id}`, headers: headers() });
    expect(read.statusCode).toBe(200);
    expect(read.json().data).toEqual({ ...body.data, secret: undefined });
    expect(read.body).not.toContain(body.data.secret);
    const list = await t.app.inject({ method: "GET", url: "/api/v1/webhooks", headers: headers() });
    expect(list.body).not.toContain(body.data.secret);
    expect(list.json().data.webhooks.map((w: { id: string }) => w.id)).toContain(body.data.id);
  });

  it("takes a supplied secret, and seals every secret at rest bound to its endpoint", async () => {
    const secret = "my-own-securekey-secret-0123456789";
    const res = await create({ url: "https://hooks.example.com/own", secret });
    expect(res.statusCode).toBe(201);
    const { id } = res.json().data;
    expect(res.json().data.secret).toBe(secret);
    const row = await t.database.db.prisma.webhookEndpoint.findUniqueOrThrow({ where: { id } });
    expect(row.secretSealed).not.toContain(secret);
    expect(JSON.stringify(await t.database.db.query("SELECT * FROM webhook_endpoints"))).not.toContain(secret);
    expect(t.keyring.open(row.secretSealed, id)).toBe(secret);
    expect(() => t.keyring.open(row.secretSealed, "whk_another")).toThrow();
  });

  it("normalizes the URL and defaults to every event, enabled", async () => {
    const res = await create({ url: "HTTPS://Hooks.Example.com:443/a/../b?x=1" });
    expect(res.statusCode).toBe(201);
    expect(res.json().data).toMatchObject({ url: "https://hooks.example.com/b?x=1", events: [], enabled: true, description: null });
  });

  it.each([
    ["not a URL", { url: "hooks.example.com/x" }, "body.url"],
    ["ftp", { url: "ftp://hooks.example.com/x" }, "body.url"],
    ["file", { url: "file:///etc/passwd" }, "body.url"],
    ["javascript", { url: "javascript:alert(1)" }, "body.url"],
    ["credentials in the URL", { url: "https://user:pass@hooks.example.com/x" }, "body.url"],
    ["a host that does not resolve", { url: "https://nowhere.example.com/x" }, "body.url"],
    ["a host that resolves to a private address", { url: "https://internal.example.com/x" }, "body.url"],
    ["an empty URL", { url: "" }, "body.url"],
    ["a URL over 2048 characters", { url: `https://hooks.example.com/${"a".repeat(2100)}` }, "body.url"],
    ["no URL", { events: [] }, "body.url"],
    ["an unknown event type", { url: "https://hooks.example.com/x", events: ["otp.exploded"] }, "body.events.0"],
    ["a repeated event type", { url: "https://hooks.example.com/x", events: ["otp.sent", "otp.sent"] }, "body.events"],
    ["events as a string", { url: "https://hooks.example.com/x", events: "otp.sent" }, "body.events"],
    ["a short secret", { url: "https://hooks.example.com/x", secret: "short" }, "body.secret"],
    ["a secret with spaces", { url: "https://hooks.example.com/x", secret: "with spaces in the secret" }, "body.secret"],
    ["an unknown field", { url: "https://hooks.example.com/x", active: true }, "body.active"],
    ["enabled as a string", { url: "https://hooks.example.com/x", enabled: "true" }, "body.enabled"],
  ])("refuses %s with 400 VALIDATION_ERROR naming the field, creating nothing", async (_name, body, field) => {
    const before = await endpointCount();
    const res = await create(body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ success: false, code: "VALIDATION_ERROR", error: expect.any(String) });
    expect(res.json().details.map((d: { field: string }) => d.field)).toContain(field);
    expect(await endpointCount()).toBe(before);
  });

  it("replays an Idempotency-Key retry with the same secret and creates one endpoint", async () => {
    const before = await endpointCount();
    const body = { url: "https://hooks.example.com/idempotent" };
    const first = await create(body, { "idempotency-key": "create-hook-1" });
    const second = await create(body, { "idempotency-key": "create-hook-1" });
    expect(first.statusCode).toBe(201);
    expect(second.statusCode).toBe(201);
    expect(second.headers["idempotent-replayed"]).toBe("true");
    expect(second.json().data.secret).toBe(first.json().data.secret);
    expect(await endpointCount()).toBe(before + 1);
  });

  it("refuses a publishable key (403): endpoints and secrets are for the server only", async () => {
    const publishable = await createApiKey(keysRepository(t.database.db.prisma), { appId: t.appId, kind: "publishable" });
    const res = await t.app.inject({ method: "GET", url: "/api/v1/webhooks", headers: { "x-api-key": publishable.key } });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe("FORBIDDEN");
  });
});

describe("GET /api/v1/webhooks", () => {
  it("pages oldest first with nextCursor, and refuses a forged cursor", async () => {
    const tenant = await t.createTenant("pages");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await t.app.inject({ method: "POST", url: "/api/v1/webhooks", headers: { "x-api-key": tenant.apiKey }, payload: { url: `https://hooks.example.com/${i}` } });
      ids.push(res.json().data.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { statusCode: number; json(): { data: { webhooks: Array<{ id: string }>; nextCursor: string | null } } } =
        await t.app.inject({ method: "GET", url: `/api/v1/webhooks?limit=2${cursor ? `&cursor=${cursor}` : ""}`, headers: { "x-api-key": tenant.apiKey } });
      expect(res.statusCode).toBe(200);
      const page: { webhooks: Array<{ id: string }>; nextCursor: string | null } = res.json().data;
      expect(page.webhooks.length).toBeLessThanOrEqual(2);
      seen.push(...page.webhooks.map((w: { id: string }) => w.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(ids);

    const forged = await t.app.inject({ method: "GET", url: "/api/v1/webhooks?cursor=bm9wZQ", headers: { "x-api-key": tenant.apiKey } });
    expect(forged.statusCode).toBe(400);
    expect(forged.json()).toMatchObject({ code: "VALIDATION_ERROR", details: [{ field: "query.cursor" }] });
    const tooMany = await t.app.inject({ method: "GET", url: "/api/v1/webhooks?limit=1000", headers: { "x-api-key": tenant.apiKey } });
    expect(tooMany.statusCode).toBe(400);
  });
});

describe("PATCH and DELETE /api/v1/webhooks/:id", () => {
  it("changes the given fields and keeps the others", async () => {
    const { id } = (await create({ url: "https://hooks.example.com/patch", events: ["otp.sent"], description: "before" })).json().data;
    const res = await t.app.inject({ method: "PATCH", url: `/api/v1/webhooks/${id}`, headers: headers(), payload: { enabled: false, events: [] } });
    expect(res.statusCode).toBe(200);
    expect(res.json().data).toMatchObject({ id, url: "https://hooks.example.com/patch", description: "before", events: [], enabled: false });
    const cleared = await t.app.inject({ method: "PATCH", url: `/api/v1/webhooks/${id}`, headers: headers(), payload: { description: null, url: "https://other.example.com/new" } });
    expect(cleared.json().data).toMatchObject({ description: null, url: "https://other.example.com/new" });
  });

  it("re-checks a new URL and changes nothing when it is refused", async () => {
    const { id } = (await create({ url: "https://hooks.example.com/recheck" })).json().data;
    for (const url of ["http://127.0.0.1:8080/", "https://internal.example.com/", "gopher://hooks.example.com/"]) {
      const res = await t.app.inject({ method: "PATCH", url: `/api/v1/webhooks/${id}`, headers: headers(), payload: { url, enabled: false } });
      expect(res.statusCode).toBe(400);
      expect(res.json().details[0].field).toBe("body.url");
    }
    const read = await t.app.inject({ method: "GET", url: `/api/v1/webhooks/${id}`, headers: headers() });
    expect(read.json().data).toMatchObject({ url: "https://hooks.example.com/recheck", enabled: true });
  });

  it("refuses an empty or unknown change with 400", async () => {
    const { id } = (await create({ url: "https://hooks.example.com/empty" })).json().data;
    for (const payload of [{}, { secret: "a-new-secret-that-is-long" }, { enabled: 1 }]) {
      const res = await t.app.inject({ method: "PATCH", url: `/api/v1/webhooks/${id}`, headers: headers(), payload });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe("VALIDATION_ERROR");
    }
  });

  it("deletes an endpoint; then it is 404 everywhere", async () => {
    const { id } = (await create({ url: "https://hooks.example.com/delete" })).json().data;
    const res = await t.app.inject({ method: "DELETE", url: `/api/v1/webhooks/${id}`, headers: headers() });
    expect(res.statusCode).toBe(200);
    expect(res.json().data).toEqual({ id, deleted: true });
    for (const [method, url] of [["GET", `/api/v1/webhooks/${id}`], ["DELETE", `/api/v1/webhooks/${id}`], ["POST", `/api/v1/webhooks/${id}/test`], ["GET", `/api/v1/webhooks/${id}/deliveries`]] as const) {
      const again = await t.app.inject({ method, url, headers: headers(), ...(method === "POST" ? { payload: {} } : {}) });
      expect(again.statusCode, `${method} ${url}`).toBe(404);
      expect(again.json().code).toBe("NOT_FOUND");
    }
  });
});

describe("POST /api/v1/webhooks/:id/rotate-secret", () => {
  it("issues a new secret; the previous one keeps signing for 24 h", async () => {
    const created = (await create({ url: "https://hooks.example.com/rotate" })).json().data;
    const before = Date.now();
    const res = await t.app.inject({ method: "POST", url: `/api/v1/webhooks/${created.id}/rotate-secret`, headers: headers(), payload: {} });
    expect(res.statusCode).toBe(200);
    const rotation = res.json().data;
    expect(rotation).toEqual({ id: created.id, secret: expect.stringMatching(/^whsec_/), previousSecretExpiresAt: expect.any(String) });
    expect(rotation.secret).not.toBe(created.secret);
    const expiresAt = Date.parse(rotation.previousSecretExpiresAt);
    expect(expiresAt - before).toBeGreaterThanOrEqual(24 * 3600_000 - 1000);
    expect(expiresAt - before).toBeLessThanOrEqual(24 * 3600_000 + 5000);

    const row = await t.database.db.prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: created.id } });
    expect(t.keyring.open(row.secretSealed, created.id)).toBe(rotation.secret);
    expect(t.keyring.open(row.previousSecretSealed!, created.id)).toBe(created.secret);
    const read = await t.app.inject({ method: "GET", url: `/api/v1/webhooks/${created.id}`, headers: headers() });
    expect(read.json().data.previousSecretExpiresAt).toBe(rotation.previousSecretExpiresAt);
  });

  it("takes a supplied new secret", async () => {
    const { id } = (await create({ url: "https://hooks.example.com/rotate-own" })).json().data;
    const res = await t.app.inject({ method: "POST", url: `/api/v1/webhooks/${id}/rotate-secret`, headers: headers(), payload: { secret: "next-secret-from-my-vault-0001" } });
    expect(res.json().data.secret).toBe("next-secret-from-my-vault-0001");
  });

  it("concurrent rotations: every success handed out a secret that signs, the losers get 409", async () => {
    const created = (await create({ url: "https://hooks.example.com/race" })).json().data;
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => t.app.inject({ method: "POST", url: `/api/v1/webhooks/${created.id}/rotate-secret`, headers: headers(), payload: {} })),
    );
    const won = answers.filter((a) => a.statusCode === 200).map((a) => a.json().data.secret as string);
    const lost = answers.filter((a) => a.statusCode !== 200);
    expect(won.length).toBeGreaterThanOrEqual(1);
    for (const answer of lost) expect(answer.json().code).toBe("CONFLICT");
    const row = await t.database.db.prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: created.id } });
    const current = t.keyring.open(row.secretSealed, created.id);
    const previous = t.keyring.open(row.previousSecretSealed!, created.id);
    // Rotations applied one after another: the live pair is the last two secrets of the chain.
    expect(won).toContain(current);
    expect([created.secret, ...won]).toContain(previous);
    if (won.length === 1) expect(previous).toBe(created.secret);
  });
});

describe("test events, deliveries and redelivery (routes)", () => {
  it("queues a webhook.test delivery for one endpoint and lists it with no attempt yet", async () => {
    const { id } = (await create({ url: "https://hooks.example.com/test", events: ["otp.sent"] })).json().data;
    const res = await t.app.inject({ method: "POST", url: `/api/v1/webhooks/${id}/test`, headers: headers(), payload: {} });
    expect(res.statusCode).toBe(200);
    const queued = res.json().data;
    expect(queued).toEqual({ eventId: expect.stringMatching(/^evt_/), deliveryId: expect.stringMatching(/^whd_[0-9a-f]{32}$/), event: "webhook.test", status: "pending" });
    const event = await t.database.db.prisma.event.findUniqueOrThrow({ where: { id: queued.eventId } });
    expect(event.dispatchedAt).not.toBeNull(); // never fans out to the app's other endpoints
    expect(JSON.parse(event.payload)).toMatchObject({ id: queued.eventId, event: "webhook.test", data: { endpointId: id } });

    const list = await t.app.inject({ method: "GET", url: `/api/v1/webhooks/${id}/deliveries`, headers: headers() });
    expect(list.statusCode).toBe(200);
    expect(list.json().data).toEqual({
      deliveries: [{
        id: queued.deliveryId,
        eventId: queued.eventId,
        endpointId: id,
        event: "webhook.test",
        status: "pending",
        attemptCount: 0,
        nextAttemptAt: expect.any(String),
        lastError: null,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
        attempts: [],
      }],
      nextCursor: null,
    });
    const one = await t.app.inject({ method: "GET", url: `/api/v1/webhooks/deliveries/${queued.deliveryId}`, headers: headers() });
    expect(one.json().data.id).toBe(queued.deliveryId);

    const typed = await t.app.inject({ method: "POST", url: `/api/v1/webhooks/${id}/test`, headers: headers(), payload: { event: "push.approved" } });
    expect(typed.json().data.event).toBe("push.approved");
    const filtered = await t.app.inject({ method: "GET", url: `/api/v1/webhooks/${id}/deliveries?status=failed`, headers: headers() });
    expect(filtered.json().data.deliveries).toEqual([]);
    const bad = await t.app.inject({ method: "POST", url: `/api/v1/webhooks/${id}/test`, headers: headers(), payload: { event: "nope" } });
    expect(bad.statusCode).toBe(400);
  });

  it("refuses a test event for a disabled endpoint (409)", async () => {
    const { id } = (await create({ url: "https://hooks.example.com/disabled", enabled: false })).json().data;
    const res = await t.app.inject({ method: "POST", url: `/api/v1/webhooks/${id}/test`, headers: headers(), payload: {} });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe("CONFLICT");
  });

  it("redelivers a delivery; an unknown one is 404", async () => {
    const { id } = (await create({ url: "https://hooks.example.com/redeliver" })).json().data;
    const { deliveryId } = (await t.app.inject({ method: "POST", url: `/api/v1/webhooks/${id}/test`, headers: headers(), payload: {} })).json().data;
    await t.database.db.query("UPDATE webhook_deliveries SET status = 'failed', attempt_count = 7, last_error = 'HTTP 500' WHERE id = $1", [deliveryId]);
    const res = await t.app.inject({ method: "POST", url: `/api/v1/webhooks/deliveries/${deliveryId}/redeliver`, headers: headers(), payload: {} });
    expect(res.statusCode).toBe(200);
    expect(res.json().data).toMatchObject({ id: deliveryId, status: "pending", attemptCount: 7, nextAttemptAt: expect.any(String) });
    const missing = await t.app.inject({ method: "POST", url: "/api/v1/webhooks/deliveries/whd_00000000000000000000000000000000/redeliver", headers: headers(), payload: {} });
    expect(missing.statusCode).toBe(404);
  });

  it("refuses a redelivery while an attempt holds the delivery (409), and changes nothing", async () => {
    const { id } = (await create({ url: "https://hooks.example.com/busy" })).json().data;
    const { deliveryId } = (await t.app.inject({ method: "POST", url: `/api/v1/webhooks/${id}/test`, headers: headers(), payload: {} })).json().data;
    await t.database.db.query("UPDATE webhook_deliveries SET lease_until = now() + interval '1 minute', next_attempt_at = now() + interval '1 minute' WHERE id = $1", [deliveryId]);
    const res = await t.app.inject({ method: "POST", url: `/api/v1/webhooks/deliveries/${deliveryId}/redeliver`, headers: headers(), payload: {} });
    expect(res.statusCode).toBe(409);
    const [row] = await t.database.db.query<{ lease_until: Date | null }>("SELECT lease_until FROM webhook_deliveries WHERE id = $1", [deliveryId]);
    expect(row!.lease_until).not.toBeNull();
  });
});

describe("tenancy", () => {
  it("another app's key sees none of this app's endpoints or deliveries (404, never 403)", async () => {
    const { id } = (await create({ url: "https://hooks.example.com/mine" })).json().data;
    const { deliveryId } = (await t.app.inject({ method: "POST", url: `/api/v1/webhooks/${id}/test`, headers: headers(), payload: {} })).json().data;
    const other = await t.createTenant("intruder");
    const as = { "x-api-key": other.apiKey };
    const attempts = [
      t.app.inject({ method: "GET", url: `/api/v1/webhooks/${id}`, headers: as }),
      t.app.inject({ method: "PATCH", url: `/api/v1/webhooks/${id}`, headers: as, payload: { enabled: false } }),
      t.app.inject({ method: "PATCH", url: `/api/v1/webhooks/${id}`, headers: as, payload: { url: "https://hooks.example.com/stolen" } }),
      t.app.inject({ method: "DELETE", url: `/api/v1/webhooks/${id}`, headers: as }),
      t.app.inject({ method: "POST", url: `/api/v1/webhooks/${id}/rotate-secret`, headers: as, payload: {} }),
      t.app.inject({ method: "POST", url: `/api/v1/webhooks/${id}/test`, headers: as, payload: {} }),
      t.app.inject({ method: "GET", url: `/api/v1/webhooks/${id}/deliveries`, headers: as }),
      t.app.inject({ method: "GET", url: `/api/v1/webhooks/deliveries/${deliveryId}`, headers: as }),
      t.app.inject({ method: "POST", url: `/api/v1/webhooks/deliveries/${deliveryId}/redeliver`, headers: as, payload: {} }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe("NOT_FOUND");
    }
    const list = await t.app.inject({ method: "GET", url: "/api/v1/webhooks", headers: as });
    expect(list.json().data.webhooks).toEqual([]);
    const mine = await t.app.inject({ method: "GET", url: `/api/v1/webhooks/${id}`, headers: headers() });
    expect(mine.json().data).toMatchObject({ url: "https://hooks.example.com/mine", enabled: true });
  });

  it(`allows at most ${MAX_ENDPOINTS_PER_APP} endpoints per app (409 after that)`, async () => {
    const tenant = await t.createTenant("many");
    for (let i = 0; i < MAX_ENDPOINTS_PER_APP; i++) {
      const res = await t.app.inject({ method: "POST", url: "/api/v1/webhooks", headers: { "x-api-key": tenant.apiKey }, payload: { url: `https://hooks.example.com/${i}` } });
      expect(res.statusCode).toBe(201);
    }
    const over = await t.app.inject({ method: "POST", url: "/api/v1/webhooks", headers: { "x-api-key": tenant.apiKey }, payload: { url: "https://hooks.example.com/over" } });
    expect(over.statusCode).toBe(409);
    expect(over.json().code).toBe("CONFLICT");
  });
});

describe("bodiless POSTs", () => {
  it("rotate-secret, test and redeliver accept a request with no body at all", async () => {
    const { id } = (await create({ url: "https://hooks.example.com/bodiless" })).json().data;
    const rotated = await t.app.inject({ method: "POST", url: `/api/v1/webhooks/${id}/rotate-secret`, headers: headers() });
    expect(rotated.statusCode, rotated.body).toBe(200);
    const tested = await t.app.inject({ method: "POST", url: `/api/v1/webhooks/${id}/test`, headers: headers() });
    expect(tested.statusCode, tested.body).toBe(200);
    const redelivered = await t.app.inject({ method: "POST", url: `/api/v1/webhooks/deliveries/${tested.json().data.deliveryId}/redeliver`, headers: headers() });
    expect(redelivered.statusCode, redelivered.body).toBe(200);
  });
});
