/**
 * What operators manage inside an app (API.md §9): MFA policies (CRUD), webhook endpoints
 * through the webhooks feature's own service (a test event really reaches a receiver and
 * shows up in the deliveries, redelivery sends it again), and end users' factors — listed
 * without secrets, reset one by one with the same events the channels emit, and the
 * per-destination OTP lock lifted.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureEndUser } from "../../../src/features/users/users.repository.ts";
import { newId } from "../../../src/shared/ids.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { capturingSms } from "../otp/otp-fakes.ts";
import { referenceTotp } from "../totp/reference-totp.ts";
import { startReceiver, type Receiver } from "../webhooks/webhook-receiver.ts";
import { auditRows, call, operator, type TestOperator } from "./admin-fixtures.ts";

const sms = capturingSms();
let t: TestApp;
let owner: TestOperator;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  t = await createTestApp({
    deps: { sms, webhooks: { retryScheduleMs: [50, 50], pollIntervalMs: 50 } },
    env: { WEBHOOK_ALLOW_PRIVATE: "true" },
  });
  owner = await operator(t, "owner");
});
afterAll(async () => {
  await t?.close();
  await receiver?.close();
});

const api = (method: "GET" | "POST" | "DELETE", url: string, payload?: unknown) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: { "x-api-key": t.apiKey }, ...(payload === undefined ? {} : { payload: payload as object }) });

async function eventTypes(): Promise<string[]> {
  const rows = await t.database.db.prisma.event.findMany({ where: { appId: t.appId }, orderBy: { createdAt: "asc" } });
  return rows.map((r) => r.type);
}

describe("policies", () => {
  it("create, list (highest priority first, paged), update, delete", async () => {
    const create = (body: Record<string, unknown>) => call(t, owner, "POST", `/apps/${t.appId}/policies`, body);
    const low = await create({ name: "로그인", requiredChannels: ["totp"] });
    expect(low.statusCode, low.body).toBe(201);
    expect(low.json().data).toEqual({
      id: expect.stringMatching(/^pol_/),
      appId: t.appId,
      name: "로그인",
      enabled: true,
      priority: 0,
      match: {},
      requiredChannels: ["totp"],
      withinSeconds: 300,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const high = await create({ name: "결제 시 추가 인증", priority: 10, match: { purposes: ["payment"], minAmount: 100000, ipCidrs: ["203.0.113.0/24", "2001:db8::/32"] }, requiredChannels: ["totp", "webauthn"], withinSeconds: 120 });
    expect(high.statusCode, high.body).toBe(201);

    const list = (await call(t, owner, "GET", `/apps/${t.appId}/policies`)).json().data;
    expect(list.policies.map((p: { name: string }) => p.name)).toEqual(["결제 시 추가 인증", "로그인"]);
    const page1 = (await call(t, owner, "GET", `/apps/${t.appId}/policies?limit=1`)).json().data;
    const page2 = (await call(t, owner, "GET", `/apps/${t.appId}/policies?limit=1&cursor=${page1.nextCursor}`)).json().data;
    expect([...page1.policies, ...page2.policies].map((p: { id: string }) => p.id)).toEqual(list.policies.map((p: { id: string }) => p.id));
    expect(page2.nextCursor).toBeNull();

    const id = low.json().data.id as string;
    const updated = await call(t, owner, "PATCH", `/policies/${id}`, { enabled: false, priority: 20 });
    expect(updated.statusCode, updated.body).toBe(200);
    expect(updated.json().data).toMatchObject({ id, enabled: false, priority: 20, name: "로그인" });
    const deleted = await call(t, owner, "DELETE", `/policies/${id}`);
    expect(deleted.json().data).toEqual({ id, deleted: true });
    expect((await call(t, owner, "DELETE", `/policies/${id}`)).statusCode).toBe(404);
    expect((await call(t, owner, "PATCH", `/policies/${id}`, { enabled: true })).statusCode).toBe(404);
    await auditRows(t, { action: { in: ["admin.policies.create", "admin.policies.update", "admin.policies.delete"] }, outcome: "success" }, 4);
  });

  it.each([
    ["no channels", { name: "x", requiredChannels: [] }, "body.requiredChannels"],
    ["an unknown channel", { name: "x", requiredChannels: ["fax"] }, "body.requiredChannels.0"],
    ["a bad CIDR", { name: "x", requiredChannels: ["sms"], match: { ipCidrs: ["300.1.1.1/8"] } }, "body.match.ipCidrs.0"],
    ["an unknown match field", { name: "x", requiredChannels: ["sms"], match: { country: "KR" } }, "body.match.country"],
  ])("refuses %s with 400 naming the field", async (_name, body, field) => {
    const res = await call(t, owner, "POST", `/apps/${t.appId}/policies`, body);
    expect(res.statusCode, res.body).toBe(400);
    expect((res.json().details as Array<{ field: string }>).map((d) => d.field)).toContain(field);
  });
});

describe("webhooks via the admin API", () => {
  it("create (secret once), list, test event delivered and listed, redeliver, update, delete", async () => {
    const created = await call(t, owner, "POST", `/apps/${t.appId}/webhooks`, { url: receiver.url, events: ["totp.disabled"] });
    expect(created.statusCode, created.body).toBe(201);
    const endpoint = created.json().data;
    expect(endpoint).toMatchObject({ id: expect.stringMatching(/^whk_/), url: receiver.url, secret: expect.stringMatching(/^whsec_/) });
    const list = await call(t, owner, "GET", `/apps/${t.appId}/webhooks`);
    expect(list.json().data.webhooks.map((w: { id: string }) => w.id)).toContain(endpoint.id);
    expect(list.body).not.toContain(endpoint.secret);

    const test = await call(t, owner, "POST", `/webhooks/${endpoint.id}/test`);
    expect(test.statusCode, test.body).toBe(200);
    const { deliveryId, eventId } = test.json().data;
    const [received] = await receiver.waitFor(1);
    expect(received!.headers["x-securekey-delivery"]).toBe(deliveryId);
    expect(JSON.parse(received!.rawBody.toString("utf8"))).toMatchObject({ id: eventId, event: "webhook.test" });

    let deliveries: Array<{ id: string; status: string; attempts: unknown[] }> = [];
    for (let i = 0; i < 40 && deliveries[0]?.status !== "succeeded"; i++) {
      deliveries = (await call(t, owner, "GET", `/webhooks/${endpoint.id}/deliveries`)).json().data.deliveries;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]).toMatchObject({ id: deliveryId, status: "succeeded", attempts: [expect.objectContaining({ statusCode: 200 })] });

    const again = await call(t, owner, "POST", `/deliveries/${deliveryId}/redeliver`);
    expect(again.statusCode, again.body).toBe(200);
    await receiver.waitFor(2);
    expect(receiver.requests[1]!.headers["x-securekey-delivery"]).toBe(deliveryId);

    const patched = await call(t, owner, "PATCH", `/webhooks/${endpoint.id}`, { description: "ops", enabled: false });
    expect(patched.json().data).toMatchObject({ description: "ops", enabled: false });
    expect((await call(t, owner, "POST", `/webhooks/${endpoint.id}/test`)).statusCode).toBe(409);
    expect((await call(t, owner, "DELETE", `/webhooks/${endpoint.id}`)).json().data).toEqual({ id: endpoint.id, deleted: true });
    expect((await call(t, owner, "GET", `/webhooks/${endpoint.id}/deliveries`)).statusCode).toBe(404);
    expect((await call(t, owner, "POST", `/deliveries/${deliveryId}/redeliver`)).statusCode).toBe(404);
  });

  it("bad input is a 400 from the webhooks feature's own rules", async () => {
    const res = await call(t, owner, "POST", `/apps/${t.appId}/webhooks`, { url: "ftp://example.com/x" });
    expect(res.statusCode).toBe(400);
    expect(res.json().details).toEqual([{ field: "body.url", message: expect.any(String) }]);
    expect((await call(t, owner, "POST", `/apps/${t.appId}/webhooks`, { url: receiver.url, secret: "short" })).statusCode).toBe(400);
  });
});

describe("end users' factors", () => {
  const userId = "user-42";

  async function enrolEverything() {
    const setup = await api("POST", "/totp/setup", { userId });
    expect(setup.statusCode, setup.body).toBe(200);
    const secret = setup.json().data.secret as string;
    const verify = await api("POST", "/totp/verify", { userId, token: referenceTotp(secret, Date.now()) });
    expect(verify.json().data).toMatchObject({ verified: true, activated: true });
    const codes = await api("POST", "/totp/backup-codes", { userId });
    expect(codes.statusCode).toBe(200);
    const device = await api("POST", "/push/devices", { userId, fcmToken: `fcm-${randomBytes(8).toString("hex")}`, platform: "android", deviceName: "Pixel" });
    expect(device.statusCode, device.body).toBe(201);
    const endUser = await ensureEndUser(t.database.db.prisma, t.appId, userId);
    const credentialId = randomBytes(16).toString("base64url");
    const publicKey = randomBytes(77);
    await t.database.db.prisma.webauthnCredential.create({
      data: { id: newId("wac"), appId: t.appId, endUserId: endUser.id, credentialId, publicKey, transports: ["internal"], deviceName: "MacBook" },
    });
    return { secret, codes: codes.json().data.backupCodes as string[], deviceToken: device.json().data.deviceToken as string, credentialId, publicKey };
  }

  it("lists TOTP state, backup codes left, passkeys and devices — never a secret", async () => {
    const enrolled = await enrolEverything();
    const res = await call(t, owner, "GET", `/apps/${t.appId}/users/${userId}/factors`);
    expect(res.statusCode, res.body).toBe(200);
    const data = res.json().data;
    expect(data).toMatchObject({
      userId,
      totp: { enabled: true, pending: false, backupCodesRemaining: 10 },
      webauthn: { credentials: [expect.objectContaining({ credentialId: enrolled.credentialId, deviceName: "MacBook" })] },
      push: { devices: [expect.objectContaining({ platform: "android", deviceName: "Pixel", active: true })] },
    });
    for (const secret of [enrolled.secret, enrolled.deviceToken, enrolled.publicKey.toString("base64"), enrolled.publicKey.toString("base64url")]) {
      expect(res.body).not.toContain(secret);
    }
    expect(res.body).not.toMatch(/fcm-/);

    const nobody = await call(t, owner, "GET", `/apps/${t.appId}/users/nobody/factors`);
    expect(nobody.json().data).toEqual({
      userId: "nobody",
      totp: { enabled: false, pending: false, createdAt: null, lastUsedAt: null, backupCodesRemaining: 0 },
      webauthn: { credentials: [] },
      push: { devices: [] },
    });
  });

  it("resets each factor, emitting the channels' own events; a second reset is a 404", async () => {
    const factors = () => call(t, owner, "GET", `/apps/${t.appId}/users/${userId}/factors`).then((r) => r.json().data);
    const reset = (factor: string) => call(t, owner, "DELETE", `/apps/${t.appId}/users/${userId}/factors/${factor}`);

    const codes = await reset("backup_codes");
    expect(codes.statusCode, codes.body).toBe(200);
    expect(codes.json().data).toEqual({ userId, factor: "backup_codes", removed: 10 });
    expect((await factors()).totp).toMatchObject({ enabled: true, backupCodesRemaining: 0 });

    const totp = await reset("totp");
    expect(totp.json().data).toEqual({ userId, factor: "totp", removed: 1 });
    expect((await factors()).totp.enabled).toBe(false);
    expect(await eventTypes()).toContain("totp.disabled");
    expect((await api("GET", `/totp/status?userId=${userId}`)).json().data.enabled).toBe(false);

    const webauthn = await reset("webauthn");
    expect(webauthn.json().data).toEqual({ userId, factor: "webauthn", removed: 1 });
    expect(await eventTypes()).toContain("webauthn.removed");

    const push = await reset("push");
    expect(push.json().data).toEqual({ userId, factor: "push", removed: 1 });
    expect(await factors()).toMatchObject({ webauthn: { credentials: [] }, push: { devices: [] } });

    for (const factor of ["totp", "webauthn", "push", "backup_codes"]) {
      expect((await reset(factor)).statusCode, factor).toBe(404);
    }
    expect((await reset("sms")).statusCode).toBe(400);
    const rows = await auditRows(t, { action: "admin.users.reset_factor", target: userId, outcome: "success" }, 4);
    expect(rows.map((r) => (r.details as { factor: string }).factor).sort()).toEqual(["backup_codes", "push", "totp", "webauthn"]);
  });

  it("known-devices: a device trusted by an allowed MFA check is new again after the reset", async () => {
    // An app of its own, so no other test's policies (or their 2 s cache) are involved.
    const tenant = await t.createTenant("known devices");
    const user = "user-known-devices";
    await t.database.db.prisma.policy.create({
      data: { id: newId("pol"), appId: tenant.appId, name: "new device", match: { newDevice: true }, requiredChannels: ["totp"] },
    });
    const check = () => t.app.inject({ method: "POST", url: "/api/v1/mfa/check", headers: { "x-api-key": tenant.apiKey }, payload: { userId: user, purpose: "login", context: { deviceId: "laptop-1" } } });
    expect((await check()).statusCode).toBe(403);
    // As if the user had passed a check on this device (an allowed check remembers it).
    await t.database.db.prisma.mfaKnownDevice.create({ data: { appId: tenant.appId, externalUserId: user, deviceId: "laptop-1" } });
    expect((await check()).statusCode).toBe(200);

    const reset = await call(t, owner, "DELETE", `/apps/${tenant.appId}/users/${user}/factors/known-devices`);
    expect(reset.statusCode, reset.body).toBe(200);
    expect(reset.json().data).toEqual({ userId: user, factor: "known-devices", removed: 1 });
    expect((await check()).statusCode).toBe(403);
    expect((await call(t, owner, "DELETE", `/apps/${tenant.appId}/users/${user}/factors/known-devices`)).statusCode).toBe(404);
  });

  it("?credentialId= and ?deviceId= remove one passkey or device, and only the named user's", async () => {
    const user = "user-43";
    const endUser = await ensureEndUser(t.database.db.prisma, t.appId, user);
    const ids = [randomBytes(16).toString("base64url"), randomBytes(16).toString("base64url")];
    for (const credentialId of ids) {
      await t.database.db.prisma.webauthnCredential.create({ data: { id: newId("wac"), appId: t.appId, endUserId: endUser.id, credentialId, publicKey: randomBytes(77), transports: [] } });
    }
    const devices = [];
    for (let i = 0; i < 2; i++) {
      devices.push((await api("POST", "/push/devices", { userId: user, fcmToken: `fcm-${randomBytes(8).toString("hex")}`, platform: "ios" })).json().data.deviceId as string);
    }
    const base = `/apps/${t.appId}/users/${user}/factors`;
    expect((await call(t, owner, "DELETE", `/apps/${t.appId}/users/someone-else/factors/webauthn?credentialId=${ids[0]}`)).statusCode).toBe(404);
    const one = await call(t, owner, "DELETE", `${base}/webauthn?credentialId=${ids[0]}`);
    expect(one.json().data).toEqual({ userId: user, factor: "webauthn", removed: 1 });
    const device = await call(t, owner, "DELETE", `${base}/push?deviceId=${devices[0]}`);
    expect(device.json().data).toEqual({ userId: user, factor: "push", removed: 1 });
    const left = (await call(t, owner, "GET", base)).json().data;
    expect(left.webauthn.credentials.map((c: { credentialId: string }) => c.credentialId)).toEqual([ids[1]]);
    expect(left.push.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual([devices[1]]);
  });

  it("destination-lock: the path names the phone (any form the OTP channel takes); sends work again", async () => {
    const e164 = "+821055556666";
    const until = new Date(Date.now() + 24 * 60 * 60 * 1000);
    await t.database.db.prisma.destinationGuard.create({ data: { appId: t.appId, channel: "sms", destination: e164, consecutiveFailures: 0, lockedUntil: until } });
    const locked = await api("POST", "/otp/send", { phone: "01055556666" });
    expect(locked.statusCode).toBe(423);

    const res = await call(t, owner, "DELETE", `/apps/${t.appId}/users/010-5555-6666/factors/destination-lock`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toEqual({ userId: "+82******6666", factor: "destination-lock", removed: 1 });
    expect(await t.database.db.prisma.destinationGuard.findFirst({ where: { destination: e164 } })).toMatchObject({ lockedUntil: null, consecutiveFailures: 0 });
    expect((await api("POST", "/otp/send", { phone: "01055556666" })).statusCode).toBe(200);
    expect((await call(t, owner, "DELETE", `/apps/${t.appId}/users/${encodeURIComponent(e164)}/factors/destination-lock`)).statusCode).toBe(404);
  });

  it("destination-lock for an email, lower-cased as the email channel stores it; a non-destination is a 400", async () => {
    await t.database.db.prisma.destinationGuard.create({ data: { appId: t.appId, channel: "email", destination: "alice@example.com", consecutiveFailures: 42 } });
    const res = await call(t, owner, "DELETE", `/apps/${t.appId}/users/Alice@Example.com/factors/destination-lock`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data.userId).toBe("a***@example.com");
    expect((await call(t, owner, "DELETE", `/apps/${t.appId}/users/not-a-destination/factors/destination-lock`)).statusCode).toBe(400);
  });
});
