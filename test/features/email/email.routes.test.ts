/**
 * Email codes end to end (API.md §4.2): a real SMTP server runs inside the test, Latchkey
 * delivers to it through nodemailer, the test parses the mail (mailparser), reads the code
 * from it and verifies it over HTTP — and through the SDK, the way a customer would.
 * SMTP refusing, or never answering, → 502 DELIVERY_FAILED and a code that cannot be verified.
 */
import net from "node:net";
import type { AddressInfo } from "node:net";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMailer } from "../../../src/infra/mailer.ts";
import { TwoFactorClient, TwoFactorError } from "../../../src/sdk/index.ts";
import { createTestApp, testConfig, type TestApp } from "../../helpers/build-app.ts";
import { codeIn, wrongCode } from "../otp/otp-fakes.ts";

interface Delivered {
  envelope: { from: string; to: string[] };
  mail: ParsedMail;
}

interface SmtpSink {
  port: number;
  delivered: Delivered[];
  /** Recipients the server refuses with 550. */
  refuse: Set<string>;
  /** Resolves with the next delivered mail. */
  next(): Promise<Delivered>;
  close(): Promise<void>;
}

async function startSmtp(): Promise<SmtpSink> {
  const delivered: Delivered[] = [];
  const waiters: Array<(d: Delivered) => void> = [];
  const refuse = new Set<string>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (refuse.has(address.address.toLowerCase())) {
        const err = Object.assign(new Error("mailbox unavailable"), { responseCode: 550 });
        return callback(err);
      }
      callback();
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((mail) => {
          const item = {
            envelope: { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "", to: session.envelope.rcptTo.map((r) => r.address) },
            mail,
          };
          delivered.push(item);
          waiters.shift()?.(item);
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    delivered,
    refuse,
    next: () => new Promise((resolve) => waiters.push(resolve)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let smtp: SmtpSink;
let t: TestApp;
const post = (url: string, body: object, key = t.apiKey) =>
  t.app.inject({ method: "POST", url: `/api/v1${url}`, headers: { "x-api-key": key }, payload: body });

beforeAll(async () => {
  smtp = await startSmtp();
  t = await createTestApp({ env: { SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, SMTP_FROM: "Shop Login <login@shop.example>" } });
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

describe("email codes over real SMTP", () => {
  it("POST /email-otp/send delivers a text + HTML mail with the code; POST /email-otp/verify accepts it", async () => {
    const arriving = smtp.next();
    const sent = await post("/email-otp/send", { email: "Alice.Kim@Example.COM", purpose: "login" });
    expect(sent.statusCode).toBe(200);
    expect(sent.json()).toEqual({
      success: true,
      message: "OTP sent",
      data: { requestId: expect.stringMatching(/^otp_/), email: "a***@example.com", expiresAt: expect.any(String), expiresIn: 180 },
    });

    const { envelope, mail } = await arriving;
    expect(envelope).toEqual({ from: "login@shop.example", to: ["alice.kim@example.com"] });
    expect(mail.from?.value).toEqual([{ name: "Shop Login", address: "login@shop.example" }]);
    expect(mail.subject).toBe("[Test App] 인증번호 안내");
    expect(mail.headers.get("auto-submitted")).toBe("auto-generated");
    expect(mail.headers.get("content-type")).toMatchObject({ value: "multipart/alternative" });
    const code = codeIn(mail.text!);
    expect(code).toMatch(/^\d{6}$/);
    expect(mail.text).toContain(`[Test App] 인증번호는 ${code} 입니다.`);
    expect(mail.text).toContain("3분 안에 입력해주세요.");
    expect(mail.html).toContain(`>${code}</p>`);
    expect(mail.html).toContain("Test App");

    const verified = await post("/email-otp/verify", { email: "alice.kim@example.com", code });
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toEqual({ success: true, message: "OTP verified", data: { verified: true, verificationId: expect.stringMatching(/^ver_/) } });
  });

  it("locale en: English subject and body with the app's name", async () => {
    const arriving = smtp.next();
    await post("/email-otp/send", { email: "bob@example.com", locale: "en" });
    const { mail } = await arriving;
    expect(mail.subject).toBe("[Test App] Your verification code");
    const code = codeIn(mail.text!);
    expect(mail.text).toBe(`[Test App] Your verification code is ${code}.\nIt expires in 3 minutes.\n\nIf you did not ask for it, ignore this email.\n`);
    expect(mail.html).toContain('<html lang="en">');
    expect(mail.html).toContain(code);
  });

  it("an app's own templates; its name is HTML-escaped in the HTML part and kept on one line in the subject", async () => {
    const other = await t.createTenant("<Shop & Co>\r\nBcc: evil@example.com");
    await t.database.db.prisma.app.update({
      where: { id: other.appId },
      data: { settings: { otp: { templates: { email: { ko: { subject: "{appName} 코드", text: "코드: {code} ({minutes}분)", html: "<p>{appName}: <b>{code}</b></p>" } } } } } },
    });
    const arriving = smtp.next();
    expect((await post("/email-otp/send", { email: "carol@example.com" }, other.apiKey)).statusCode).toBe(200);
    const { mail, envelope } = await arriving;
    expect(envelope.to).toEqual(["carol@example.com"]);
    expect(mail.bcc).toBeUndefined();
    expect(mail.subject).toBe("<Shop & Co> Bcc: evil@example.com 코드");
    const code = codeIn(mail.text!);
    expect(mail.text!.trim()).toBe(`코드: ${code} (3분)`);
    expect(String(mail.html).trim()).toMatch(new RegExp(`^<p>&lt;Shop &amp; Co&gt;\\s+Bcc: evil@example\\.com: <b>${code}</b></p>$`));
  });

  it("addresses are validated: garbage → 400 INVALID_EMAIL and nothing is sent", async () => {
    for (const email of ["not-an-email", "a@b", "@example.com", "a..b@example.com", "a@-example.com", "a b@example.com", "a@example.com\r\nBcc: x@y.z"]) {
      const before = smtp.delivered.length;
      const res = await post("/email-otp/send", { email });
      expect(res.statusCode, email).toBe(400);
      expect(res.json(), email).toMatchObject({ success: false, code: "INVALID_EMAIL" });
      expect(smtp.delivered.length).toBe(before);
    }
    const verify = await post("/email-otp/verify", { email: "nope", code: "123456" });
    expect(verify.json()).toMatchObject({ code: "INVALID_EMAIL", data: { verified: false } });
  });

  it("wrong code → INVALID_CODE with attemptsRemaining; status answers; single use", async () => {
    const arriving = smtp.next();
    await post("/email-otp/send", { email: "dave@example.com", purpose: "signup" });
    const code = codeIn((await arriving).mail.text!);
    const wrong = await post("/email-otp/verify", { email: "DAVE@example.com", code: wrongCode(code), purpose: "signup" });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json()).toMatchObject({ code: "INVALID_CODE", data: { verified: false, attemptsRemaining: 4 } });
    const status = await t.app.inject({ method: "GET", url: "/api/v1/email-otp/status?email=dave%40example.com&purpose=signup", headers: { "x-api-key": t.apiKey } });
    expect(status.json().data).toMatchObject({ pending: true, attemptsRemaining: 4, verifiedAt: null });
    expect((await post("/email-otp/verify", { email: "dave@example.com", code, purpose: "signup" })).json().data.verified).toBe(true);
    const again = await post("/email-otp/verify", { email: "dave@example.com", code, purpose: "signup" });
    expect(again.json()).toMatchObject({ code: "CODE_ALREADY_USED" });
    const after = await post("/email-otp/status", { email: "dave@example.com", purpose: "signup" });
    expect(after.json().data).toMatchObject({ pending: false, verifiedAt: expect.any(String) });
  });

  it("events carry channel email and the masked address only", async () => {
    const arriving = smtp.next();
    const sent = (await post("/email-otp/send", { email: "erin@example.com", userId: "user_9" })).json().data;
    await post("/email-otp/verify", { email: "erin@example.com", code: codeIn((await arriving).mail.text!) });
    const rows = await t.database.db.prisma.event.findMany({ where: { appId: t.appId }, orderBy: { createdAt: "asc" } });
    const mine = rows.map((r) => JSON.parse(r.payload)).filter((p) => p.data.requestId === sent.requestId);
    expect(mine).toHaveLength(2);
    expect(mine.map((p) => [p.event, p.channel, p.data.destination, p.data.externalUserId])).toEqual(expect.arrayContaining([
      ["otp.sent", "email", "e***@example.com", "user_9"],
      ["verification.succeeded", "email", "e***@example.com", "user_9"],
    ]));
    expect(JSON.stringify(rows.map((r) => r.payload))).not.toContain("erin@example.com");
  });

  it("the SMTP server refusing the recipient → 502 DELIVERY_FAILED, and that code never verifies", async () => {
    smtp.refuse.add("frank@example.com");
    const res = await post("/email-otp/send", { email: "frank@example.com" });
    expect(res.statusCode).toBe(502);
    expect(res.json()).toEqual({ success: false, code: "DELIVERY_FAILED", error: "the mail server refused the message (SMTP 550)" });
    const challenge = await t.database.db.prisma.otpChallenge.findFirstOrThrow({ where: { destination: "frank@example.com" } });
    expect(challenge.status).toBe("failed");
    const verify = await post("/email-otp/verify", { email: "frank@example.com", code: "123456" });
    expect(verify.json()).toMatchObject({ code: "OTP_NOT_FOUND", data: { verified: false } });
  });
});

describe("through the SDK, as a customer", () => {
  it("client.email.send / status / verify, and a wrong code as a TwoFactorError", async () => {
    const address = await t.app.listen({ port: 0, host: "127.0.0.1" });
    const client = new TwoFactorClient({ apiKey: t.apiKey, baseUrl: address });
    const arriving = smtp.next();
    const sent = await client.email.send({ email: "grace@example.com", purpose: "login", userId: "user_1" });
    expect(sent).toMatchObject({ requestId: expect.stringMatching(/^otp_/), email: "g***@example.com", expiresIn: 180 });
    const code = codeIn((await arriving).mail.text!);

    const status = await client.email.status({ email: "grace@example.com" });
    expect(status).toEqual({ pending: true, expiresAt: sent.expiresAt, attemptsRemaining: 5, verifiedAt: null });

    const failure = await client.email.verify({ email: "grace@example.com", code: wrongCode(code) }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(TwoFactorError);
    expect(failure).toMatchObject({ code: "INVALID_CODE", status: 400, data: { verified: false, attemptsRemaining: 4 } });

    const verified = await client.email.verify({ email: "grace@example.com", code, purpose: "login", userId: "user_1" });
    // With userId and purpose the answer reports MFA progress (API.md §8); this app has no policies.
    expect(verified).toEqual({ verified: true, verificationId: expect.stringMatching(/^ver_/), mfa: { satisfied: true, remainingChannels: [] } });
  });
});

describe("an SMTP server that never answers", () => {
  it("→ 502 DELIVERY_FAILED within the (shortened) deadline", async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => void sockets.push(socket)); // accepts, never greets
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const config = testConfig({ SMTP_URL: `smtp://127.0.0.1:${(silent.address() as AddressInfo).port}` });
    const other = await createTestApp({ database: t.database, deps: { mailer: createMailer(config, { timeoutMs: 300 }) } });
    try {
      const res = await other.app.inject({ method: "POST", url: "/api/v1/email-otp/send", headers: { "x-api-key": other.apiKey }, payload: { email: "heidi@example.com" } });
      expect(res.statusCode).toBe(502);
      // The message names the deadline that fired: the injected 0.3 s, not the default 10 s.
      expect(res.json()).toMatchObject({ code: "DELIVERY_FAILED", error: "the mail server did not accept the message within 0.3 s" });
    } finally {
      await other.app.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
