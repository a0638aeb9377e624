/**
 * Attacks on push approval (API.md §1, §4.5):
 * - a phone of user A answers user B's request; another tenant answers ours (403 / 404);
 * - a device token is tried as an API key, a publishable key tries to answer;
 * - a stolen device token (or a compromised relay) answers for a device that signs its answers:
 *   unsigned, stale (±300 s), forged or tampered answers are refused and change nothing;
 * - ten concurrent answers race for one request: exactly one wins;
 * - push fatigue: ten concurrent sends cannot create more than 3 pending requests, and 3
 *   denials in 10 minutes stop further sends (429 RATE_LIMITED, event push.fatigue_suspected).
 */
import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keysRepository } from "../../../src/features/keys/keys.repository.ts";
import { createApiKey } from "../../../src/features/keys/keys.service.ts";
import { ManualClock } from "../../../src/infra/clock.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { api, eventsOf, Phone, RecordingPushSender, registerDevice, unixSeconds } from "./push.fixtures.ts";

let t: TestApp;
const clock = new ManualClock(new Date());
let n = 0;
const nextUser = () => `sec_user_${++n}`;

beforeAll(async () => {
  t = await createTestApp({ clock, deps: { push: new RecordingPushSender() } });
});
afterAll(async () => t?.close());

async function pendingRequest(userId: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await api(t).send({ userId, ...body });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data.requestId;
}

async function statusOf(requestId: string): Promise<string> {
  return (await api(t).verify({ requestId })).json().data.status;
}

describe("who may answer", () => {
  it("a device token of user A cannot answer user B's request (403) and nothing changes", async () => {
    const alice = nextUser();
    const bob = nextUser();
    const alicePhone = await registerDevice(t, { userId: alice, fcmToken: `${alice}-p` });
    await registerDevice(t, { userId: bob, fcmToken: `${bob}-p` });
    const requestId = await pendingRequest(bob);
    const res = await api(t).respondAsDevice(alicePhone.deviceToken, { requestId, action: "approve" });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ success: false, code: "FORBIDDEN", data: { reason: "wrong_device" } });
    expect(await statusOf(requestId)).toBe("pending");
  });

  it("a device token never works as an API key", async () => {
    const userId = nextUser();
    const { deviceToken } = await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const requestId = await pendingRequest(userId);
    for (const headers of [{ "x-api-key": deviceToken }, { authorization: `Bearer ${deviceToken}` }]) {
      for (const [method, url, payload] of [
        ["GET", "/api/v1/app", undefined],
        ["POST", "/api/v1/push/send", { userId }],
        ["POST", "/api/v1/push/verify", { requestId }],
        ["GET", `/api/v1/push/devices?userId=${userId}`, undefined],
        ["POST", "/api/v1/push/respond", { requestId, action: "approve" }],
      ] as const) {
        const res = await t.app.inject({ method, url, payload, headers });
        expect(res.statusCode, `${method} ${url} with ${Object.keys(headers)[0]}`).toBe(401);
        expect(res.json().code).toBe("UNAUTHORIZED");
      }
    }
    expect(await statusOf(requestId)).toBe("pending");
  });

  it("an unknown or malformed device token is 401; no credential at all is 401", async () => {
    const userId = nextUser();
    await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const requestId = await pendingRequest(userId);
    for (const token of ["pdt_" + "A".repeat(43), "garbage", t.apiKey]) {
      expect((await api(t).respondAsDevice(token, { requestId, action: "approve" })).statusCode).toBe(401);
    }
    const bare = await t.app.inject({ method: "POST", url: "/api/v1/push/respond", payload: { requestId, action: "approve" } });
    expect(bare.statusCode).toBe(401);
    expect(await statusOf(requestId)).toBe("pending");
  });

  it("a publishable key may verify (API.md §7) but not answer or send", async () => {
    const userId = nextUser();
    await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const requestId = await pendingRequest(userId);
    const { key } = await createApiKey(keysRepository(t.database.db.prisma), { appId: t.appId, kind: "publishable" });
    const headers = { "x-api-key": key };
    expect((await t.app.inject({ method: "POST", url: "/api/v1/push/verify", payload: { requestId }, headers })).statusCode).toBe(200);
    expect((await t.app.inject({ method: "POST", url: "/api/v1/push/respond", payload: { requestId, action: "approve" }, headers })).statusCode).toBe(403);
    expect((await t.app.inject({ method: "POST", url: "/api/v1/push/send", payload: { userId }, headers })).statusCode).toBe(403);
    expect((await t.app.inject({ method: "GET", url: `/api/v1/push/requests/${requestId}`, headers })).statusCode).toBe(403);
    expect(await statusOf(requestId)).toBe("pending");
  });

  it("another tenant's key and devices cannot see or answer our requests (404)", async () => {
    const userId = nextUser();
    await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const requestId = await pendingRequest(userId);
    const other = await t.createTenant();
    const theirs = await t.app.inject({ method: "POST", url: "/api/v1/push/devices", payload: { userId, fcmToken: `${userId}-p`, platform: "ios" }, headers: { "x-api-key": other.apiKey } });
    expect(theirs.statusCode).toBe(201);
    const headers = { "x-api-key": other.apiKey };
    expect((await t.app.inject({ method: "POST", url: "/api/v1/push/respond", payload: { requestId, action: "approve" }, headers })).statusCode).toBe(404);
    expect((await t.app.inject({ method: "POST", url: "/api/v1/push/verify", payload: { requestId }, headers })).statusCode).toBe(404);
    expect((await api(t).respondAsDevice(theirs.json().data.deviceToken, { requestId, action: "approve" })).statusCode).toBe(404);
    expect(await statusOf(requestId)).toBe("pending");
  });
});

describe("signed answers", () => {
  async function signedDevice(publicKey: unknown) {
    const userId = nextUser();
    const device = await registerDevice(t, { userId, fcmToken: `${userId}-p`, publicKey });
    return { userId, ...device };
  }

  it.each([
    ["a JWK object", (p: Phone) => p.jwk()],
    ["a JWK as a JSON string", (p: Phone) => JSON.stringify(p.jwk())],
    ["base64 SPKI", (p: Phone) => p.spkiBase64()],
    ["PEM", (p: Phone) => p.publicKey.export({ format: "pem", type: "spki" }) as string],
  ])("a key registered as %s verifies DER and raw r||s signatures", async (_name, form) => {
    const phone = new Phone();
    const { userId, deviceToken } = await signedDevice(form(phone));
    expect((await api(t).call("GET", `/push/devices?userId=${userId}`)).json().data.devices[0].signed).toBe(true);
    for (const encoding of ["der", "ieee-p1363"] as const) {
      const requestId = await pendingRequest(userId);
      const timestamp = unixSeconds(clock.now());
      const signature = phone.sign({ requestId, action: "approve", timestamp }, encoding);
      const res = await api(t).respondAsDevice(deviceToken, { requestId, action: "approve", signature, timestamp });
      expect(res.statusCode, `${encoding}: ${res.body}`).toBe(200);
      expect(res.json().data.status).toBe("approved");
    }
  });

  it("signs matchNumber and action as sent (`response` signs as its action)", async () => {
    const phone = new Phone();
    const { userId, deviceToken } = await signedDevice(phone.jwk());
    const { requestId, matchNumber } = (await api(t).send({ userId, numberMatching: true })).json().data;
    const timestamp = unixSeconds(clock.now());
    const signature = phone.sign({ requestId, action: "approve", matchNumber, timestamp });
    const res = await api(t).respondAsDevice(deviceToken, { response: "approve", matchNumber, signature, timestamp }, `/push/${requestId}/respond`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data.status).toBe("approved");
  });

  it.each([
    ["no signature", () => ({}), "signature_required"],
    ["a signature without timestamp", (s: Signer) => ({ signature: s.sign("approve", s.now) }), "signature_required"],
    ["a timestamp 301 s old", (s: Signer) => ({ signature: s.sign("approve", s.now - 301), timestamp: s.now - 301 }), "signature_stale"],
    ["a timestamp 301 s ahead", (s: Signer) => ({ signature: s.sign("approve", s.now + 301), timestamp: s.now + 301 }), "signature_stale"],
    ["another key's signature", (s: Signer) => ({ signature: new Phone().sign({ requestId: s.requestId, action: "approve", timestamp: s.now }), timestamp: s.now }), "signature_invalid"],
    ["a signed deny sent as approve", (s: Signer) => ({ signature: s.sign("deny", s.now), timestamp: s.now }), "signature_invalid"],
    ["a signature for another request", (s: Signer) => ({ signature: s.phone.sign({ requestId: "push_other", action: "approve", timestamp: s.now }), timestamp: s.now }), "signature_invalid"],
    ["a signed timestamp changed in the body", (s: Signer) => ({ signature: s.sign("approve", s.now), timestamp: s.now + 1 }), "signature_invalid"],
    ["garbage", (s: Signer) => ({ signature: "not base64!", timestamp: s.now }), "signature_invalid"],
  ])("%s → 403 and nothing changes", async (_name, fields, reason) => {
    const phone = new Phone();
    const { userId, deviceToken } = await signedDevice(phone.jwk());
    const requestId = await pendingRequest(userId);
    const now = unixSeconds(clock.now());
    const signer: Signer = { phone, requestId, now, sign: (action, timestamp) => phone.sign({ requestId, action, timestamp }) };
    const res = await api(t).respondAsDevice(deviceToken, { requestId, action: "approve", ...fields(signer) });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: "FORBIDDEN", data: { reason } });
    expect(await statusOf(requestId)).toBe("pending");
    expect((await eventsOf(t, "push.approved")).filter((e) => e.data.requestId === requestId)).toEqual([]);
  });

  it("a signed timestamp within ±300 s of the server's clock is accepted", async () => {
    const phone = new Phone();
    const { userId, deviceToken } = await signedDevice(phone.jwk());
    const requestId = await pendingRequest(userId);
    const timestamp = unixSeconds(clock.now()) - 299;
    const res = await api(t).respondAsDevice(deviceToken, { requestId, action: "deny", signature: phone.sign({ requestId, action: "deny", timestamp }), timestamp });
    expect(res.statusCode).toBe(200);
  });

  it("a backend relaying for a signing device must relay its signature too", async () => {
    const phone = new Phone();
    const { userId, deviceId } = await signedDevice(phone.jwk());
    const requestId = await pendingRequest(userId);
    const unsigned = await api(t).call("POST", "/push/respond", { requestId, action: "approve", deviceId });
    expect(unsigned.statusCode).toBe(403);
    const timestamp = unixSeconds(clock.now());
    const signature = phone.sign({ requestId, action: "approve", timestamp });
    const withoutDevice = await api(t).call("POST", "/push/respond", { requestId, action: "approve", signature, timestamp });
    expect(withoutDevice.statusCode).toBe(400);
    expect(await statusOf(requestId)).toBe("pending");
    const relayed = await api(t).call("POST", "/push/respond", { requestId, action: "approve", signature, timestamp, deviceId });
    expect(relayed.statusCode).toBe(200);
  });

  it.each([
    ["a P-384 key", () => generateEc("P-384")],
    ["a private JWK", () => JSON.stringify(new Phone().privateKey.export({ format: "jwk" }))],
    ["an RSA key", () => generateRsaSpki()],
  ])("registering %s as publicKey is 400", async (_name, key) => {
    const userId = nextUser();
    const res = await api(t).registerDevice({ userId, fcmToken: `${userId}-p`, platform: "ios", publicKey: key() });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("VALIDATION_ERROR");
  });
});

interface Signer {
  phone: Phone;
  requestId: string;
  now: number;
  sign(action: string, timestamp: number): string;
}

function generateEc(curve: string): Record<string, unknown> {
  return generateKeyPairSync("ec", { namedCurve: curve }).publicKey.export({ format: "jwk" }) as Record<string, unknown>;
}
function generateRsaSpki(): string {
  return generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "der", type: "spki" }).toString("base64");
}

describe("races", () => {
  it("ten concurrent answers: exactly one wins, the rest are 409, one event", async () => {
    const userId = nextUser();
    const device = await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const requestId = await pendingRequest(userId);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      i % 2 === 0
        ? api(t).respondAsDevice(device.deviceToken, { requestId, action: i % 4 === 0 ? "approve" : "deny" })
        : api(t).call("POST", `/push/${requestId}/respond`, { action: "approve" }),
    ));
    const statuses = answers.map((r) => r.statusCode).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(9);
    const decided = [...(await eventsOf(t, "push.approved")), ...(await eventsOf(t, "push.denied"))].filter((e) => e.data.requestId === requestId);
    expect(decided).toHaveLength(1);
    const final = await statusOf(requestId);
    expect(final).toBe(answers.find((r) => r.statusCode === 200)!.json().data.status);
  });
});

describe("push fatigue", () => {
  it("ten concurrent sends create exactly 3 pending requests; the rest are 429 with push.fatigue_suspected", async () => {
    const userId = nextUser();
    const device = await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const results = await Promise.all(Array.from({ length: 10 }, () => api(t).send({ userId })));
    const accepted = results.filter((r) => r.statusCode === 200);
    const refused = results.filter((r) => r.statusCode === 429);
    expect(accepted).toHaveLength(3);
    expect(refused).toHaveLength(7);
    for (const res of refused) {
      expect(res.json()).toMatchObject({ success: false, code: "RATE_LIMITED", data: { reason: "too_many_pending" } });
      expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
    }
    const rows = await t.database.db.query<{ count: number }>(
      "SELECT count(*)::int AS count FROM push_requests r JOIN end_users u ON u.id = r.end_user_id WHERE u.external_id = $1 AND r.status = 'pending'", [userId]);
    expect(rows[0]!.count).toBe(3);
    const events = (await eventsOf(t, "push.fatigue_suspected")).filter((e) => e.data.externalUserId === userId);
    expect(events).toHaveLength(7);
    expect(events[0]).toMatchObject({ channel: "push", data: { reason: "too_many_pending", pendingRequests: 3 } });

    // Answering one makes room for one more.
    await api(t).respondAsDevice(device.deviceToken, { requestId: accepted[0]!.json().data.requestId, action: "approve" });
    expect((await api(t).send({ userId })).statusCode).toBe(200);
    expect((await api(t).send({ userId })).statusCode).toBe(429);
  });

  it("3 denials in 10 minutes refuse further sends until the window passes", async () => {
    const userId = nextUser();
    const device = await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    for (let i = 0; i < 3; i++) {
      const requestId = await pendingRequest(userId);
      expect((await api(t).respondAsDevice(device.deviceToken, { requestId, action: "deny" })).statusCode).toBe(200);
      clock.advance(60_000);
    }
    const refused = await api(t).send({ userId });
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ code: "RATE_LIMITED", data: { reason: "too_many_denials" } });
    // The first denial leaves the 10-minute window 7 minutes from now.
    expect(Number(refused.headers["retry-after"])).toBe(420);
    const [event] = (await eventsOf(t, "push.fatigue_suspected")).filter((e) => e.data.externalUserId === userId);
    expect(event).toMatchObject({ data: { reason: "too_many_denials", recentDenials: 3 } });

    clock.advance(7 * 60_000 + 1000);
    expect((await api(t).send({ userId })).statusCode).toBe(200);
  });
});
