/**
 * SMS providers against local HTTP servers that check each request exactly as documented:
 * the `http` gateway (JSON `{to, body, code, appId}`, optional bearer token) and Twilio's
 * Messages API (form-encoded `To`/`From`/`Body`, basic auth, the account's path). A provider
 * that fails (5xx, unreachable, too slow) → 502 DELIVERY_FAILED, an event, and a challenge
 * that can never be verified.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSmsSender } from "../../../src/infra/sms.ts";
import { createTestApp, testConfig, type TestApp } from "../../helpers/build-app.ts";
import { codeIn } from "../otp/otp-fakes.ts";

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

interface Gateway {
  url: string;
  requests: Received[];
  /** What the next requests get: a status, or "hang" (never answer). */
  answer: number | "hang";
  close(): Promise<void>;
}

async function startGateway(): Promise<Gateway> {
  const requests: Received[] = [];
  const hanging: ServerResponse[] = [];
  const gateway = { requests, answer: 200 as number | "hang" } as Gateway;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      if (gateway.answer === "hang") return void hanging.push(res);
      res.writeHead(gateway.answer, { "content-type": "application/json" }).end(JSON.stringify({ sid: "SM123", status: "queued" }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  gateway.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  gateway.close = async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return gateway;
}

const post = (t: TestApp, url: string, body: object) =>
  t.app.inject({ method: "POST", url: `/api/v1${url}`, headers: { "x-api-key": t.apiKey }, payload: body });

describe("SMS_PROVIDER=http", () => {
  let gateway: Gateway;
  let t: TestApp;
  beforeAll(async () => {
    gateway = await startGateway();
    t = await createTestApp({ env: { SMS_PROVIDER: "http", SMS_HTTP_URL: `${gateway.url}/v1/messages?route=otp`, SMS_HTTP_TOKEN: "gw-token-123" } });
  });
  afterAll(async () => {
    await t?.close();
    await gateway?.close();
  });

  it("POSTs JSON {to, body, code, appId} with the bearer token to SMS_HTTP_URL, and the code verifies", async () => {
    const sent = await post(t, "/otp/send", { phone: "010-2222-3333", locale: "en" });
    expect(sent.statusCode).toBe(200);
    expect(gateway.requests).toHaveLength(1);
    const request = gateway.requests[0]!;
    expect(request.method).toBe("POST");
    expect(request.url).toBe("/v1/messages?route=otp");
    expect(request.headers.authorization).toBe("Bearer gw-token-123");
    expect(request.headers["content-type"]).toBe("application/json");
    const json = JSON.parse(request.body) as Record<string, unknown>;
    expect(Object.keys(json).sort()).toEqual(["appId", "body", "code", "to"]);
    expect(json).toEqual({ to: "+821022223333", body: expect.stringMatching(/^\[Test App\] Your verification code is \d{6}\./), code: expect.stringMatching(/^\d{6}$/), appId: t.appId });
    expect(codeIn(json.body as string)).toBe(json.code);

    const verified = await post(t, "/otp/verify", { phone: "+821022223333", code: json.code as string });
    expect(verified.json().data.verified).toBe(true);
  });

  it("a gateway 5xx → 502 DELIVERY_FAILED, a verification.failed event, and that code can never be verified", async () => {
    gateway.answer = 500;
    try {
      const before = gateway.requests.length;
      const res = await post(t, "/otp/send", { phone: "010-4444-5555", userId: "u1" });
      expect(res.statusCode).toBe(502);
      expect(res.json()).toEqual({ success: false, code: "DELIVERY_FAILED", error: "the SMS provider refused the message (HTTP 500)" });
      expect(gateway.requests.length).toBe(before + 1);
      const code = (JSON.parse(gateway.requests.at(-1)!.body) as { code: string }).code;

      const challenge = await t.database.db.prisma.otpChallenge.findFirstOrThrow({ where: { destination: "+821044445555" } });
      expect(challenge.status).toBe("failed");
      const event = await t.database.db.prisma.event.findFirstOrThrow({ where: { appId: t.appId, type: "verification.failed" } });
      expect(JSON.parse(event.payload)).toMatchObject({
        channel: "sms",
        data: { externalUserId: "u1", requestId: challenge.id, destination: "+82******5555", purpose: "login", reason: "delivery_failed" },
      });

      // Even the code the gateway saw does not verify.
      const verify = await post(t, "/otp/verify", { phone: "010-4444-5555", code });
      expect(verify.statusCode).toBe(404);
      expect(verify.json()).toMatchObject({ code: "OTP_NOT_FOUND", data: { verified: false } });
      const status = await post(t, "/otp/status", { phone: "010-4444-5555" });
      expect(status.json().data.pending).toBe(false);

      // The user may try again at once: a failed delivery does not start the 30 s resend wait.
      gateway.answer = 200;
      expect((await post(t, "/otp/send", { phone: "010-4444-5555" })).statusCode).toBe(200);
    } finally {
      gateway.answer = 200;
    }
  });

  it("a 5xx is not stored under the Idempotency-Key: a retry with the same key sends again", async () => {
    gateway.answer = 503;
    const headers = { "x-api-key": t.apiKey, "idempotency-key": "retry-after-outage" };
    const first = await t.app.inject({ method: "POST", url: "/api/v1/otp/send", headers, payload: { phone: "010-6666-7777" } });
    expect(first.statusCode).toBe(502);
    gateway.answer = 200;
    const second = await t.app.inject({ method: "POST", url: "/api/v1/otp/send", headers, payload: { phone: "010-6666-7777" } });
    expect(second.statusCode).toBe(200);
    expect(second.headers["idempotent-replayed"]).toBeUndefined();
  });
});

describe("SMS_PROVIDER=twilio", () => {
  let gateway: Gateway;
  let t: TestApp;
  const sid = "AC0123456789abcdef0123456789abcdef";
  beforeAll(async () => {
    gateway = await startGateway();
    gateway.answer = 201;
    t = await createTestApp({
      env: { SMS_PROVIDER: "twilio", TWILIO_ACCOUNT_SID: sid, TWILIO_AUTH_TOKEN: "tw-secret", TWILIO_FROM: "+15005550006", TWILIO_BASE_URL: `${gateway.url}/` },
    });
  });
  afterAll(async () => {
    await t?.close();
    await gateway?.close();
  });

  it("POSTs the form To/From/Body with basic auth to /2010-04-01/Accounts/{sid}/Messages.json", async () => {
    const sent = await post(t, "/otp/send", { phone: "+82 10-8888-9999" });
    expect(sent.statusCode).toBe(200);
    const request = gateway.requests.at(-1)!;
    expect(request.method).toBe("POST");
    expect(request.url).toBe(`/2010-04-01/Accounts/${sid}/Messages.json`);
    expect(request.headers.authorization).toBe(`Basic ${Buffer.from(`${sid}:tw-secret`).toString("base64")}`);
    expect(request.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    // Percent-encoded UTF-8 (the Korean text), "+" of E.164 encoded as %2B.
    expect(request.body).toMatch(/^To=%2B821088889999&From=%2B15005550006&Body=/);
    const form = new URLSearchParams(request.body);
    expect([...form.keys()]).toEqual(["To", "From", "Body"]);
    expect(form.get("To")).toBe("+821088889999");
    expect(form.get("From")).toBe("+15005550006");
    expect(form.get("Body")).toMatch(/^\[Test App\] 인증번호 \d{6} 를 입력해주세요\.$/);
    expect(Buffer.byteLength(request.body)).toBe(Number(request.headers["content-length"]));

    const verified = await post(t, "/otp/verify", { phone: "01088889999", code: codeIn(form.get("Body")!) });
    expect(verified.json().data.verified).toBe(true);
  });

  it("Twilio answering 400 → 502 DELIVERY_FAILED", async () => {
    gateway.answer = 400;
    try {
      const res = await post(t, "/otp/send", { phone: "010-1111-0000" });
      expect(res.statusCode).toBe(502);
      expect(res.json().code).toBe("DELIVERY_FAILED");
    } finally {
      gateway.answer = 201;
    }
  });
});

describe("provider timeout and an unreachable provider", () => {
  let gateway: Gateway;
  let t: TestApp;
  beforeAll(async () => {
    gateway = await startGateway();
    gateway.answer = "hang";
    const config = testConfig({ SMS_PROVIDER: "http", SMS_HTTP_URL: gateway.url });
    // The 10 s deadline, shortened so the test does not wait for it.
    t = await createTestApp({ deps: { sms: createSmsSender(config, { timeoutMs: 300 }) } });
  });
  afterAll(async () => {
    await t?.close();
    await gateway?.close();
  });

  it("no answer within the deadline → 502 DELIVERY_FAILED and the code is dead", async () => {
    const res = await post(t, "/otp/send", { phone: "010-3333-1111" });
    expect(res.statusCode).toBe(502);
    // The message names the deadline that fired: the injected 0.3 s, not the default 10 s.
    expect(res.json()).toMatchObject({ code: "DELIVERY_FAILED", error: "the SMS provider did not answer within 0.3 s" });
    const code = (JSON.parse(gateway.requests.at(-1)!.body) as { code: string }).code;
    const verify = await post(t, "/otp/verify", { phone: "010-3333-1111", code });
    expect(verify.json()).toMatchObject({ code: "OTP_NOT_FOUND", data: { verified: false } });
  });

  it("a provider that refuses connections → 502 DELIVERY_FAILED", async () => {
    const config = testConfig({ SMS_PROVIDER: "http", SMS_HTTP_URL: "http://127.0.0.1:9/" });
    const other = await createTestApp({ database: t.database, deps: { sms: createSmsSender(config) } });
    try {
      const res = await other.app.inject({ method: "POST", url: "/api/v1/otp/send", headers: { "x-api-key": other.apiKey }, payload: { phone: "010-3333-2222" } });
      expect(res.statusCode).toBe(502);
      expect(res.json()).toMatchObject({ code: "DELIVERY_FAILED", error: "the SMS provider could not be reached" });
    } finally {
      await other.app.close();
    }
  });
});

describe("SMS_PROVIDER=console (the default)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ captureLogs: true });
  });
  afterAll(async () => t?.close());

  it("prints the message, and the printed code verifies; no other log line carries the code", async () => {
    const res = await post(t, "/otp/send", { phone: "01055556666" });
    expect(res.statusCode).toBe(200);
    const printed = t.logs.find((line) => line.provider === "console" && line.channel === "sms");
    expect(printed).toMatchObject({ to: "+821055556666", msg: expect.stringMatching(/^SMS to \+821055556666: \[Test App\] 인증번호 \d{6} /) });
    const code = codeIn(String(printed!.msg).split(": ")[1]!);
    const verify = await post(t, "/otp/verify", { phone: "01055556666", code });
    expect(verify.json().data.verified).toBe(true);
    const elsewhere = t.logs.filter((line) => line !== printed).map((line) => JSON.stringify(line));
    expect(elsewhere.some((line) => line.includes(code))).toBe(false);
  });
});
