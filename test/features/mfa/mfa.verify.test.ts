/**
 * `data.mfa` on successful verifies, through each channel's real verify route (API.md §8):
 * SMS, email, TOTP, WebAuthn (discoverable login: the user comes from the result) and push
 * polls that report approval. With the app's `mfa.requiredOnVerify`, a verify that leaves
 * required channels answers the 403 MFA_REQUIRED body instead, records `mfa.required`, and the
 * verification itself stays recorded (it counts towards the next check).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/infra/clock.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { SoftAuthenticator } from "../../helpers/soft-authenticator.ts";
import { capturingMailer, capturingSms, wrongCode } from "../otp/otp-fakes.ts";
import { RecordingPushSender } from "../push/push.fixtures.ts";
import { MID_STEP } from "../totp/reference-totp.ts";
import { check, eventsOf, mfaRequiredBody, post, setupTotp, tenantWithPolicies, verificationsOf, verifyTotp, type Tenant } from "./mfa-fixtures.ts";

const clock = new ManualClock(MID_STEP);
const sms = capturingSms();
const mailer = capturingMailer();
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ clock, deps: { sms, mailer, push: new RecordingPushSender() } });
});
afterAll(async () => t?.close());

let phones = 0;
/** A fresh Korean mobile number (domestic form, E.164 form). */
function freshPhone(): { domestic: string; e164: string } {
  const n = String(20_000_000 + ++phones * 7919).slice(-8);
  return { domestic: `010${n}`, e164: `+8210${n}` };
}

async function smsCode(tenant: Tenant, phone: { domestic: string; e164: string }, purpose: string, userId?: string): Promise<string> {
  const sent = await post(t, tenant.apiKey, "/otp/send", { phone: phone.domestic, purpose, ...(userId ? { userId } : {}) });
  expect(sent.statusCode, sent.body).toBe(200);
  return sms.lastCode(phone.e164);
}

const SMS_THEN_TOTP = { name: "결제 시 추가 인증", match: { purposes: ["payment"] }, requiredChannels: ["sms", "totp"] };

describe("data.mfa on successful verifies", () => {
  it("SMS: the verify that satisfies sms reports what remains (totp)", async () => {
    const tenant = await tenantWithPolicies(t, [SMS_THEN_TOTP]);
    const phone = freshPhone();
    const code = await smsCode(tenant, phone, "payment", "sms-user");
    const res = await post(t, tenant.apiKey, "/otp/verify", { phone: phone.domestic, code, purpose: "payment", userId: "sms-user" });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toEqual({ verified: true, verificationId: expect.stringMatching(/^ver_/), mfa: { satisfied: false, remainingChannels: ["totp"] } });
  });

  it("SMS: without purpose or without userId there is no data.mfa (the answer SecureKey clients know)", async () => {
    const tenant = await tenantWithPolicies(t, [SMS_THEN_TOTP]);
    const a = freshPhone();
    const withoutPurpose = await post(t, tenant.apiKey, "/otp/verify", { phone: a.domestic, code: await smsCode(tenant, a, "login", "u1"), userId: "u1" });
    expect(withoutPurpose.json().data).toEqual({ verified: true, verificationId: expect.any(String) });
    const b = freshPhone();
    const withoutUser = await post(t, tenant.apiKey, "/otp/verify", { phone: b.domestic, code: await smsCode(tenant, b, "payment"), purpose: "payment" });
    expect(withoutUser.json().data).toEqual({ verified: true, verificationId: expect.any(String) });
  });

  it("a failed verify is left as it was: no data.mfa, no mfa.required", async () => {
    const tenant = await tenantWithPolicies(t, [SMS_THEN_TOTP], { mfa: { requiredOnVerify: true } });
    const phone = freshPhone();
    const code = await smsCode(tenant, phone, "payment", "wrong-user");
    const res = await post(t, tenant.apiKey, "/otp/verify", { phone: phone.domestic, code: wrongCode(code), purpose: "payment", userId: "wrong-user" });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ success: false, code: "INVALID_CODE", error: expect.any(String), data: { verified: false, attemptsRemaining: 4 } });
    expect(await eventsOf(t, tenant.appId, "mfa.required")).toEqual([]);
  });

  it("email: a policy needing only email is satisfied by the verify itself", async () => {
    const tenant = await tenantWithPolicies(t, [{ name: "email for signup", match: { purposes: ["signup"] }, requiredChannels: ["email"] }]);
    const sent = await post(t, tenant.apiKey, "/email-otp/send", { email: "Mfa.User@Example.com", purpose: "signup", userId: "mail-user" });
    expect(sent.statusCode, sent.body).toBe(200);
    const code = mailer.lastCode("mfa.user@example.com");
    const res = await post(t, tenant.apiKey, "/email-otp/verify", { email: "mfa.user@example.com", code, purpose: "signup", userId: "mail-user" });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data.mfa).toEqual({ satisfied: true, remainingChannels: [] });
  });

  it("TOTP: the verify reports progress; with the earlier SMS it completes the policy", async () => {
    const tenant = await tenantWithPolicies(t, [SMS_THEN_TOTP]);
    const secret = await setupTotp(t, tenant.apiKey, "both");
    const first = await verifyTotp(t, clock, tenant.apiKey, { userId: "both", secret, purpose: "payment" });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json().data).toEqual({ verified: true, activated: true, mfa: { satisfied: false, remainingChannels: ["sms"] } });

    const phone = freshPhone();
    const smsRes = await post(t, tenant.apiKey, "/otp/verify", { phone: phone.domestic, code: await smsCode(tenant, phone, "payment", "both"), purpose: "payment", userId: "both" });
    expect(smsRes.json().data.mfa).toEqual({ satisfied: true, remainingChannels: [] });
    expect((await check(t, tenant.apiKey, { userId: "both", purpose: "payment" })).json().data).toEqual({ allowed: true, satisfiedChannels: ["sms", "totp"] });
  });

  it("WebAuthn discoverable login: no userId in the request, the user comes from the result", async () => {
    const tenant = await tenantWithPolicies(t, [{ name: "passkey then totp", requiredChannels: ["webauthn", "totp"] }]);
    const authenticator = new SoftAuthenticator({ origin: "http://localhost:3000" });
    const options = await post(t, tenant.apiKey, "/webauthn/register/options", { userId: "passkey-user" });
    const { response } = authenticator.register(options.json().data.publicKey);
    expect((await post(t, tenant.apiKey, "/webauthn/register/verify", { userId: "passkey-user", ...response })).statusCode).toBe(200);

    const authOptions = await post(t, tenant.apiKey, "/webauthn/authenticate/options", {});
    const assertion = authenticator.assert(authOptions.json().data.publicKey);
    const res = await post(t, tenant.apiKey, "/webauthn/authenticate/verify", { ...assertion, purpose: "login" });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toMatchObject({ verified: true, userId: "passkey-user", mfa: { satisfied: false, remainingChannels: ["totp"] } });
  });

  it("push: a poll that reports approval carries data.mfa for the request's user and purpose; a pending one does not", async () => {
    const tenant = await tenantWithPolicies(t, [{ name: "push for withdrawals", match: { purposes: ["withdrawal"] }, requiredChannels: ["push"] }]);
    expect((await post(t, tenant.apiKey, "/push/devices", { userId: "phone-user", fcmToken: "fcm-mfa-1", platform: "android" })).statusCode).toBe(201);
    const sent = await post(t, tenant.apiKey, "/push/send", { userId: "phone-user", purpose: "withdrawal" });
    expect(sent.statusCode, sent.body).toBe(200);
    const { requestId } = sent.json().data;

    const pending = await post(t, tenant.apiKey, "/push/verify", { requestId });
    expect(pending.json().data).toMatchObject({ verified: false, status: "pending" });
    expect(pending.json().data).not.toHaveProperty("mfa");

    expect((await post(t, tenant.apiKey, "/push/respond", { requestId, action: "approve" })).statusCode).toBe(200);
    const approved = await post(t, tenant.apiKey, "/push/verify", { requestId });
    expect(approved.json().data).toMatchObject({ verified: true, status: "approved", mfa: { satisfied: true, remainingChannels: [] } });
    const polled = await t.app.inject({ method: "GET", url: `/api/v1/push/requests/${requestId}`, headers: { "x-api-key": tenant.apiKey } });
    expect(polled.json().data.mfa).toEqual({ satisfied: true, remainingChannels: [] });
  });
});

describe("settings.mfa.requiredOnVerify", () => {
  it("a verify that leaves channels answers the 403 MFA_REQUIRED body; the verification stays recorded and mfa.required is written", async () => {
    const tenant = await tenantWithPolicies(t, [SMS_THEN_TOTP], { mfa: { requiredOnVerify: true } });
    const phone = freshPhone();
    const code = await smsCode(tenant, phone, "payment", "strict-user");
    const res = await post(t, tenant.apiKey, "/otp/verify", { phone: phone.domestic, code, purpose: "payment", userId: "strict-user" });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual(mfaRequiredBody(["totp"], [SMS_THEN_TOTP.name]));

    // The code was used: the SMS verification counts, and the code cannot be replayed.
    expect(await verificationsOf(t, tenant.appId, "strict-user")).toEqual([{ channel: "sms", purpose: "payment" }]);
    expect((await post(t, tenant.apiKey, "/otp/verify", { phone: phone.domestic, code, purpose: "payment", userId: "strict-user" })).statusCode).not.toBe(200);
    expect(await eventsOf(t, tenant.appId, "mfa.required")).toEqual([{
      id: expect.stringMatching(/^evt_/),
      event: "mfa.required",
      channel: "sms",
      createdAt: expect.any(String),
      data: { externalUserId: "strict-user", purpose: "payment", requiredChannels: ["totp"], matchedPolicies: [SMS_THEN_TOTP.name] },
    }]);

    // The missing factor completes it: 200 with data.mfa satisfied.
    const secret = await setupTotp(t, tenant.apiKey, "strict-user");
    const totp = await verifyTotp(t, clock, tenant.apiKey, { userId: "strict-user", secret, purpose: "payment" });
    expect(totp.statusCode, totp.body).toBe(200);
    expect(totp.json().data).toEqual({ verified: true, activated: true, mfa: { satisfied: true, remainingChannels: [] } });
    expect(await verificationsOf(t, tenant.appId, "strict-user")).toEqual([{ channel: "sms", purpose: "payment" }, { channel: "totp", purpose: "payment" }]);
  });

  it("push: however often an approved request is polled, mfa.required is recorded once", async () => {
    const tenant = await tenantWithPolicies(t, [{ name: "push then totp", match: { purposes: ["wire"] }, requiredChannels: ["push", "totp"] }], { mfa: { requiredOnVerify: true } });
    expect((await post(t, tenant.apiKey, "/push/devices", { userId: "poller", fcmToken: "fcm-mfa-once", platform: "ios" })).statusCode).toBe(201);
    const { requestId } = (await post(t, tenant.apiKey, "/push/send", { userId: "poller", purpose: "wire" })).json().data;
    expect((await post(t, tenant.apiKey, "/push/respond", { requestId, action: "approve" })).statusCode).toBe(200);
    for (let i = 0; i < 3; i++) {
      const polled = await post(t, tenant.apiKey, "/push/verify", { requestId });
      expect(polled.statusCode).toBe(403);
      expect(polled.json()).toMatchObject({ code: "MFA_REQUIRED", requiredChannels: ["totp"] });
    }
    const events = await eventsOf(t, tenant.appId, "mfa.required");
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ channel: "push", data: { externalUserId: "poller", purpose: "wire", requiredChannels: ["totp"] } });
  });

  it("a verify without purpose is not subject to it", async () => {
    const tenant = await tenantWithPolicies(t, [{ name: "always totp", requiredChannels: ["totp"] }], { mfa: { requiredOnVerify: true } });
    const phone = freshPhone();
    const res = await post(t, tenant.apiKey, "/otp/verify", { phone: phone.domestic, code: await smsCode(tenant, phone, "login", "free-user"), userId: "free-user" });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data.verified).toBe(true);
  });

  it("off (the default): the verify answers 200 with data.mfa, and records no mfa.required", async () => {
    const tenant = await tenantWithPolicies(t, [SMS_THEN_TOTP]);
    const phone = freshPhone();
    const res = await post(t, tenant.apiKey, "/otp/verify", { phone: phone.domestic, code: await smsCode(tenant, phone, "payment", "lenient"), purpose: "payment", userId: "lenient" });
    expect(res.statusCode).toBe(200);
    expect(res.json().data.mfa).toEqual({ satisfied: false, remainingChannels: ["totp"] });
    expect(await eventsOf(t, tenant.appId, "mfa.required")).toEqual([]);
  });
});
