/**
 * Idempotency-Key (API.md §6): replay, reuse with another body, concurrent duplicates, 5xx not
 * stored, per-app keys — on a real database, with a route that counts how often it really ran.
 */
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appsRepository } from "../../src/features/apps/apps.repository.ts";
import { createApp } from "../../src/features/apps/apps.service.ts";
import { ManualClock } from "../../src/infra/clock.ts";
import { installErrorHandling } from "../../src/infra/errors.ts";
import { ABANDONED_CLAIM_MS, IDEMPOTENCY_TTL_MS, fingerprintOf, installIdempotency } from "../../src/infra/idempotency.ts";
import { idempotencyRepository } from "../../src/infra/idempotency.repository.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/databases.ts";

let database: TestDatabase;
let app: FastifyInstance;
const clock = new ManualClock(new Date("2026-11-22T07:00:00Z"));
let performed = 0;
let appA: string;
let appB: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const apps = appsRepository(database.db.prisma);
  appA = (await createApp(apps, { name: "A" })).id;
  appB = (await createApp(apps, { name: "B" })).id;
  app = Fastify();
  installErrorHandling(app);
  app.decorateRequest("auth", null);
  app.addHook("onRequest", async (request) => {
    request.auth = { appId: String(request.headers["x-app"]), keyId: "key", keyKind: "secret" };
  });
  installIdempotency(app, idempotencyRepository(database.db.prisma), clock);
  app.post("/send", async (request, reply) => {
    performed++;
    const body = request.body as { slow?: number; fail?: boolean };
    if (body.slow) await new Promise((r) => setTimeout(r, body.slow));
    if (body.fail) throw new Error("provider exploded");
    reply.code(201);
    return { success: true, data: { n: performed } };
  });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

const post = (key: string | undefined, body: Record<string, unknown>, appId = appA) =>
  app.inject({ method: "POST", url: "/send", headers: { "x-app": appId, ...(key ? { "idempotency-key": key } : {}) }, payload: body });

describe("Idempotency-Key", () => {
  it("a repeat with the same body replays the first response without doing the work again", async () => {
    const before = performed;
    const first = await post("k-replay", { phone: "1", purpose: "login" });
    const again = await post("k-replay", { purpose: "login", phone: "1" });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.body).toBe(first.body);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(first.headers["idempotent-replayed"]).toBeUndefined();
    expect(performed - before).toBe(1);
  });

  it("the same key with a different body → 422 IDEMPOTENCY_KEY_REUSED, nothing done", async () => {
    await post("k-reuse", { phone: "1" });
    const before = performed;
    const res = await post("k-reuse", { phone: "2" });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ success: false, code: "IDEMPOTENCY_KEY_REUSED" });
    expect(performed).toBe(before);
  });

  it("two concurrent requests with one key: one performs, the other gets 409 CONFLICT; later repeats replay", async () => {
    const before = performed;
    const [a, b] = await Promise.all([post("k-race", { slow: 300 }), post("k-race", { slow: 300 })]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([201, 409]);
    expect([a, b].find((r) => r.statusCode === 409)!.json().code).toBe("CONFLICT");
    expect(performed - before).toBe(1);
    const later = await post("k-race", { slow: 300 });
    expect(later.statusCode).toBe(201);
    expect(later.headers["idempotent-replayed"]).toBe("true");
    expect(performed - before).toBe(1);
  });

  it("keys are per app", async () => {
    const before = performed;
    await post("k-shared", { x: 1 }, appA);
    const other = await post("k-shared", { x: 2 }, appB);
    expect(other.statusCode).toBe(201);
    expect(other.headers["idempotent-replayed"]).toBeUndefined();
    expect(performed - before).toBe(2);
  });

  it("a 5xx is not stored: the retry runs again", async () => {
    const before = performed;
    expect((await post("k-5xx", { fail: true })).statusCode).toBe(500);
    expect((await post("k-5xx", { fail: true })).statusCode).toBe(500);
    expect(performed - before).toBe(2);
  });

  it("after 24 h the key is free again", async () => {
    const before = performed;
    await post("k-expire", { x: 1 });
    clock.advance(IDEMPOTENCY_TTL_MS + 1000);
    const res = await post("k-expire", { x: 1 });
    expect(res.headers["idempotent-replayed"]).toBeUndefined();
    expect(performed - before).toBe(2);
  });

  it("a claim abandoned by a crashed instance is taken over after a minute", async () => {
    await idempotencyRepository(database.db.prisma).claim({ appId: appA, key: "k-crash", requestHash: fingerprintOf("POST", "/send", { x: 1 }), createdAt: clock.now(), expiresAt: new Date(clock.now().getTime() + IDEMPOTENCY_TTL_MS) });
    expect((await post("k-crash", { x: 1 })).statusCode).toBe(409);
    clock.advance(ABANDONED_CLAIM_MS + 1000);
    expect((await post("k-crash", { x: 1 })).statusCode).toBe(201);
  });

  it("refuses a malformed key with 400 and does nothing; requests without a key are untouched", async () => {
    const before = performed;
    const res = await post("x".repeat(256), { x: 1 });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("VALIDATION_ERROR");
    expect(performed).toBe(before);
    await post(undefined, { x: 1 });
    await post(undefined, { x: 1 });
    expect(performed - before).toBe(2);
  });
});
