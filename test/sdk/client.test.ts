/**
 * The SDK against a local HTTP server that records each request and answers
 * with the contract's envelopes (API.md §2) — no fetch mocks, the real
 * transport end to end.
 */
import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import TwoFactorClientDefault, { TwoFactorClient, TwoFactorError, verifyWebhookSignature } from "../../src/sdk/index.ts";

interface RecordedRequest {
  method: string;
  /** Path and query as sent. */
  url: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  rawBody: string;
  body: unknown;
}

interface Reply {
  status?: number;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as is (overrides `json`). */
  raw?: string;
  delayMs?: number;
}

type Responder = (request: RecordedRequest) => Reply;

const API_KEY = "2fa_test_key_0123456789abcdef";
const okEnvelope = (data: unknown): Reply => ({ json: { success: true, message: "ok", data } });

let server: Server;
let origin: string;
let requests: RecordedRequest[] = [];
let responder: Responder = () => okEnvelope({});

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const rawBody = Buffer.concat(chunks).toString("utf8");
      const url = new URL(req.url ?? "/", "http://localhost");
      const recorded: RecordedRequest = {
        method: req.method ?? "",
        url: req.url ?? "",
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        rawBody,
        body: rawBody === "" ? undefined : JSON.parse(rawBody),
      };
      requests.push(recorded);
      const reply = responder(recorded);
      const send = (): void => {
        const body = reply.raw ?? JSON.stringify(reply.json ?? {});
        const contentType = reply.raw === undefined ? "application/json; charset=utf-8" : "text/html";
        res.writeHead(reply.status ?? 200, { "content-type": contentType, ...reply.headers });
        res.end(body);
      };
      if (reply.delayMs === undefined) send();
      else setTimeout(send, reply.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  requests = [];
  responder = () => okEnvelope({});
});

function newClient(overrides: Partial<ConstructorParameters<typeof TwoFactorClient>[0]> = {}): TwoFactorClient {
  return new TwoFactorClient({ apiKey: API_KEY, baseUrl: origin, ...overrides });
}

function onlyRequest(): RecordedRequest {
  expect(requests).toHaveLength(1);
  return requests[0]!;
}

/** Runs `call` and returns what it threw, failing the test when it did not throw. */
async function caught(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (err) {
    return err;
  }
  throw new Error("expected the call to throw");
}

async function caughtTwoFactorError(call: () => Promise<unknown>): Promise<TwoFactorError> {
  const err = await caught(call);
  expect(err).toBeInstanceOf(TwoFactorError);
  return err as TwoFactorError;
}

describe("TwoFactorClient transport", () => {
  it("sends the API key and Accept on every call, Content-Type only with a body", async () => {
    const client = newClient({ headers: { "X-Trace": "abc" } });
    await client.app.get();
    await client.sms.send({ phone: "01012345678" });

    const [get, post] = requests;
    expect(get!.headers["x-api-key"]).toBe(API_KEY);
    expect(get!.headers["accept"]).toBe("application/json");
    expect(get!.headers["content-type"]).toBeUndefined();
    expect(get!.headers["x-trace"]).toBe("abc");
    expect(post!.headers["x-api-key"]).toBe(API_KEY);
    expect(post!.headers["content-type"]).toBe("application/json");
    expect(post!.headers["idempotency-key"]).toBeUndefined();
  });

  it("sends Idempotency-Key when a POST is given one", async () => {
    await newClient().sms.send({ phone: "01012345678" }, { idempotencyKey: "order-42-otp" });
    expect(onlyRequest().headers["idempotency-key"]).toBe("order-42-otp");
  });

  it("a caller's headers cannot replace the SDK's Accept or API key", async () => {
    await newClient({ headers: { accept: "text/plain", "x-api-key": "other" } }).app.get();
    const { headers } = onlyRequest();
    expect(headers["accept"]).toBe("application/json");
    expect(headers["x-api-key"]).toBe(API_KEY);
  });

  it.each([
    ["origin only", (o: string) => o, "/api/v1/app"],
    ["trailing slash", (o: string) => `${o}/`, "/api/v1/app"],
    ["with /api/v1", (o: string) => `${o}/api/v1`, "/api/v1/app"],
    ["with /api/v1/", (o: string) => `${o}/api/v1/`, "/api/v1/app"],
    ["behind a path prefix", (o: string) => `${o}/2fa/`, "/2fa/api/v1/app"],
  ])("normalizes a base URL given %s", async (_name, baseUrl, expectedPath) => {
    const client = newClient({ baseUrl: baseUrl(origin) });
    await client.app.get();
    expect(onlyRequest().path).toBe(expectedPath);
    expect(client.baseUrl).toBe(origin + expectedPath.replace(/\/app$/, ""));
  });

  it("refuses a base URL that is not absolute http(s)", () => {
    expect(() => newClient({ baseUrl: "localhost:3000" })).toThrow(TypeError);
    expect(() => newClient({ baseUrl: "/api/v1" })).toThrow(TypeError);
    expect(() => newClient({ baseUrl: "ftp://example.com" })).toThrow(TypeError);
  });

  it("returns the envelope's data", async () => {
    const app = { appId: "app_123", name: "결제 서비스", settings: { otpCodeLength: 6 } };
    responder = () => okEnvelope(app);
    await expect(newClient().app.get()).resolves.toEqual(app);
  });

  it("exports the client as the default export too", () => {
    expect(TwoFactorClientDefault).toBe(TwoFactorClient);
  });
});

describe("TwoFactorClient routes", () => {
  it("sms.send posts the body to /otp/send", async () => {
    const data = { requestId: "otp_1", phone: "+82******5678", expiresAt: "2026-11-22T07:03:00.000Z", expiresIn: 180 };
    responder = () => ({ status: 201, json: { success: true, message: "OTP sent", data } });
    const input = { phone: "01012345678", purpose: "payment", userId: "user_123", locale: "ko" };
    await expect(newClient().sms.send(input)).resolves.toEqual(data);
    const request = onlyRequest();
    expect(request.method).toBe("POST");
    expect(request.path).toBe("/api/v1/otp/send");
    expect(request.body).toEqual(input);
  });

  it("sms.status is a GET on /otp/status with an encoded query", async () => {
    await newClient().sms.status({ phone: "+821012345678", purpose: "login" });
    const request = onlyRequest();
    expect(request.method).toBe("GET");
    expect(request.path).toBe("/api/v1/otp/status");
    // A raw "+" would read back as a space.
    expect(request.url).toContain("phone=%2B821012345678");
    expect(request.query.get("phone")).toBe("+821012345678");
    expect(request.query.get("purpose")).toBe("login");
    expect(request.rawBody).toBe("");
  });

  it("sms.status leaves out parameters that are not given", async () => {
    await newClient().sms.status({ phone: "01012345678" });
    expect(onlyRequest().query.has("purpose")).toBe(false);
  });

  it("email.verify posts to /email-otp/verify", async () => {
    await newClient().email.verify({ email: "kim@example.com", code: "123456", purpose: "signup" });
    const request = onlyRequest();
    expect(request.path).toBe("/api/v1/email-otp/verify");
    expect(request.body).toEqual({ email: "kim@example.com", code: "123456", purpose: "signup" });
  });

  it("email.status queries /email-otp/status", async () => {
    await newClient().email.status({ email: "kim@example.com" });
    const request = onlyRequest();
    expect(request.path).toBe("/api/v1/email-otp/status");
    expect(request.query.get("email")).toBe("kim@example.com");
  });

  it("totp.verify sends `code` as `token`", async () => {
    await newClient().totp.verify({ userId: "user_123", code: "123456" });
    expect(onlyRequest().body).toEqual({ userId: "user_123", token: "123456" });
  });

  it("totp.verify sends `token` as given", async () => {
    await newClient().totp.verify({ userId: "user_123", token: "654321" });
    expect(onlyRequest().body).toEqual({ userId: "user_123", token: "654321" });
  });

  it("totp.status puts the user id in the path, URL-encoded", async () => {
    await newClient().totp.status("team/김 1");
    const request = onlyRequest();
    expect(request.method).toBe("GET");
    expect(request.url).toBe(`/api/v1/totp/status/${encodeURIComponent("team/김 1")}`);
  });

  it("totp.disable is DELETE /totp/:userId; backupCodes posts the user id", async () => {
    const client = newClient();
    await client.totp.disable("user_123");
    await client.totp.backupCodes("user_123");
    expect(requests.map((r) => [r.method, r.path, r.body])).toEqual([
      ["DELETE", "/api/v1/totp/user_123", undefined],
      ["POST", "/api/v1/totp/backup-codes", { userId: "user_123" }],
    ]);
  });

  it("refuses '.' and '..' as ids: URL parsing would turn them into another route", async () => {
    const client = newClient();
    await expect(client.totp.disable("..")).rejects.toThrow(TypeError);
    await expect(client.webhooks.delete(".")).rejects.toThrow(TypeError);
    await expect(client.push.removeDevice("")).rejects.toThrow(TypeError);
    expect(requests).toHaveLength(0);
  });

  const registration = {
    id: "Y3JlZC0x",
    rawId: "Y3JlZC0x",
    type: "public-key" as const,
    response: { clientDataJSON: "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIn0", attestationObject: "o2NmbXRk", transports: ["internal"] },
  };
  const topLevelShape = { userId: "user_123", ...registration, deviceName: "MacBook" };

  it("webauthn.registerVerify flattens a nested credential to the top-level shape", async () => {
    const browserAnswer = { ...registration, clientExtensionResults: {}, authenticatorAttachment: "platform" };
    await newClient().webauthn.registerVerify({ userId: "user_123", credential: browserAnswer, deviceName: "MacBook" });
    const request = onlyRequest();
    expect(request.path).toBe("/api/v1/webauthn/register/verify");
    expect(request.body).toEqual(topLevelShape);
  });

  it("webauthn.registerVerify sends top-level credential fields unchanged", async () => {
    await newClient().webauthn.registerVerify({ userId: "user_123", ...registration, deviceName: "MacBook" });
    expect(onlyRequest().body).toEqual(topLevelShape);
  });

  it("webauthn.authenticateOptions without a user posts an empty body", async () => {
    await newClient().webauthn.authenticateOptions();
    const request = onlyRequest();
    expect(request.path).toBe("/api/v1/webauthn/authenticate/options");
    expect(request.body).toEqual({});
  });

  it("webauthn credential calls address the credential id", async () => {
    const client = newClient();
    await client.webauthn.listCredentials("user_123");
    await client.webauthn.renameCredential("Y3JlZC0x_-", "YubiKey");
    await client.webauthn.deleteCredential("Y3JlZC0x_-");
    expect(requests.map((r) => [r.method, r.url, r.body])).toEqual([
      ["GET", "/api/v1/webauthn/credentials?userId=user_123", undefined],
      ["PATCH", "/api/v1/webauthn/credentials/Y3JlZC0x_-", { deviceName: "YubiKey" }],
      ["DELETE", "/api/v1/webauthn/credentials/Y3JlZC0x_-", undefined],
    ]);
  });

  it("push.send posts to /push/send", async () => {
    const input = { userId: "user_123", title: "로그인 요청", numberMatching: true, timeoutSeconds: 60 };
    await newClient().push.send(input);
    const request = onlyRequest();
    expect(request.path).toBe("/api/v1/push/send");
    expect(request.body).toEqual(input);
  });

  it("push.respond with a device token sends X-Device-Token and no API key", async () => {
    await newClient().push.respond("push_1", "approve", { deviceToken: "dt_secret", matchNumber: "42" });
    const request = onlyRequest();
    expect(request.path).toBe("/api/v1/push/respond");
    expect(request.headers["x-device-token"]).toBe("dt_secret");
    expect(request.headers["x-api-key"]).toBeUndefined();
    expect(request.body).toEqual({ requestId: "push_1", action: "approve", matchNumber: "42" });
  });

  it("push.respond works from a client built without an API key", async () => {
    const deviceClient = new TwoFactorClient({ baseUrl: origin });
    await deviceClient.push.respond("push_1", "deny", { deviceToken: "dt_secret" });
    expect(onlyRequest().headers["x-api-key"]).toBeUndefined();
  });

  it("push.respond without a device token answers with the API key", async () => {
    await newClient().push.respond("push_1", "deny");
    const request = onlyRequest();
    expect(request.headers["x-api-key"]).toBe(API_KEY);
    expect(request.headers["x-device-token"]).toBeUndefined();
    expect(request.body).toEqual({ requestId: "push_1", action: "deny" });
  });

  it("mfa.check posts to /mfa/check", async () => {
    const data = { allowed: true, satisfiedChannels: ["totp"] };
    responder = () => okEnvelope(data);
    const input = { userId: "user_123", purpose: "payment", context: { amount: 500_000, ip: "203.0.113.7" } };
    await expect(newClient().mfa.check(input)).resolves.toEqual(data);
    const request = onlyRequest();
    expect(request.path).toBe("/api/v1/mfa/check");
    expect(request.body).toEqual(input);
  });

  it("webhooks methods map to the /webhooks routes", async () => {
    const client = newClient();
    await client.webhooks.create({ url: "https://example.com/hooks", events: ["push.approved"] });
    await client.webhooks.list({ limit: 10 });
    await client.webhooks.get("wh_1");
    await client.webhooks.update("wh_1", { enabled: false });
    await client.webhooks.delete("wh_1");
    await client.webhooks.rotateSecret("wh_1");
    await client.webhooks.test("wh_1");
    await client.webhooks.deliveries("wh_1", { cursor: "c_2" });
    await client.webhooks.redeliver("dlv_9", { idempotencyKey: "redeliver-dlv_9" });
    expect(requests.map((r) => [r.method, r.url])).toEqual([
      ["POST", "/api/v1/webhooks"],
      ["GET", "/api/v1/webhooks?limit=10"],
      ["GET", "/api/v1/webhooks/wh_1"],
      ["PATCH", "/api/v1/webhooks/wh_1"],
      ["DELETE", "/api/v1/webhooks/wh_1"],
      ["POST", "/api/v1/webhooks/wh_1/rotate-secret"],
      ["POST", "/api/v1/webhooks/wh_1/test"],
      ["GET", "/api/v1/webhooks/wh_1/deliveries?cursor=c_2"],
      ["POST", "/api/v1/webhooks/deliveries/dlv_9/redeliver"],
    ]);
    expect(requests[0]!.body).toEqual({ url: "https://example.com/hooks", events: ["push.approved"] });
    expect(requests[3]!.body).toEqual({ enabled: false });
    expect(requests[8]!.headers["idempotency-key"]).toBe("redeliver-dlv_9");
  });
});

describe("TwoFactorClient errors", () => {
  it("maps 400 INVALID_CODE with data.attemptsRemaining", async () => {
    responder = () => ({
      status: 400,
      json: { success: false, error: "invalid code", code: "INVALID_CODE", data: { verified: false, attemptsRemaining: 2 } },
    });
    const err = await caughtTwoFactorError(() => newClient().sms.verify({ phone: "01012345678", code: "000000" }));
    expect(err.code).toBe("INVALID_CODE");
    expect(err.status).toBe(400);
    expect(err.message).toBe("invalid code");
    expect(err.data).toEqual({ verified: false, attemptsRemaining: 2 });
    expect(err.retryAfter).toBeUndefined();
  });

  it("maps 400 VALIDATION_ERROR with details", async () => {
    const details = [{ field: "phone", message: "required" }];
    responder = () => ({ status: 400, json: { success: false, error: "bad input", code: "VALIDATION_ERROR", details } });
    const err = await caughtTwoFactorError(() => newClient().sms.send({ phone: "" }));
    expect(err.code).toBe("VALIDATION_ERROR");
    expect(err.details).toEqual(details);
  });

  it("maps 403 MFA_REQUIRED with requiredChannels and matchedPolicies", async () => {
    responder = () => ({
      status: 403,
      json: {
        success: false,
        code: "MFA_REQUIRED",
        error: "additional verification required",
        requiredChannels: ["totp"],
        matchedPolicies: ["결제 시 추가 인증"],
      },
    });
    const err = await caughtTwoFactorError(() => newClient().mfa.check({ userId: "user_123", purpose: "payment" }));
    expect(err.code).toBe("MFA_REQUIRED");
    expect(err.status).toBe(403);
    expect(err.requiredChannels).toEqual(["totp"]);
    expect(err.matchedPolicies).toEqual(["결제 시 추가 인증"]);
  });

  it("maps 429 with Retry-After to retryAfter seconds", async () => {
    responder = () => ({
      status: 429,
      headers: { "retry-after": "17", "x-ratelimit-limit": "3", "x-ratelimit-remaining": "0" },
      json: { success: false, error: "too many requests", code: "RATE_LIMITED" },
    });
    const err = await caughtTwoFactorError(() => newClient().sms.send({ phone: "01012345678" }));
    expect(err.code).toBe("RATE_LIMITED");
    expect(err.status).toBe(429);
    expect(err.retryAfter).toBe(17);
  });

  it("treats a 200 envelope with success:false as a failure", async () => {
    responder = () => ({ json: { success: false, error: "nope", code: "FORBIDDEN" } });
    const err = await caughtTwoFactorError(() => newClient().app.get());
    expect(err.code).toBe("FORBIDDEN");
    expect(err.status).toBe(200);
  });

  it("a non-JSON 502 from a proxy is INVALID_RESPONSE with the status", async () => {
    responder = () => ({ status: 502, raw: "<html><body>502 Bad Gateway</body></html>" });
    const err = await caughtTwoFactorError(() => newClient().app.get());
    expect(err.code).toBe("INVALID_RESPONSE");
    expect(err.status).toBe(502);
    expect(err.details).toMatchObject({ contentType: "text/html", bodyPreview: expect.stringContaining("502 Bad Gateway") });
  });

  it("a non-JSON 200 is INVALID_RESPONSE too", async () => {
    responder = () => ({ status: 200, raw: "OK" });
    const err = await caughtTwoFactorError(() => newClient().app.get());
    expect(err.code).toBe("INVALID_RESPONSE");
    expect(err.status).toBe(200);
  });

  it("a closed port is NETWORK_ERROR with status 0", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const err = await caughtTwoFactorError(() => newClient({ baseUrl: `http://127.0.0.1:${port}` }).app.get());
    expect(err.code).toBe("NETWORK_ERROR");
    expect(err.status).toBe(0);
    expect(err.cause).toBeDefined();
  });

  it("a server slower than timeoutMs is TIMEOUT with status 0", async () => {
    responder = () => ({ ...okEnvelope({}), delayMs: 1_000 });
    const startedAt = Date.now();
    const err = await caughtTwoFactorError(() => newClient({ timeoutMs: 100 }).app.get());
    expect(err.code).toBe("TIMEOUT");
    expect(err.status).toBe(0);
    expect(Date.now() - startedAt).toBeLessThan(900);
  });

  it("the caller's abort signal rejects with its reason, not a TwoFactorError", async () => {
    responder = () => ({ ...okEnvelope({}), delayMs: 1_000 });
    const controller = new AbortController();
    const call = newClient().app.get({ signal: controller.signal });
    setTimeout(() => controller.abort(new Error("user left")), 50);
    const err = await caught(() => call);
    expect(err).not.toBeInstanceOf(TwoFactorError);
    expect((err as Error).message).toBe("user left");
  });
});

describe("push long polling", () => {
  it("push.verify with wait outlasts the client timeout (a long poll is slow on purpose)", async () => {
    responder = () => ({ ...okEnvelope({ verified: true, status: "approved" }), delayMs: 300 });
    const result = await newClient({ timeoutMs: 100 }).push.verify("push_1", { wait: 1 });
    expect(result.status).toBe("approved");
    expect(onlyRequest().body).toEqual({ requestId: "push_1", wait: 1 });
  });

  it("waitForApproval polls verify with `wait` until the request is approved", async () => {
    let polls = 0;
    responder = (request) => {
      expect(request.path).toBe("/api/v1/push/verify");
      polls += 1;
      return polls < 3
        ? okEnvelope({ verified: false, status: "pending" })
        : okEnvelope({ verified: true, status: "approved", respondedAt: "2026-11-22T07:00:05.000Z" });
    };
    const result = await newClient().push.waitForApproval("push_1", { pollIntervalMs: 0, userId: "user_123" });
    expect(result).toEqual({ verified: true, status: "approved", respondedAt: "2026-11-22T07:00:05.000Z" });
    expect(requests).toHaveLength(3);
    for (const request of requests) {
      expect(request.body).toEqual({ requestId: "push_1", userId: "user_123", wait: 25 });
    }
  });

  it("waitForApproval stops at a denial", async () => {
    responder = () => okEnvelope({ verified: false, status: "denied" });
    const result = await newClient().push.waitForApproval("push_1", { pollIntervalMs: 0 });
    expect(result.status).toBe("denied");
    expect(requests).toHaveLength(1);
  });

  it("waitForApproval returns the last pending data on timeout instead of throwing", async () => {
    responder = () => okEnvelope({ verified: false, status: "pending" });
    const startedAt = Date.now();
    const result = await newClient().push.waitForApproval("push_1", { timeoutMs: 300, pollIntervalMs: 50 });
    const elapsedMs = Date.now() - startedAt;
    expect(result).toEqual({ verified: false, status: "pending" });
    expect(elapsedMs).toBeGreaterThanOrEqual(290);
    expect(elapsedMs).toBeLessThan(2_000);
    // Under a second left: no long poll, and polls spaced by pollIntervalMs rather than a busy loop.
    expect(requests.every((r) => (r.body as { wait?: number }).wait === undefined)).toBe(true);
    expect(requests.length).toBeGreaterThanOrEqual(2);
    expect(requests.length).toBeLessThanOrEqual(10);
  });
});

describe("verifyWebhookSignature", () => {
  const secret = "whsec_current_0123456789";
  const oldSecret = "whsec_previous_9876543210";
  const payload = {
    id: "evt_01",
    event: "verification.succeeded",
    channel: "sms",
    createdAt: "2026-11-22T07:00:00.000Z",
    data: { externalUserId: "사용자_123", purpose: "결제", requestId: "otp_1", destination: "+82******5678", note: "인증 완료 ✅" },
  };
  const rawBody = JSON.stringify(payload);
  const sign = (body: string, key: string): string =>
    `sha256=${createHmac("sha256", key).update(body, "utf8").digest("hex")}`;

  it("accepts the raw body as a string and as bytes", () => {
    expect(verifyWebhookSignature(rawBody, sign(rawBody, secret), secret)).toBe(true);
    expect(verifyWebhookSignature(Buffer.from(rawBody, "utf8"), sign(rawBody, secret), secret)).toBe(true);
  });

  it("accepts the parsed object (Express re-serializing req.body)", () => {
    const parsed: unknown = JSON.parse(rawBody);
    expect(verifyWebhookSignature(parsed as object, sign(rawBody, secret), secret)).toBe(true);
  });

  it("accepts either signature of a rotation header", () => {
    const header = `${sign(rawBody, oldSecret)} ${sign(rawBody, secret)}`;
    expect(verifyWebhookSignature(rawBody, header, secret)).toBe(true);
    expect(verifyWebhookSignature(payload, header, oldSecret)).toBe(true);
    expect(verifyWebhookSignature(rawBody, header, "whsec_someone_else")).toBe(false);
  });

  it("accepts Node's repeated-header array", () => {
    expect(verifyWebhookSignature(rawBody, ["sha256=00", sign(rawBody, secret)], secret)).toBe(true);
  });

  it("rejects a wrong secret and a tampered body", () => {
    expect(verifyWebhookSignature(rawBody, sign(rawBody, secret), "whsec_wrong")).toBe(false);
    const tampered = rawBody.replace("결제", "로그인");
    expect(verifyWebhookSignature(tampered, sign(rawBody, secret), secret)).toBe(false);
  });

  it.each([
    ["empty", ""],
    ["prefix only", "sha256="],
    ["not hex", `sha256=${"z".repeat(64)}`],
    ["truncated", "sha256=abcdef"],
    ["no prefix", "0".repeat(64)],
    ["another algorithm", `sha1=${"0".repeat(64)}`],
    ["garbage", "v1,dGhpcyBpcyBub3QgaXQ="],
  ])("rejects a malformed header (%s)", (_name, header) => {
    expect(verifyWebhookSignature(rawBody, header, secret)).toBe(false);
  });

  it("rejects the right signature with its hex digest bare (prefix required)", () => {
    const bare = sign(rawBody, secret).slice("sha256=".length);
    expect(verifyWebhookSignature(rawBody, bare, secret)).toBe(false);
  });

  it("rejects a missing header or an empty secret", () => {
    expect(verifyWebhookSignature(rawBody, undefined, secret)).toBe(false);
    expect(verifyWebhookSignature(rawBody, sign(rawBody, ""), "")).toBe(false);
  });
});
