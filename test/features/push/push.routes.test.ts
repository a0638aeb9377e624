/**
 * Push approval through the real HTTP stack (API.md §4.5, §5): devices, sending, answering from
 * the phone or the backend, number matching, learning the answer, events. Long polls and the
 * SDK: push.long-poll.test.ts.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { api, eventsOf, RecordingPushSender, registerDevice } from "./push.fixtures.ts";

let t: TestApp;
let sender: RecordingPushSender;
let n = 0;
/** A fresh end user per test: fatigue limits and devices never leak between tests. */
const nextUser = () => `user_${++n}_${Date.now()}`;

beforeAll(async () => {
  sender = new RecordingPushSender();
  t = await createTestApp({ deps: { push: sender } });
});
afterAll(async () => t?.close());
beforeEach(() => {
  sender.sent.length = 0;
  sender.outcomes.clear();
});

describe("devices", () => {
  it("registers a phone: 201 with deviceId and a device token shown once, stored only as a hash", async () => {
    const userId = nextUser();
    const res = await api(t).registerDevice({ userId, fcmToken: "fcm-token-a", deviceName: "iPhone 15", platform: "ios" });
    expect(res.statusCode).toBe(201);
    const { deviceId, deviceToken } = res.json().data;
    expect(deviceId).toMatch(/^pdv_/);
    expect(deviceToken).toMatch(/^pdt_[A-Za-z0-9_-]{43}$/);
    const everything = JSON.stringify(await t.database.db.query("SELECT * FROM push_devices"));
    expect(everything).not.toContain(deviceToken);

    const [event] = (await eventsOf(t, "push.device_registered")).filter((e) => e.data.externalUserId === userId);
    expect(event).toMatchObject({ channel: "push", data: { externalUserId: userId, deviceId, platform: "ios", deviceName: "iPhone 15", signed: false } });
  });

  it("lists and removes a user's devices", async () => {
    const userId = nextUser();
    const first = await registerDevice(t, { userId, fcmToken: `${userId}-1`, deviceName: "Pixel 8" });
    const second = await registerDevice(t, { userId, fcmToken: `${userId}-2`, platform: "web" });
    const list = await api(t).call("GET", `/push/devices?userId=${userId}`);
    expect(list.statusCode).toBe(200);
    expect(list.json().data.devices).toEqual([
      { deviceId: first.deviceId, platform: "android", deviceName: "Pixel 8", active: true, signed: false, createdAt: expect.any(String), lastSeenAt: expect.any(String) },
      { deviceId: second.deviceId, platform: "web", deviceName: null, active: true, signed: false, createdAt: expect.any(String), lastSeenAt: expect.any(String) },
    ]);

    const removed = await api(t).call("DELETE", `/push/devices/${first.deviceId}`);
    expect(removed.statusCode).toBe(200);
    expect(removed.json().data).toEqual({ deleted: true, deviceId: first.deviceId });
    const after = await api(t).call("GET", `/push/devices?userId=${userId}`);
    expect(after.json().data.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual([second.deviceId]);
    expect((await api(t).call("DELETE", `/push/devices/${first.deviceId}`)).statusCode).toBe(404);
    // The removed device's token no longer answers anything.
    const sent = await api(t).send({ userId });
    const answer = await api(t).respondAsDevice(first.deviceToken, { requestId: sent.json().data.requestId, action: "approve" });
    expect(answer.statusCode).toBe(401);
  });

  it("re-registering the same fcmToken updates that device and revokes its old token", async () => {
    const userId = nextUser();
    const first = await registerDevice(t, { userId, fcmToken: `${userId}-same`, deviceName: "old name" });
    const again = await registerDevice(t, { userId, fcmToken: `${userId}-same`, deviceName: "new name", platform: "ios" });
    expect(again.deviceId).toBe(first.deviceId);
    expect(again.deviceToken).not.toBe(first.deviceToken);
    const list = (await api(t).call("GET", `/push/devices?userId=${userId}`)).json().data.devices;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ deviceName: "new name", platform: "ios" });

    const { requestId } = (await api(t).send({ userId })).json().data;
    expect((await api(t).respondAsDevice(first.deviceToken, { requestId, action: "approve" })).statusCode).toBe(401);
    expect((await api(t).respondAsDevice(again.deviceToken, { requestId, action: "approve" })).statusCode).toBe(200);
  });

  it("an unknown user has no devices; removing with another user's id is 404", async () => {
    const list = await api(t).call("GET", `/push/devices?userId=${nextUser()}`);
    expect(list.json().data).toEqual({ devices: [] });
    const userId = nextUser();
    const device = await registerDevice(t, { userId, fcmToken: `${userId}-x` });
    const res = await api(t).call("DELETE", `/push/devices/${device.deviceId}?userId=${nextUser()}`);
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe("NOT_FOUND");
  });

  it.each([
    ["no platform", { fcmToken: "x" }],
    ["an unknown platform", { fcmToken: "x", platform: "symbian" }],
    ["an empty fcmToken", { fcmToken: "", platform: "ios" }],
    ["a number as fcmToken", { fcmToken: 12345, platform: "ios" }],
    ["a publicKey that is not a key", { fcmToken: "x", platform: "ios", publicKey: "hello" }],
  ])("%s → 400 VALIDATION_ERROR", async (_name, body) => {
    const res = await api(t).registerDevice({ userId: nextUser(), ...body });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ success: false, code: "VALIDATION_ERROR" });
  });
});

describe("send, respond, verify", () => {
  it("sends to every active device with requestId, title, body and expiry in the data payload", async () => {
    const userId = nextUser();
    await registerDevice(t, { userId, fcmToken: `${userId}-phone` });
    await registerDevice(t, { userId, fcmToken: `${userId}-tablet` });
    const res = await api(t).send({ userId, title: "로그인 승인 요청", body: "새로운 기기에서 로그인을 시도합니다.", data: { orderId: "42" }, context: { ip: "203.0.113.9" } });
    expect(res.statusCode).toBe(200);
    const data = res.json().data;
    expect(data).toEqual({ requestId: expect.stringMatching(/^push_/), status: "pending", expiresAt: expect.any(String) });
    expect(new Date(data.expiresAt).getTime() - Date.now()).toBeGreaterThan(110_000);
    expect(sender.sent.map((m) => m.token).sort()).toEqual([`${userId}-phone`, `${userId}-tablet`]);
    for (const message of sender.sent) {
      expect(message.title).toBe("로그인 승인 요청");
      expect(message.data).toMatchObject({
        requestId: data.requestId,
        title: "로그인 승인 요청",
        body: "새로운 기기에서 로그인을 시도합니다.",
        expiresAt: data.expiresAt,
        numberMatching: "false",
        orderId: "42",
        context: JSON.stringify({ ip: "203.0.113.9" }),
      });
      for (const value of Object.values(message.data)) expect(typeof value).toBe("string");
    }
  });

  it("the device approves: verify says verified, events and a Verification row are written", async () => {
    const userId = nextUser();
    const device = await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const { requestId } = (await api(t).send({ userId, purpose: "payment" })).json().data;

    const pending = await api(t).verify({ requestId });
    expect(pending.json().data).toMatchObject({ verified: false, status: "pending", respondedAt: null });

    const answer = await api(t).respondAsDevice(device.deviceToken, { requestId, action: "approve" });
    expect(answer.statusCode).toBe(200);
    expect(answer.json().data).toEqual({ requestId, status: "approved", respondedAt: expect.any(String) });

    const verified = await api(t).verify({ requestId, userId });
    expect(verified.json()).toMatchObject({ success: true, data: { verified: true, status: "approved", respondedAt: answer.json().data.respondedAt } });
    const byGet = await api(t).call("GET", `/push/requests/${requestId}`);
    expect(byGet.json().data).toMatchObject({ verified: true, status: "approved" });

    const approved = (await eventsOf(t, "push.approved")).filter((e) => e.data.requestId === requestId);
    expect(approved).toEqual([expect.objectContaining({ channel: "push", data: expect.objectContaining({ externalUserId: userId, deviceId: device.deviceId, purpose: "payment" }) })]);
    const succeeded = (await eventsOf(t, "verification.succeeded")).filter((e) => e.data.requestId === requestId);
    expect(succeeded).toHaveLength(1);
    expect(succeeded[0]).toMatchObject({ channel: "push", data: { externalUserId: userId } });
    const rows = await t.database.db.query("SELECT channel, purpose, external_user_id FROM verifications WHERE reference = $1", [requestId]);
    expect(rows).toEqual([{ channel: "push", purpose: "payment", external_user_id: userId }]);
  });

  it("the backend relays a denial with its secret key, on /push/:requestId/respond with `response`", async () => {
    const userId = nextUser();
    await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const { requestId } = (await api(t).send({ userId })).json().data;
    const answer = await api(t).call("POST", `/push/${requestId}/respond`, { response: "deny" });
    expect(answer.statusCode).toBe(200);
    expect(answer.json().data).toMatchObject({ requestId, status: "denied", reason: "user_denied" });
    expect((await api(t).verify({ requestId })).json().data).toMatchObject({ verified: false, status: "denied", reason: "user_denied" });
    expect((await eventsOf(t, "push.denied")).filter((e) => e.data.requestId === requestId)).toHaveLength(1);
    expect((await eventsOf(t, "verification.failed")).filter((e) => e.data.requestId === requestId)).toEqual([
      expect.objectContaining({ channel: "push", data: expect.objectContaining({ externalUserId: userId, reason: "user_denied" }) }),
    ]);
  });

  it("a second answer is 409 CONFLICT and changes nothing", async () => {
    const userId = nextUser();
    const device = await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const { requestId } = (await api(t).send({ userId })).json().data;
    expect((await api(t).respondAsDevice(device.deviceToken, { requestId, action: "approve" })).statusCode).toBe(200);
    const again = await api(t).respondAsDevice(device.deviceToken, { requestId, action: "deny" });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ success: false, code: "CONFLICT" });
    expect((await api(t).verify({ requestId })).json().data).toMatchObject({ status: "approved" });
    expect((await eventsOf(t, "push.denied")).filter((e) => e.data.requestId === requestId)).toEqual([]);
  });

  it.each([
    ["no action", {}],
    ["an unknown action", { action: "maybe" }],
    ["action and response disagreeing", { action: "approve", response: "deny" }],
    ["a matchNumber that is not digits", { action: "approve", matchNumber: "ab" }],
  ])("respond with %s → 400 and nothing changes", async (_name, body) => {
    const userId = nextUser();
    const device = await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const { requestId } = (await api(t).send({ userId })).json().data;
    const res = await api(t).respondAsDevice(device.deviceToken, { requestId, ...body });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("VALIDATION_ERROR");
    expect((await api(t).verify({ requestId })).json().data.status).toBe("pending");
  });

  it("unknown request ids are 404 for respond, verify and GET", async () => {
    const userId = nextUser();
    const device = await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    expect((await api(t).respondAsDevice(device.deviceToken, { requestId: "push_nope", action: "approve" })).statusCode).toBe(404);
    const verify = await api(t).verify({ requestId: "push_nope" });
    expect(verify.statusCode).toBe(404);
    expect(verify.json()).toMatchObject({ code: "NOT_FOUND", data: { verified: false } });
    expect((await api(t).call("GET", "/push/requests/push_nope")).statusCode).toBe(404);
  });

  it("verify with another user's id is 404 (the request is not theirs)", async () => {
    const userId = nextUser();
    await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const { requestId } = (await api(t).send({ userId })).json().data;
    expect((await api(t).verify({ requestId, userId: nextUser() })).statusCode).toBe(404);
  });

  it("send to a user without an active device is 404 and creates nothing", async () => {
    const res = await api(t).send({ userId: nextUser() });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: "NOT_FOUND", data: { reason: "no_device" } });
    expect(sender.sent).toEqual([]);
  });

  it.each([
    ["timeoutSeconds over 600", { timeoutSeconds: 601 }],
    ["timeoutSeconds as a string", { timeoutSeconds: "60" }],
    ["a non-string data value", { data: { a: 1 } }],
    ["an FCM-reserved data key", { data: { "google.c.a": "x" } }],
    ["one of Latchkey's own data keys", { data: { requestId: "forged" } }],
    ["a payload over FCM's 4 KB", { body: "x".repeat(1000), data: Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`k${i}`, "y".repeat(1000)])) }],
  ])("send with %s → 400 and nothing is sent", async (_name, body) => {
    const userId = nextUser();
    await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const res = await api(t).send({ userId, ...body });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("VALIDATION_ERROR");
    expect(sender.sent).toEqual([]);
  });
});

describe("number matching", () => {
  it("answers a 2-digit matchNumber that no message to the phone reveals", async () => {
    const userId = nextUser();
    const device = await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const res = await api(t).send({ userId, numberMatching: true });
    const { requestId, matchNumber } = res.json().data;
    expect(matchNumber).toMatch(/^[1-9][0-9]$/);
    const [message] = sender.sent;
    expect(message!.data.numberMatching).toBe("true");
    expect(JSON.stringify(message).includes(`"${matchNumber}"`)).toBe(false);
    for (const value of [message!.title, message!.body, ...Object.values(message!.data)]) expect(value).not.toBe(matchNumber);

    const answer = await api(t).respondAsDevice(device.deviceToken, { requestId, action: "approve", matchNumber });
    expect(answer.json().data).toMatchObject({ status: "approved" });
  });

  it("accepts the number as a JSON number too", async () => {
    const userId = nextUser();
    const device = await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const { requestId, matchNumber } = (await api(t).send({ userId, numberMatching: true })).json().data;
    const answer = await api(t).respondAsDevice(device.deviceToken, { requestId, action: "approve", matchNumber: Number(matchNumber) });
    expect(answer.json().data.status).toBe("approved");
  });

  it("a wrong number records a denial with reason number_mismatch (200)", async () => {
    const userId = nextUser();
    const device = await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const { requestId, matchNumber } = (await api(t).send({ userId, numberMatching: true })).json().data;
    const wrong = matchNumber === "42" ? "43" : "42";
    const answer = await api(t).respondAsDevice(device.deviceToken, { requestId, action: "approve", matchNumber: wrong });
    expect(answer.statusCode).toBe(200);
    expect(answer.json().data).toMatchObject({ status: "denied", reason: "number_mismatch" });
    expect((await api(t).verify({ requestId })).json().data).toMatchObject({ verified: false, status: "denied", reason: "number_mismatch" });
    expect((await eventsOf(t, "push.denied")).filter((e) => e.data.requestId === requestId)).toEqual([
      expect.objectContaining({ data: expect.objectContaining({ reason: "number_mismatch", externalUserId: userId }) }),
    ]);
    // The right number afterwards changes nothing: the request is answered.
    expect((await api(t).respondAsDevice(device.deviceToken, { requestId, action: "approve", matchNumber })).statusCode).toBe(409);
  });

  it("approving without the number is 400 and leaves the request pending", async () => {
    const userId = nextUser();
    const device = await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const { requestId } = (await api(t).send({ userId, numberMatching: true })).json().data;
    const answer = await api(t).respondAsDevice(device.deviceToken, { requestId, action: "approve" });
    expect(answer.statusCode).toBe(400);
    expect((await api(t).verify({ requestId })).json().data.status).toBe("pending");
  });
});
