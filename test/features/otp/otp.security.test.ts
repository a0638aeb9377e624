/**
 * Attacks on SMS/email codes (API.md §3), on whichever database the suite runs on
 * (PGlite by default, PostgreSQL with TEST_DATABASE_URL, where requests really run in parallel):
 *
 * - 20 wrong codes fired at once consume exactly the 5 allowed attempts, and then even the
 *   right code fails (no race lets a sixth guess in).
 * - Right and wrong codes fired at once: never more than one success; 10 copies of the right
 *   code at once: exactly one success and one Verification row.
 * - 10 sends to one number fired at once: one challenge, one SMS (the 30 s limit is race-free).
 * - 100 wrong codes in a row for one destination, spread over several codes (a resend never
 *   resets the count), lock it for 24 h (NIST SP 800-63B §5.2.2); a right code resets the run.
 * - A stolen database holds no code: only HMACs under a key derived from the keyring, each
 *   bound to its challenge.
 */
import { createHmac } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/infra/clock.ts";
import type { Prisma } from "../../../src/infra/db.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { capturingMailer, capturingSms, wrongCode } from "./otp-fakes.ts";

const clock = new ManualClock(new Date("2026-11-22T07:00:00.000Z"));
const sms = capturingSms();
const mailer = capturingMailer();
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ clock, deps: { sms, mailer } });
});
afterAll(async () => t?.close());
beforeEach(() => clock.advance(2 * 60 * 60 * 1000));

let counter = 0;
const freshPhone = () => `+8210${String(20_000_000 + ++counter * 104_729).slice(-8)}`;

const post = (url: string, body: object) =>
  t.app.inject({ method: "POST", url: `/api/v1${url}`, headers: { "x-api-key": t.apiKey }, payload: body });

async function setOtpSettings(otp: Prisma.InputJsonObject) {
  await t.database.db.prisma.app.update({ where: { id: t.appId }, data: { settings: { otp } } });
  clock.advance(5_000); // past the settings cache
}

const tally = (responses: Array<{ json(): { code?: string; data?: { verified?: boolean } } }>) => {
  const counts: Record<string, number> = {};
  for (const r of responses) {
    const body = r.json();
    const key = body.data?.verified === true ? "verified" : body.code ?? "?";
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
};

describe("attempt budget under concurrency", () => {
  it("20 wrong codes fired at once consume exactly 5 attempts; then the right code fails too", async () => {
    const phone = freshPhone();
    await post("/otp/send", { phone });
    const code = sms.lastCode(phone);
    const responses = await Promise.all(Array.from({ length: 20 }, () => post("/otp/verify", { phone, code: wrongCode(code) })));
    expect(tally(responses)).toEqual({ INVALID_CODE: 4, TOO_MANY_ATTEMPTS: 16 });
    const challenge = await t.database.db.prisma.otpChallenge.findFirstOrThrow({ where: { destination: phone } });
    expect(challenge).toMatchObject({ attempts: 5, status: "exhausted" });
    const right = await post("/otp/verify", { phone, code });
    expect(right.json()).toMatchObject({ code: "TOO_MANY_ATTEMPTS", data: { verified: false } });
    // Only the five counted attempts count against the destination.
    const guard = await t.database.db.prisma.destinationGuard.findFirstOrThrow({ where: { destination: phone } });
    expect(guard.consecutiveFailures).toBe(5);
  });

  it("19 wrong codes and the right one fired at once: never more than one success, never more than 5 attempts", async () => {
    const phone = freshPhone();
    await post("/otp/send", { phone });
    const code = sms.lastCode(phone);
    const bodies = Array.from({ length: 20 }, (_, i) => ({ phone, code: i === 10 ? code : wrongCode(code) }));
    const responses = await Promise.all(bodies.map((body) => post("/otp/verify", body)));
    const counts = tally(responses);
    expect(counts.verified ?? 0).toBeLessThanOrEqual(1);
    const challenge = await t.database.db.prisma.otpChallenge.findFirstOrThrow({ where: { destination: phone } });
    expect(challenge.attempts).toBeLessThanOrEqual(5);
    expect(await t.database.db.prisma.verification.count({ where: { reference: challenge.id } })).toBe(counts.verified ?? 0);
  });

  it("10 copies of the right code fired at once: exactly one success and one Verification row", async () => {
    const email = `race-${++counter}@example.com`;
    await post("/email-otp/send", { email });
    const code = mailer.lastCode(email);
    const responses = await Promise.all(Array.from({ length: 10 }, () => post("/email-otp/verify", { email, code })));
    expect(tally(responses)).toEqual({ verified: 1, CODE_ALREADY_USED: 9 });
    const challenge = await t.database.db.prisma.otpChallenge.findFirstOrThrow({ where: { destination: email } });
    expect(await t.database.db.prisma.verification.count({ where: { reference: challenge.id } })).toBe(1);
    const succeeded = await t.database.db.prisma.event.findMany({ where: { appId: t.appId, type: "verification.succeeded" } });
    expect(succeeded.filter((e) => e.payload.includes(challenge.id))).toHaveLength(1);
  });
});

describe("send limits under concurrency", () => {
  it("10 sends to one number fired at once create one challenge and one SMS; the rest are RESEND_TOO_SOON", async () => {
    const phone = freshPhone();
    const before = sms.messages.length;
    const responses = await Promise.all(Array.from({ length: 10 }, (_, i) => post("/otp/send", { phone, purpose: i % 2 ? "login" : "signup" })));
    expect(tally(responses)).toEqual({ "?": 1, RESEND_TOO_SOON: 9 });
    expect(responses.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(responses.filter((r) => r.statusCode === 429).every((r) => Number(r.headers["retry-after"]) === 30)).toBe(true);
    expect(await t.database.db.prisma.otpChallenge.count({ where: { destination: phone } })).toBe(1);
    expect(sms.messages.length).toBe(before + 1);
  });
});

describe("per-destination lock after 100 consecutive wrong codes (NIST SP 800-63B §5.2.2)", () => {
  it("counts across resends, locks sends and verifies for 24 h with Retry-After, then lets them through", async () => {
    await setOtpSettings({ maxAttempts: 20 });
    try {
      const phone = freshPhone();
      let last: Awaited<ReturnType<typeof post>> | undefined;
      for (let challenge = 0; challenge < 5; challenge++) {
        expect((await post("/otp/send", { phone })).statusCode).toBe(200);
        const code = sms.lastCode(phone);
        for (let i = 0; i < 20; i++) last = await post("/otp/verify", { phone, code: wrongCode(code) });
        clock.advance(31_000);
      }
      expect(last!.statusCode).toBe(423);
      expect(last!.json()).toMatchObject({ code: "ACCOUNT_LOCKED", data: { verified: false } });
      expect(last!.headers["retry-after"]).toBe(String(24 * 60 * 60));

      const send = await post("/otp/send", { phone });
      expect(send.statusCode).toBe(423);
      expect(send.json().code).toBe("ACCOUNT_LOCKED");
      const verify = await post("/otp/verify", { phone, code: "000000" });
      expect(verify.json()).toMatchObject({ code: "ACCOUNT_LOCKED", data: { verified: false } });
      expect((await post("/otp/status", { phone })).json().data.pending).toBe(false);
      const failedEvents = await t.database.db.prisma.event.findMany({ where: { appId: t.appId, type: "verification.failed" } });
      expect(failedEvents.filter((e) => e.payload.includes('"destinationLocked":true'))).toHaveLength(1);

      clock.advance(24 * 60 * 60 * 1000 - 5 * 31_000);
      expect((await post("/otp/send", { phone })).statusCode).toBe(423);
      clock.advance(5 * 31_000 + 1_000);
      expect((await post("/otp/send", { phone })).statusCode).toBe(200);
      expect((await post("/otp/verify", { phone, code: sms.lastCode(phone) })).json().data.verified).toBe(true);
    } finally {
      await setOtpSettings({});
    }
  });

  it("a right code ends the run: 99 wrong, one right, then wrong codes start from zero", async () => {
    await setOtpSettings({ maxAttempts: 20 });
    try {
      const phone = freshPhone();
      for (let challenge = 0; challenge < 5; challenge++) {
        await post("/otp/send", { phone });
        const code = sms.lastCode(phone);
        const wrongs = challenge < 4 ? 20 : 19;
        for (let i = 0; i < wrongs; i++) await post("/otp/verify", { phone, code: wrongCode(code) });
        if (challenge === 4) expect((await post("/otp/verify", { phone, code })).json().data.verified).toBe(true);
        clock.advance(31_000);
      }
      const guard = await t.database.db.prisma.destinationGuard.findFirstOrThrow({ where: { destination: phone } });
      expect(guard).toMatchObject({ consecutiveFailures: 0, lockedUntil: null });
      clock.advance(60 * 60 * 1000);
      await post("/otp/send", { phone });
      const wrong = await post("/otp/verify", { phone, code: wrongCode(sms.lastCode(phone)) });
      expect(wrong.json()).toMatchObject({ code: "INVALID_CODE" });
    } finally {
      await setOtpSettings({});
    }
  });

  it("the lock is per destination and per app", async () => {
    const other = await t.createTenant();
    const phone = freshPhone();
    const lockedUntil = new Date(clock.now().getTime() + 60 * 60 * 1000);
    await t.database.db.prisma.destinationGuard.create({ data: { appId: t.appId, channel: "sms", destination: phone, lockedUntil } });
    expect((await post("/otp/send", { phone })).statusCode).toBe(423);
    expect((await post("/otp/send", { phone: freshPhone() })).statusCode).toBe(200);
    const otherApp = await t.app.inject({ method: "POST", url: "/api/v1/otp/send", headers: { "x-api-key": other.apiKey }, payload: { phone } });
    expect(otherApp.statusCode).toBe(200);
  });
});

describe("codes at rest", () => {
  it("only an HMAC of the code is stored, keyed by a key derived from the keyring and bound to the challenge", async () => {
    const email = `rest-${++counter}@example.com`;
    const sent = (await post("/email-otp/send", { email })).json().data;
    const code = mailer.lastCode(email);
    const rows = await t.database.db.query<Record<string, unknown>>("SELECT * FROM otp_challenges WHERE id = $1", [sent.requestId]);
    expect(JSON.stringify(rows)).not.toContain(code);
    const stored = String(rows[0]!.code_hash);
    const [version, keyId, mac] = stored.split(".");
    expect(version).toBe("v1");
    expect(keyId).toBe(t.keyring.currentKeyId);
    const key = t.keyring.deriveKey("latchkey/otp-code-hmac/v1");
    expect(mac).toBe(createHmac("sha256", key).update(`${sent.requestId}:${code}`).digest("hex"));
    // Not a bare hash anyone could brute-force from the database alone.
    expect(mac).not.toBe(createHmac("sha256", "").update(code).digest("hex"));
  });
});
