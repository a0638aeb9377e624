/**
 * Learning the answer (API.md §4.5): `verify` with `wait` on one instance (the in-process signal;
 * runs on PGlite — across instances: push.multi-instance.test.ts), the SDK's waitForApproval
 * against the real server the way a customer uses it, and long polls on shutdown.
 */
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TwoFactorClient } from "../../../src/sdk/index.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { api, RecordingPushSender, registerDevice } from "./push.fixtures.ts";

let t: TestApp;
let sender: RecordingPushSender;
let n = 0;
const nextUser = () => `poll_user_${++n}`;

beforeAll(async () => {
  sender = new RecordingPushSender();
  t = await createTestApp({ deps: { push: sender } });
});
afterAll(async () => t?.close());
beforeEach(() => {
  sender.sent.length = 0;
});

describe("long poll on one instance", () => {
  it("verify with wait returns as soon as the answer lands", async () => {
    const userId = nextUser();
    const device = await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const { requestId } = (await api(t).send({ userId })).json().data;
    const startedAt = Date.now();
    const polling = api(t).verify({ requestId, wait: 25 });
    await new Promise((r) => setTimeout(r, 300));
    expect((await api(t).respondAsDevice(device.deviceToken, { requestId, action: "approve" })).statusCode).toBe(200);
    const answeredAt = Date.now(); // the answer has landed (committed)
    const res = await polling;
    const returnedAt = Date.now();
    expect(res.json().data).toMatchObject({ verified: true, status: "approved" });
    expect(returnedAt - answeredAt).toBeLessThan(1000);
    expect(returnedAt - startedAt).toBeGreaterThanOrEqual(250);
  });

  it("a long poll that sees no change returns pending after its wait", async () => {
    const userId = nextUser();
    await registerDevice(t, { userId, fcmToken: `${userId}-p` });
    const { requestId } = (await api(t).send({ userId })).json().data;
    const startedAt = Date.now();
    const res = await api(t).verify({ requestId, wait: 1 });
    expect(res.json().data.status).toBe("pending");
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(900);
  });

  it("wait over 30 is a 400", async () => {
    const res = await api(t).verify({ requestId: "push_x", wait: 31 });
    expect(res.statusCode).toBe(400);
  });
});

describe("the SDK, as a customer uses it", () => {
  let client: TwoFactorClient;
  let baseUrl: string;
  beforeAll(async () => {
    await t.app.listen({ port: 0, host: "127.0.0.1" });
    baseUrl = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    client = new TwoFactorClient({ apiKey: t.apiKey, baseUrl });
  });

  it("registerDevice → send → the phone answers with its device token → waitForApproval resolves approved", async () => {
    const userId = nextUser();
    const { deviceId, deviceToken } = await client.push.registerDevice({ userId, fcmToken: `${userId}-sdk`, platform: "ios", deviceName: "iPhone 15" });
    expect((await client.push.listDevices(userId)).devices.map((d) => d.deviceId)).toEqual([deviceId]);
    const { requestId, status } = await client.push.send({ userId, title: "로그인 승인 요청" });
    expect(status).toBe("pending");

    const waiting = client.push.waitForApproval(requestId, { timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 200));
    // The mobile app: a client without any API key, answering with the device token.
    const phone = new TwoFactorClient({ baseUrl });
    const answered = await phone.push.respond(requestId, "approve", { deviceToken });
    expect(answered.status).toBe("approved");
    const result = await waiting;
    expect(result).toMatchObject({ verified: true, status: "approved" });
    expect((await client.push.verify(requestId)).verified).toBe(true);
  });

  it("waitForApproval returns the denial, and a second answer rejects with CONFLICT", async () => {
    const userId = nextUser();
    await client.push.registerDevice({ userId, fcmToken: `${userId}-sdk`, platform: "android" });
    const { requestId } = await client.push.send({ userId });
    await client.push.respond(requestId, "deny");
    expect(await client.push.waitForApproval(requestId, { timeoutMs: 5000 })).toMatchObject({ verified: false, status: "denied" });
    await expect(client.push.respond(requestId, "approve")).rejects.toMatchObject({ code: "CONFLICT", status: 409 });
  });

  it("waitForApproval gives back pending after its timeout without throwing", async () => {
    const userId = nextUser();
    await client.push.registerDevice({ userId, fcmToken: `${userId}-sdk`, platform: "android" });
    const { requestId } = await client.push.send({ userId });
    const result = await client.push.waitForApproval(requestId, { timeoutMs: 1500, pollWaitSeconds: 1 });
    expect(result.status).toBe("pending");
  });
});

describe("shutdown", () => {
  it("closing the server answers a waiting long poll at once instead of holding the close for its wait", async () => {
    const own = await createTestApp({ deps: { push: new RecordingPushSender() } });
    await registerDevice(own, { userId: "closing", fcmToken: "closing-p" });
    const { requestId } = (await api(own).send({ userId: "closing" })).json().data;
    await own.app.listen({ port: 0, host: "127.0.0.1" });
    const url = `http://127.0.0.1:${(own.app.server.address() as AddressInfo).port}/api/v1/push/verify`;
    const polling = fetch(url, { method: "POST", headers: { "x-api-key": own.apiKey, "content-type": "application/json" }, body: JSON.stringify({ requestId, wait: 25 }) });
    await new Promise((r) => setTimeout(r, 300));
    const closingAt = Date.now();
    await own.close();
    const res = await polling;
    expect(Date.now() - closingAt).toBeLessThan(3000);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: { status: string } }).data.status).toBe("pending");
  });
});
