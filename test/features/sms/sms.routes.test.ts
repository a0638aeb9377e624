/**
 * SMS codes through the real HTTP stack (API.md §4.1): the calls SecureKey's examples make,
 * phone normalization, masking, status, expiry, single use, replacement, geo permissions,
 * per-app settings and templates, test destinations, events and the Verification row.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/infra/clock.ts";
import type { Prisma } from "../../../src/infra/db.ts";
import { TwoFactorClient, TwoFactorError } from "../../../src/sdk/index.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { capturingSms, wrongCode } from "../otp/otp-fakes.ts";

const clock = new ManualClock(new Date("2026-11-22T07:00:00.000Z"));
const sms = capturingSms();
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ clock, deps: { sms } });
});
afterAll(async () => t?.close());
beforeEach(() => {
  // Every test starts well past the previous one's send limits.
  clock.advance(2 * 60 * 60 * 1000);
  sms.failWith = undefined;
});

let counter = 0;
/** A fresh valid Korean mobile number per call, so tests do not share send limits. */
function freshPhone(): { domestic: string; e164: string } {
  const n = String(10_000_000 + ++counter * 7919).slice(-8);
  return { domestic: `010${n}`, e164: `+8210${n}` };
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}, key = t.apiKey) {
  return t.app.inject({ method: "POST", url: `/api/v1${url}`, headers: { "x-api-key": key, ...headers }, payload: body as object });
}

async function setSettings(otp: Prisma.InputJsonObject) {
  await t.database.db.prisma.app.update({ where: { id: t.appId }, data: { settings: { otp } } });
  clock.advance(5_000); // past the settings cache
}

async function events(type?: string) {
  const rows = await t.database.db.prisma.event.findMany({ where: { appId: t.appId, ...(type ? { type } : {}) }, orderBy: { createdAt: "asc" } });
  return rows.map((r) => JSON.parse(r.payload) as { event: string; channel: string; data: Record<string, unknown> });
}

describe("send and verify the way SecureKey's examples do", () => {
  it("POST /otp/send {phone, purpose} then POST /otp/verify {phone, code} → verified", async () => {
    const phone = freshPhone();
    const sent = await post("/otp/send", { phone: phone.domestic, purpose: "login" });
    expect(sent.statusCode).toBe(200);
    const body = sent.json();
    expect(body).toEqual({
      success: true,
      message: "OTP sent",
      data: {
        requestId: expect.stringMatching(/^otp_[0-9A-Za-z]{24}$/),
        phone: `+82******${phone.e164.slice(-4)}`,
        expiresAt: new Date(clock.now().getTime() + 180_000).toISOString(),
        expiresIn: 180,
      },
    });
    const message = sms.messages.at(-1)!;
    expect(message).toMatchObject({ to: phone.e164, appId: t.appId });
    expect(message.body).toBe(`[Test App] 인증번호 ${message.code} 를 입력해주세요.`);
    expect(message.code).toMatch(/^\d{6}$/);

    const verified = await post("/otp/verify", { phone: phone.domestic, code: sms.lastCode(phone.e164) });
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toEqual({ success: true, message: "OTP verified", data: { verified: true, verificationId: expect.stringMatching(/^ver_/) } });
  });

  it("verify with purpose (as the Python SDK sends) and with a userId", async () => {
    const phone = freshPhone();
    await post("/otp/send", { phone: phone.e164, purpose: "payment", userId: "user_42" });
    const res = await post("/otp/verify", { phone: phone.e164, code: sms.lastCode(phone.e164), purpose: "payment", userId: "user_42" });
    expect(res.statusCode).toBe(200);
    expect(res.json().data.verified).toBe(true);
  });

  it("a code sent for one purpose does not verify another (purpose defaults to login)", async () => {
    const phone = freshPhone();
    await post("/otp/send", { phone: phone.e164, purpose: "payment" });
    const res = await post("/otp/verify", { phone: phone.e164, code: sms.lastCode(phone.e164) });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ success: false, code: "OTP_NOT_FOUND", data: { verified: false } });
  });

  it("a code sent for one userId does not verify for another", async () => {
    const phone = freshPhone();
    await post("/otp/send", { phone: phone.e164, userId: "alice" });
    const res = await post("/otp/verify", { phone: phone.e164, code: sms.lastCode(phone.e164), userId: "mallory" });
    expect(res.json()).toMatchObject({ code: "OTP_NOT_FOUND", data: { verified: false } });
    const ok = await post("/otp/verify", { phone: phone.e164, code: sms.lastCode(phone.e164), userId: "alice" });
    expect(ok.json().data.verified).toBe(true);
  });

  it("writes a Verification row (channel, purpose, externalUserId, the challenge) for MFA policies", async () => {
    const phone = freshPhone();
    const sent = (await post("/otp/send", { phone: phone.e164, purpose: "signup", userId: "user_7" })).json().data;
    const verified = (await post("/otp/verify", { phone: phone.e164, code: sms.lastCode(phone.e164), purpose: "signup" })).json().data;
    const row = await t.database.db.prisma.verification.findUniqueOrThrow({ where: { id: verified.verificationId } });
    expect(row).toMatchObject({ appId: t.appId, channel: "sms", purpose: "signup", externalUserId: "user_7", reference: sent.requestId, createdAt: clock.now() });
  });
});

describe("phone numbers", () => {
  it.each(["01012345678", "010-1234-5678", "+82 10-1234-5678", "+821012345678", "(010) 1234 5678", "０１０１２３４５６７８"])(
    "%s is +821012345678",
    async (input) => {
      clock.advance(60 * 60 * 1000);
      const res = await post("/otp/send", { phone: input });
      expect(res.statusCode).toBe(200);
      expect(res.json().data.phone).toBe("+82******5678");
      expect(sms.messages.at(-1)!.to).toBe("+821012345678");
      // Verified through another spelling of the same number.
      const verify = await post("/otp/verify", { phone: "010 1234 5678", code: sms.lastCode("+821012345678") });
      expect(verify.json().data.verified).toBe(true);
    },
  );

  it.each([
    ["letters", "hello"],
    ["too short", "123"],
    ["digits inside text", "call 010-1234-5678 now"],
    ["a tel: URI", "tel:+821012345678"],
    ["an extension", "+82 10 1234 5678 ext 3"],
    ["an impossible number", "+1 555 555 0123"],
    ["a fixed line (cannot receive SMS)", "02-1234-5678"],
    ["only spaces", "   "],
  ])("%s → 400 INVALID_PHONE, nothing sent", async (_name, phone) => {
    const before = sms.messages.length;
    const res = await post("/otp/send", { phone });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ success: false, code: "INVALID_PHONE", error: expect.any(String) });
    expect(sms.messages.length).toBe(before);
  });

  it("garbage on verify and status is INVALID_PHONE too, with verified:false on verify", async () => {
    const verify = await post("/otp/verify", { phone: "garbage", code: "123456" });
    expect(verify.statusCode).toBe(400);
    expect(verify.json()).toMatchObject({ code: "INVALID_PHONE", data: { verified: false } });
    const status = await t.app.inject({ method: "GET", url: "/api/v1/otp/status?phone=garbage", headers: { "x-api-key": t.apiKey } });
    expect(status.json()).toMatchObject({ code: "INVALID_PHONE" });
  });
});

describe("validation: 400 VALIDATION_ERROR, nothing changes", () => {
  it.each([
    ["no phone", { purpose: "login" }],
    ["phone as a number (would lose its leading zero)", { phone: 1012345678 }],
    ["an over-long purpose", { phone: "01012345678", purpose: "p".repeat(65) }],
    ["an over-long userId", { phone: "01012345678", userId: "u".repeat(129) }],
    ["an unknown locale", { phone: "01012345678", locale: "fr" }],
  ])("send with %s", async (_name, body) => {
    const before = sms.messages.length;
    const res = await post("/otp/send", body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ success: false, code: "VALIDATION_ERROR", details: expect.any(Array) });
    expect(sms.messages.length).toBe(before);
  });

  it.each([
    ["no code", { phone: "01012345678" }],
    ["a code with letters", { phone: "01012345678", code: "12ab56" }],
    ["a code as a number", { phone: "01012345678", code: 123456 }],
  ])("verify with %s carries data.verified === false", async (_name, body) => {
    const res = await post("/otp/verify", body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ success: false, code: "VALIDATION_ERROR", data: { verified: false } });
  });

  it("verify without an API key is 401 with data.verified === false", async () => {
    const res = await t.app.inject({ method: "POST", url: "/api/v1/otp/verify", payload: { phone: "01012345678", code: "123456" } });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: "UNAUTHORIZED", data: { verified: false } });
  });
});

describe("wrong codes, expiry, single use, replacement", () => {
  it("a wrong code → 400 INVALID_CODE with attemptsRemaining; the 5th → 429 TOO_MANY_ATTEMPTS; then even the right code fails", async () => {
    const phone = freshPhone();
    await post("/otp/send", { phone: phone.e164 });
    const code = sms.lastCode(phone.e164);
    for (const remaining of [4, 3, 2, 1]) {
      const res = await post("/otp/verify", { phone: phone.e164, code: wrongCode(code) });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ success: false, code: "INVALID_CODE", error: expect.any(String), data: { verified: false, attemptsRemaining: remaining } });
    }
    const fifth = await post("/otp/verify", { phone: phone.e164, code: wrongCode(code) });
    expect(fifth.statusCode).toBe(429);
    expect(fifth.json()).toMatchObject({ code: "TOO_MANY_ATTEMPTS", data: { verified: false, attemptsRemaining: 0 } });
    const right = await post("/otp/verify", { phone: phone.e164, code });
    expect(right.statusCode).toBe(429);
    expect(right.json()).toMatchObject({ code: "TOO_MANY_ATTEMPTS", data: { verified: false } });
  });

  it("spaces and dashes the user typed are ignored", async () => {
    const phone = freshPhone();
    await post("/otp/send", { phone: phone.e164 });
    const code = sms.lastCode(phone.e164);
    const res = await post("/otp/verify", { phone: phone.e164, code: `${code.slice(0, 3)} ${code.slice(3)}` });
    expect(res.json().data.verified).toBe(true);
  });

  it("expired → 410 OTP_EXPIRED (and a verification.failed event)", async () => {
    const phone = freshPhone();
    const sent = (await post("/otp/send", { phone: phone.e164 })).json().data;
    clock.advance(180_000);
    const res = await post("/otp/verify", { phone: phone.e164, code: sms.lastCode(phone.e164) });
    expect(res.statusCode).toBe(410);
    expect(res.json()).toMatchObject({ code: "OTP_EXPIRED", data: { verified: false } });
    const failed = (await events("verification.failed")).filter((e) => e.data.requestId === sent.requestId);
    expect(failed.map((e) => e.data.reason)).toEqual(["expired"]);
  });

  it("one second before expiry still verifies", async () => {
    const phone = freshPhone();
    await post("/otp/send", { phone: phone.e164 });
    clock.advance(179_000);
    const res = await post("/otp/verify", { phone: phone.e164, code: sms.lastCode(phone.e164) });
    expect(res.json().data.verified).toBe(true);
  });

  it("nothing pending → 404 OTP_NOT_FOUND", async () => {
    const res = await post("/otp/verify", { phone: freshPhone().e164, code: "123456" });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: "OTP_NOT_FOUND", data: { verified: false } });
  });

  it("a code is single use: the second verify → 400 CODE_ALREADY_USED", async () => {
    const phone = freshPhone();
    await post("/otp/send", { phone: phone.e164 });
    const code = sms.lastCode(phone.e164);
    expect((await post("/otp/verify", { phone: phone.e164, code })).statusCode).toBe(200);
    const again = await post("/otp/verify", { phone: phone.e164, code });
    expect(again.statusCode).toBe(400);
    expect(again.json()).toMatchObject({ code: "CODE_ALREADY_USED", data: { verified: false } });
  });

  it("a new send replaces the pending code for the same phone and purpose, not for another purpose", async () => {
    const phone = freshPhone();
    await post("/otp/send", { phone: phone.e164, purpose: "payment" });
    const paymentCode = sms.lastCode(phone.e164);
    clock.advance(31_000);
    await post("/otp/send", { phone: phone.e164 });
    const firstLogin = sms.lastCode(phone.e164);
    clock.advance(31_000);
    await post("/otp/send", { phone: phone.e164 });
    const secondLogin = sms.lastCode(phone.e164);
    if (firstLogin !== secondLogin) {
      const old = await post("/otp/verify", { phone: phone.e164, code: firstLogin });
      expect(old.json()).toMatchObject({ code: "INVALID_CODE" });
    }
    expect((await post("/otp/verify", { phone: phone.e164, code: secondLogin })).json().data.verified).toBe(true);
    expect((await post("/otp/verify", { phone: phone.e164, code: paymentCode, purpose: "payment" })).json().data.verified).toBe(true);
    const rows = await t.database.db.prisma.otpChallenge.findMany({ where: { destination: phone.e164 }, orderBy: { createdAt: "asc" } });
    expect(rows.map((r) => r.status)).toEqual(["verified", "replaced", "verified"]);
  });
});

describe("status", () => {
  it("GET /otp/status?phone=… and POST /otp/status answer the pending code's state", async () => {
    const phone = freshPhone();
    const none = await t.app.inject({ method: "GET", url: `/api/v1/otp/status?phone=${encodeURIComponent(phone.domestic)}`, headers: { "x-api-key": t.apiKey } });
    expect(none.json()).toEqual({ success: true, data: { pending: false, expiresAt: null, attemptsRemaining: 0, verifiedAt: null } });

    const sent = (await post("/otp/send", { phone: phone.domestic })).json().data;
    await post("/otp/verify", { phone: phone.domestic, code: wrongCode(sms.lastCode(phone.e164)) });
    const pending = await t.app.inject({ method: "GET", url: `/api/v1/otp/status?phone=${encodeURIComponent(phone.e164)}&purpose=login`, headers: { "x-api-key": t.apiKey } });
    expect(pending.json()).toEqual({ success: true, data: { pending: true, expiresAt: sent.expiresAt, attemptsRemaining: 4, verifiedAt: null } });

    await post("/otp/verify", { phone: phone.domestic, code: sms.lastCode(phone.e164) });
    const done = await post("/otp/status", { phone: phone.domestic });
    expect(done.json()).toEqual({ success: true, data: { pending: false, expiresAt: sent.expiresAt, attemptsRemaining: 0, verifiedAt: clock.now().toISOString() } });
  });

  it("an expired code is not pending", async () => {
    const phone = freshPhone();
    await post("/otp/send", { phone: phone.e164 });
    clock.advance(181_000);
    const res = await post("/otp/status", { phone: phone.e164 });
    expect(res.json().data).toMatchObject({ pending: false, attemptsRemaining: 0 });
  });
});

describe("per-destination send limits", () => {
  it("a second send within 30 s → 429 RESEND_TOO_SOON with Retry-After; after 30 s it goes", async () => {
    const phone = freshPhone();
    expect((await post("/otp/send", { phone: phone.e164 })).statusCode).toBe(200);
    clock.advance(10_000);
    const before = sms.messages.length;
    const res = await post("/otp/send", { phone: phone.e164, purpose: "other" });
    expect(res.statusCode).toBe(429);
    expect(res.json()).toMatchObject({ success: false, code: "RESEND_TOO_SOON" });
    expect(res.headers["retry-after"]).toBe("20");
    expect(sms.messages.length).toBe(before);
    clock.advance(20_000);
    expect((await post("/otp/send", { phone: phone.e164 })).statusCode).toBe(200);
  });

  it("the 6th send within an hour → 429 RATE_LIMITED with Retry-After until the oldest leaves the window", async () => {
    const phone = freshPhone();
    for (let i = 0; i < 5; i++) {
      expect((await post("/otp/send", { phone: phone.e164 })).statusCode).toBe(200);
      clock.advance(60_000);
    }
    const res = await post("/otp/send", { phone: phone.e164 });
    expect(res.statusCode).toBe(429);
    expect(res.json()).toMatchObject({ code: "RATE_LIMITED" });
    expect(Number(res.headers["retry-after"])).toBe(60 * 60 - 5 * 60);
    clock.advance((60 * 60 - 5 * 60) * 1000 + 1);
    expect((await post("/otp/send", { phone: phone.e164 })).statusCode).toBe(200);
  });

  it("limits are per destination: another number is not affected", async () => {
    const a = freshPhone();
    const b = freshPhone();
    expect((await post("/otp/send", { phone: a.e164 })).statusCode).toBe(200);
    expect((await post("/otp/send", { phone: b.e164 })).statusCode).toBe(200);
  });
});

describe("geo permissions (SMS-pumping defence)", () => {
  it("a number outside the app's allowed countries → 400 COUNTRY_NOT_ALLOWED and nothing is sent or stored", async () => {
    const before = sms.messages.length;
    const res = await post("/otp/send", { phone: "+14155552671" });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: "COUNTRY_NOT_ALLOWED" });
    expect(sms.messages.length).toBe(before);
    expect(await t.database.db.prisma.otpChallenge.count({ where: { destination: "+14155552671" } })).toBe(0);
  });

  it("an app that allows US sends there", async () => {
    await setSettings({ allowedCountries: ["KR", "us"] });
    try {
      const res = await post("/otp/send", { phone: "+1 (415) 555-2671" });
      expect(res.statusCode).toBe(200);
      expect(res.json().data.phone).toBe("+1******2671");
      expect(sms.messages.at(-1)!.to).toBe("+14155552671");
    } finally {
      await setSettings({});
    }
  });
});

describe("per-app settings and templates", () => {
  it("code length, lifetime and attempts come from the app", async () => {
    await setSettings({ codeLength: 8, ttlSeconds: 300, maxAttempts: 2 });
    try {
      const phone = freshPhone();
      const sent = (await post("/otp/send", { phone: phone.e164 })).json().data;
      expect(sent.expiresIn).toBe(300);
      const code = sms.lastCode(phone.e164);
      expect(code).toMatch(/^\d{8}$/);
      expect((await post("/otp/verify", { phone: phone.e164, code: wrongCode(code) })).json().data).toEqual({ verified: false, attemptsRemaining: 1 });
      expect((await post("/otp/verify", { phone: phone.e164, code: wrongCode(code) })).json().code).toBe("TOO_MANY_ATTEMPTS");
    } finally {
      await setSettings({});
    }
  });

  it("locale en, and an app's own template with {appName}, {code} and {minutes}", async () => {
    const phone = freshPhone();
    await post("/otp/send", { phone: phone.e164, locale: "en-US" });
    expect(sms.messages.at(-1)!.body).toMatch(/^\[Test App\] Your verification code is \d{6}\. It expires in 3 min\.$/);

    await setSettings({ defaultLocale: "en", templates: { sms: { en: { text: "{code} is your {appName} code ({minutes} min)" } } } });
    try {
      clock.advance(31_000);
      await post("/otp/send", { phone: phone.e164 });
      const last = sms.messages.at(-1)!;
      expect(last.body).toBe(`${last.code} is your Test App code (3 min)`);
    } finally {
      await setSettings({});
    }
  });
});

describe("test destinations", () => {
  it("a test number gets its fixed code, reaches no provider, is flagged test in responses and events, and skips send limits", async () => {
    await setSettings({ testDestinations: [{ destination: "010-0000-1234", code: "424242" }] });
    try {
      const before = sms.messages.length;
      sms.failWith = new Error("the provider must not be called");
      for (let i = 0; i < 7; i++) {
        const sent = await post("/otp/send", { phone: "+821000001234" });
        expect(sent.statusCode).toBe(200);
        expect(sent.json().data).toMatchObject({ phone: "+82******1234", test: true });
      }
      expect(sms.messages.length).toBe(before);
      const verified = await post("/otp/verify", { phone: "01000001234", code: "424242" });
      expect(verified.json()).toMatchObject({ data: { verified: true, test: true } });
      const sentEvents = (await events("otp.sent")).filter((e) => e.data.destination === "+82******1234");
      expect(sentEvents.length).toBe(7);
      expect(sentEvents.every((e) => e.data.test === true)).toBe(true);
      const succeeded = (await events("verification.succeeded")).filter((e) => e.data.destination === "+82******1234");
      expect(succeeded.at(-1)!.data.test).toBe(true);
    } finally {
      await setSettings({});
    }
  });
});

describe("events", () => {
  it("otp.sent, verification.failed and verification.succeeded carry channel sms, the masked phone, purpose and externalUserId", async () => {
    const phone = freshPhone();
    const sent = (await post("/otp/send", { phone: phone.e164, purpose: "payment", userId: "user_123" })).json().data;
    clock.advance(1_000); // events are listed by time
    await post("/otp/verify", { phone: phone.e164, code: wrongCode(sms.lastCode(phone.e164)), purpose: "payment", userId: "user_123" });
    clock.advance(1_000);
    await post("/otp/verify", { phone: phone.e164, code: sms.lastCode(phone.e164), purpose: "payment" });
    const mine = (await events()).filter((e) => e.data.requestId === sent.requestId);
    const masked = `+82******${phone.e164.slice(-4)}`;
    expect(mine).toEqual([
      expect.objectContaining({ event: "otp.sent", channel: "sms", data: { externalUserId: "user_123", requestId: sent.requestId, destination: masked, purpose: "payment" } }),
      expect.objectContaining({ event: "verification.failed", channel: "sms", data: { externalUserId: "user_123", requestId: sent.requestId, destination: masked, purpose: "payment", reason: "invalid_code", attemptsRemaining: 4 } }),
      expect.objectContaining({ event: "verification.succeeded", channel: "sms", data: { externalUserId: "user_123", requestId: sent.requestId, destination: masked, purpose: "payment" } }),
    ]);
    const all = JSON.stringify(await t.database.db.query("SELECT payload FROM events"));
    expect(all).not.toContain(phone.e164);
    expect(all).not.toContain(phone.domestic);
  });

  it("counts outcomes in the channel metrics", async () => {
    const res = await t.app.inject({ method: "GET", url: "/metrics" });
    expect(res.body).toMatch(/latchkey_channel_outcomes_total\{channel="sms",outcome="sent"\} \d+/);
    expect(res.body).toMatch(/latchkey_channel_outcomes_total\{channel="sms",outcome="succeeded"\} \d+/);
    expect(res.body).toMatch(/latchkey_channel_outcomes_total\{channel="sms",outcome="invalid_code"\} \d+/);
  });
});

describe("Idempotency-Key on send", () => {
  it("the repeated request returns the first response and sends nothing more", async () => {
    const phone = freshPhone();
    const before = sms.messages.length;
    const headers = { "idempotency-key": `send-${phone.e164}` };
    const first = await post("/otp/send", { phone: phone.e164 }, headers);
    const second = await post("/otp/send", { phone: phone.e164 }, headers);
    expect(first.statusCode).toBe(200);
    expect(second.statusCode).toBe(200);
    expect(second.body).toBe(first.body);
    expect(second.headers["idempotent-replayed"]).toBe("true");
    expect(sms.messages.length).toBe(before + 1);
    expect(await t.database.db.prisma.otpChallenge.count({ where: { destination: phone.e164 } })).toBe(1);
  });

  it("two concurrent sends with one key: one sends, the other gets 409; the same key with another body → 422; never two messages", async () => {
    const phone = freshPhone();
    const before = sms.messages.length;
    const headers = { "idempotency-key": `race-${phone.e164}` };
    const answers = await Promise.all([post("/otp/send", { phone: phone.e164 }, headers), post("/otp/send", { phone: phone.e164 }, headers)]);
    const statuses = answers.map((a) => a.statusCode).sort();
    expect(statuses[0]).toBe(200);
    // The loser either saw the claim in flight (409) or, if the winner had finished, a replay (200).
    expect([200, 409]).toContain(statuses[1]);
    const other = freshPhone();
    const reused = await post("/otp/send", { phone: other.e164 }, headers);
    expect(reused.statusCode).toBe(422);
    expect(reused.json().code).toBe("IDEMPOTENCY_KEY_REUSED");
    expect(sms.messages.length).toBe(before + 1);
    expect(await t.database.db.prisma.otpChallenge.count({ where: { destination: other.e164 } })).toBe(0);
  });
});

describe("tenancy", () => {
  it("another app neither sees nor verifies this app's code", async () => {
    const other = await t.createTenant();
    const phone = freshPhone();
    await post("/otp/send", { phone: phone.e164 });
    const res = await post("/otp/verify", { phone: phone.e164, code: sms.lastCode(phone.e164) }, {}, other.apiKey);
    expect(res.json()).toMatchObject({ code: "OTP_NOT_FOUND" });
    const status = await post("/otp/status", { phone: phone.e164 }, {}, other.apiKey);
    expect(status.json().data.pending).toBe(false);
  });
});


describe("per-IP limits on send and verify (API.md §3)", () => {
  it("the 4th send and the 11th verify from one IP within a minute → 429 RATE_LIMITED with the rate-limit headers", async () => {
    const limited = await createTestApp({ database: t.database, clock, deps: { sms }, env: { RATE_LIMIT_SEND_PER_MIN: "3", RATE_LIMIT_VERIFY_PER_MIN: "10" } });
    try {
      const send = (phone: string) =>
        limited.app.inject({ method: "POST", url: "/api/v1/otp/send", headers: { "x-api-key": limited.apiKey }, payload: { phone } });
      for (let i = 0; i < 3; i++) expect((await send(freshPhone().e164)).statusCode).toBe(200);
      const fourth = await send(freshPhone().e164);
      expect(fourth.statusCode).toBe(429);
      expect(fourth.json()).toMatchObject({ success: false, code: "RATE_LIMITED" });
      expect(fourth.headers["retry-after"]).toBeDefined();
      expect(fourth.headers["x-ratelimit-limit"]).toBe("3");

      const verify = () =>
        limited.app.inject({ method: "POST", url: "/api/v1/otp/verify", headers: { "x-api-key": limited.apiKey }, payload: { phone: "01012345678", code: "000000" } });
      for (let i = 0; i < 10; i++) expect((await verify()).statusCode).not.toBe(429);
      const eleventh = await verify();
      expect(eleventh.statusCode).toBe(429);
      expect(eleventh.json()).toMatchObject({ code: "RATE_LIMITED", data: { verified: false } });
    } finally {
      await limited.app.close();
    }
  });
});

describe("through the SDK, as a customer", () => {
  it("client.sms.send / status / verify, and limits as TwoFactorErrors with retryAfter", async () => {
    const address = await t.app.listen({ port: 0, host: "127.0.0.1" });
    const client = new TwoFactorClient({ apiKey: t.apiKey, baseUrl: address });
    const phone = freshPhone();
    const sent = await client.sms.send({ phone: phone.domestic, purpose: "login" });
    expect(sent).toEqual({ requestId: expect.stringMatching(/^otp_/), phone: `+82******${phone.e164.slice(-4)}`, expiresAt: expect.any(String), expiresIn: 180 });

    const again = await client.sms.send({ phone: phone.domestic }).catch((err: unknown) => err);
    expect(again).toBeInstanceOf(TwoFactorError);
    expect(again).toMatchObject({ code: "RESEND_TOO_SOON", status: 429, retryAfter: 30 });

    expect(await client.sms.status({ phone: phone.domestic })).toEqual({ pending: true, expiresAt: sent.expiresAt, attemptsRemaining: 5, verifiedAt: null });
    const verified = await client.sms.verify({ phone: phone.domestic, code: sms.lastCode(phone.e164) });
    expect(verified).toEqual({ verified: true, verificationId: expect.stringMatching(/^ver_/) });
    const status = await client.sms.status({ phone: phone.e164, purpose: "login" });
    expect(status).toMatchObject({ pending: false, verifiedAt: expect.any(String) });
  });
});
