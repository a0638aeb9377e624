/**
 * The real firebase-admin path (src/infra/push.ts, PUSH_PROVIDER=fcm) against a local fake of
 * Google's endpoints that speaks their real protocols:
 * - OAuth 2.0 token endpoint (the service account's `token_uri`, here http://127.0.0.1:<port>/token):
 *   checks the RFC 7523 JWT bearer grant — grant_type, an RS256 assertion that verifies with the
 *   service account's public key, iss/aud/scope/exp — and issues an access token;
 * - FCM HTTP v1 `POST /v1/projects/{project}/messages:send` on fcm.googleapis.com: checks the
 *   bearer token and the message (token, notification, string-only data, no match number) and
 *   can answer UNREGISTERED (404), an invalid token (400 INVALID_ARGUMENT) or INTERNAL (500),
 *   with FCM v1's error JSON.
 *
 * firebase-admin always calls https://fcm.googleapis.com. It is reached here through the only
 * test-only seam, the sender's `httpAgent` option (firebase-admin's own `httpAgent` app option,
 * meant for proxies): an https.Agent whose connections go to the fake over plain TCP on
 * 127.0.0.1, so no certificate or NODE_TLS_REJECT_UNAUTHORIZED is involved. Everything above
 * the socket — firebase-admin's request building, auth header, error parsing — is the real code.
 */
import { generateKeyPairSync, randomBytes, verify, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createPushSender, readServiceAccount, type PushSender } from "../../../src/infra/push.ts";
import { createTestApp, testConfig, type TestApp } from "../../helpers/build-app.ts";
import { api, eventsOf, registerDevice } from "./push.fixtures.ts";

const PROJECT = "latchkey-test-project";

interface FcmCall {
  host: string | undefined;
  authorization: string | undefined;
  path: string;
  body: { message: Record<string, any> };
}

/** Google's token endpoint and FCM v1, as far as firebase-admin and our credential use them. */
class FakeGoogle {
  readonly server: http.Server;
  readonly fcmCalls: FcmCall[] = [];
  readonly tokenRequests: Array<{ claims: Record<string, unknown>; header: Record<string, unknown> }> = [];
  readonly issuedTokens = new Set<string>();
  port = 0;

  constructor(private readonly trustedKey: KeyObject, private readonly clientEmail: string) {
    this.server = http.createServer((req, res) => {
      let raw = "";
      req.on("data", (chunk) => (raw += chunk));
      req.on("end", () => (req.url === "/token" ? this.token(req, raw, res) : this.fcm(req, raw, res)));
    });
  }

  get tokenUri(): string {
    return `http://127.0.0.1:${this.port}/token`;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** An https.Agent for firebase-admin whose every connection lands on this fake. */
  agent(): https.Agent {
    const port = this.port;
    return new (class extends https.Agent {
      override createConnection(): net.Socket {
        return net.connect(port, "127.0.0.1");
      }
    })({ keepAlive: true });
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { "content-type": "application/json; charset=UTF-8" });
    res.end(JSON.stringify(body));
  }

  private token(req: http.IncomingMessage, raw: string, res: http.ServerResponse): void {
    const form = new URLSearchParams(raw);
    if (req.method !== "POST" || req.headers["content-type"] !== "application/x-www-form-urlencoded") return this.json(res, 400, { error: "invalid_request" });
    if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") return this.json(res, 400, { error: "unsupported_grant_type" });
    const [headerPart, claimsPart, signaturePart] = (form.get("assertion") ?? "").split(".");
    if (!headerPart || !claimsPart || !signaturePart) return this.json(res, 400, { error: "invalid_grant", error_description: "malformed assertion" });
    const header = JSON.parse(Buffer.from(headerPart, "base64url").toString()) as Record<string, unknown>;
    const claims = JSON.parse(Buffer.from(claimsPart, "base64url").toString()) as Record<string, unknown>;
    const signed = verify("RSA-SHA256", Buffer.from(`${headerPart}.${claimsPart}`), this.trustedKey, Buffer.from(signaturePart, "base64url"));
    const now = Math.floor(Date.now() / 1000);
    const valid = header.alg === "RS256" && signed && claims.iss === this.clientEmail && claims.aud === this.tokenUri
      && String(claims.scope).split(" ").includes("https://www.googleapis.com/auth/firebase.messaging")
      && typeof claims.iat === "number" && typeof claims.exp === "number" && Math.abs(claims.iat - now) < 60 && claims.exp - claims.iat <= 3600;
    if (!valid) return this.json(res, 400, { error: "invalid_grant", error_description: "Invalid JWT Signature." });
    this.tokenRequests.push({ header, claims });
    const accessToken = `ya29.${randomBytes(16).toString("hex")}`;
    this.issuedTokens.add(accessToken);
    this.json(res, 200, { access_token: accessToken, expires_in: 3599, token_type: "Bearer" });
  }

  private fcm(req: http.IncomingMessage, raw: string, res: http.ServerResponse): void {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    if (!bearer || !this.issuedTokens.has(bearer)) {
      return this.json(res, 401, { error: { code: 401, message: "Request had invalid authentication credentials.", status: "UNAUTHENTICATED" } });
    }
    if (req.method !== "POST" || req.url !== `/v1/projects/${PROJECT}/messages:send`) return this.json(res, 404, { error: { code: 404, message: "Not found", status: "NOT_FOUND" } });
    const body = JSON.parse(raw) as FcmCall["body"];
    this.fcmCalls.push({ host: req.headers.host, authorization: req.headers.authorization, path: req.url, body });
    const token = String(body.message.token);
    if (token.startsWith("unregistered")) {
      return this.json(res, 404, {
        error: {
          code: 404,
          message: "Requested entity was not found.",
          status: "NOT_FOUND",
          details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode: "UNREGISTERED" }],
        },
      });
    }
    if (token.startsWith("invalid")) {
      return this.json(res, 400, {
        error: {
          code: 400,
          message: "The registration token is not a valid FCM registration token",
          status: "INVALID_ARGUMENT",
          details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode: "INVALID_ARGUMENT" }],
        },
      });
    }
    if (token.startsWith("down")) {
      return this.json(res, 500, { error: { code: 500, message: "Internal error encountered.", status: "INTERNAL", details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode: "INTERNAL" }] } });
    }
    this.json(res, 200, { name: `projects/${PROJECT}/messages/${this.fcmCalls.length}` });
  }
}

function serviceAccountJson(tokenUri: string, privateKey: KeyObject, clientEmail: string): string {
  return JSON.stringify({
    type: "service_account",
    project_id: PROJECT,
    private_key_id: "key-1",
    private_key: privateKey.export({ type: "pkcs8", format: "pem" }),
    client_email: clientEmail,
    client_id: "1234567890",
    token_uri: tokenUri,
  });
}

const clientEmail = `latchkey@${PROJECT}.iam.gserviceaccount.com`;
const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
let google: FakeGoogle;
let agent: https.Agent;
let t: TestApp;
let sender: PushSender;

beforeAll(async () => {
  google = new FakeGoogle(keys.publicKey, clientEmail);
  await google.start();
  agent = google.agent();
  const env = { PUSH_PROVIDER: "fcm", FIREBASE_SERVICE_ACCOUNT: serviceAccountJson(google.tokenUri, keys.privateKey, clientEmail) };
  // The same function buildApp uses for its default sender, with the test's agent.
  sender = createPushSender(testConfig(env), { httpAgent: agent });
  t = await createTestApp({ env, deps: { push: sender } });
});
afterAll(async () => {
  await t?.close();
  await sender?.close();
  agent?.destroy();
  if (google) await new Promise((resolve) => google.server.close(resolve));
});
beforeEach(() => {
  google.fcmCalls.length = 0;
});

async function devicesOf(userId: string): Promise<Array<{ deviceId: string; active: boolean }>> {
  return (await api(t).call("GET", `/push/devices?userId=${userId}`)).json().data.devices;
}

describe("PUSH_PROVIDER=fcm through firebase-admin", () => {
  it("gets an access token with a signed JWT bearer grant and sends an FCM v1 message per device", async () => {
    await registerDevice(t, { userId: "fcm_a", fcmToken: "token-phone-a", platform: "ios" });
    await registerDevice(t, { userId: "fcm_a", fcmToken: "token-tablet-a", platform: "android" });
    const res = await api(t).send({ userId: "fcm_a", title: "로그인 승인 요청", body: "새로운 기기에서 로그인을 시도합니다.", numberMatching: true, context: { ip: "203.0.113.9" } });
    expect(res.statusCode, res.body).toBe(200);
    const { requestId, expiresAt, matchNumber } = res.json().data;

    expect(google.tokenRequests.length).toBeGreaterThanOrEqual(1);
    expect(google.tokenRequests[0]).toMatchObject({ header: { alg: "RS256", kid: "key-1" }, claims: { iss: clientEmail, aud: google.tokenUri } });
    expect(google.fcmCalls.map((c) => c.body.message.token).sort()).toEqual(["token-phone-a", "token-tablet-a"]);
    for (const call of google.fcmCalls) {
      expect(call.host).toBe("fcm.googleapis.com");
      expect(google.issuedTokens.has(call.authorization!.slice("Bearer ".length))).toBe(true);
      const { message } = call.body;
      expect(message.notification).toEqual({ title: "로그인 승인 요청", body: "새로운 기기에서 로그인을 시도합니다." });
      expect(message.data).toMatchObject({ requestId, title: "로그인 승인 요청", body: "새로운 기기에서 로그인을 시도합니다.", expiresAt, numberMatching: "true", context: "{\"ip\":\"203.0.113.9\"}" });
      for (const value of Object.values(message.data)) expect(typeof value).toBe("string");
      expect(message.android).toMatchObject({ priority: "high" });
      expect(message.apns.headers).toMatchObject({ "apns-priority": "10", "apns-expiration": String(Math.floor(new Date(expiresAt).getTime() / 1000)) });
      // Nothing the phone shows or hands to the app reveals the number the user must pick.
      // (Transport headers such as apns-priority "10" are protocol constants, not content.)
      const content = { notification: message.notification, data: message.data, aps: message.apns.payload };
      expect(JSON.stringify(content)).not.toMatch(new RegExp(`"${matchNumber}"|:${matchNumber}[,}]`));
      for (const value of Object.values(message.data)) expect(value).not.toBe(matchNumber);
    }
  });

  it("a device FCM reports UNREGISTERED is deactivated; the others still get the request", async () => {
    const good = await registerDevice(t, { userId: "fcm_b", fcmToken: "token-b" });
    const gone = await registerDevice(t, { userId: "fcm_b", fcmToken: "unregistered-b" });
    const res = await api(t).send({ userId: "fcm_b" });
    expect(res.statusCode).toBe(200);
    expect(await devicesOf("fcm_b")).toEqual([
      expect.objectContaining({ deviceId: good.deviceId, active: true }),
      expect.objectContaining({ deviceId: gone.deviceId, active: false }),
    ]);
    // The deactivated device gets nothing more and its token no longer answers.
    google.fcmCalls.length = 0;
    const next = (await api(t).send({ userId: "fcm_b" })).json().data;
    expect(google.fcmCalls.map((c) => c.body.message.token)).toEqual(["token-b"]);
    expect((await api(t).respondAsDevice(gone.deviceToken, { requestId: next.requestId, action: "approve" })).statusCode).toBe(401);
    // Registering the app instance again brings the device back.
    await registerDevice(t, { userId: "fcm_b", fcmToken: "unregistered-b" });
    expect((await devicesOf("fcm_b")).every((d) => d.active)).toBe(true);
  });

  it("no device reachable (unregistered, invalid token) → 502 DELIVERY_FAILED, the request failed, devices deactivated", async () => {
    await registerDevice(t, { userId: "fcm_c", fcmToken: "unregistered-c" });
    await registerDevice(t, { userId: "fcm_c", fcmToken: "invalid-c" });
    const res = await api(t).send({ userId: "fcm_c" });
    expect(res.statusCode).toBe(502);
    const body = res.json();
    expect(body).toMatchObject({ success: false, code: "DELIVERY_FAILED", data: { status: "failed" } });
    const { requestId } = body.data;
    expect((await api(t).verify({ requestId })).json().data).toMatchObject({ verified: false, status: "failed", reason: "delivery_failed" });
    expect((await devicesOf("fcm_c")).map((d) => d.active)).toEqual([false, false]);
    expect((await eventsOf(t, "verification.failed")).filter((e) => e.data.requestId === requestId)).toEqual([
      expect.objectContaining({ channel: "push", data: expect.objectContaining({ reason: "delivery_failed", externalUserId: "fcm_c" }) }),
    ]);
    // A failed request cannot be answered and does not count as pending.
    expect((await api(t).call("POST", "/push/respond", { requestId, action: "approve" })).statusCode).toBe(409);
  });

  it("FCM failing for other reasons → 502, but the devices stay active", async () => {
    await registerDevice(t, { userId: "fcm_d", fcmToken: "down-d" });
    const res = await api(t).send({ userId: "fcm_d" });
    expect(res.statusCode).toBe(502);
    expect(res.json().code).toBe("DELIVERY_FAILED");
    expect((await devicesOf("fcm_d")).map((d) => d.active)).toEqual([true]);
  });

  it("a service account the token endpoint refuses → 502, no FCM call, devices stay active", async () => {
    const stranger = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const env = { PUSH_PROVIDER: "fcm", FIREBASE_SERVICE_ACCOUNT: serviceAccountJson(google.tokenUri, stranger, clientEmail) };
    const refused = createPushSender(testConfig(env), { httpAgent: agent });
    const other = await createTestApp({ env, database: t.database, deps: { push: refused } });
    try {
      await registerDevice(other, { userId: "fcm_e", fcmToken: "token-e" });
      const res = await api(other).send({ userId: "fcm_e" });
      expect(res.statusCode).toBe(502);
      expect(google.fcmCalls).toEqual([]);
      expect((await api(other).call("GET", "/push/devices?userId=fcm_e")).json().data.devices[0].active).toBe(true);
    } finally {
      await other.close();
      await refused.close();
    }
  });

  it("FIREBASE_SERVICE_ACCOUNT may be a path to the JSON file", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "latchkey-sa-"));
    const file = path.join(dir, "service-account.json");
    writeFileSync(file, serviceAccountJson(google.tokenUri, keys.privateKey, clientEmail), { mode: 0o600 });
    const fromFile = createPushSender(testConfig({ PUSH_PROVIDER: "fcm", FIREBASE_SERVICE_ACCOUNT: file }), { httpAgent: agent });
    try {
      const [outcome] = await fromFile.send([{ token: "token-file", title: "t", body: "b", data: { requestId: "push_x" }, expiresAt: new Date(Date.now() + 60_000) }]);
      expect(outcome).toMatchObject({ ok: true, messageId: expect.stringContaining(`projects/${PROJECT}/messages/`) });
    } finally {
      await fromFile.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("FIREBASE_SERVICE_ACCOUNT problems stop the start with a clear message", () => {
  it.each([
    ["not JSON", "{nope", /not valid JSON/],
    ["a missing file", "/nonexistent/sa.json", /cannot read/],
    ["no private_key", JSON.stringify({ project_id: "p", client_email: "a@b" }), /lacks "private_key"/],
    ["no project_id", JSON.stringify({ private_key: keys.privateKey.export({ type: "pkcs8", format: "pem" }), client_email: "a@b" }), /lacks "project_id"/],
    ["a broken key", JSON.stringify({ project_id: "p", client_email: "a@b", private_key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" }), /not a PEM private key/],
  ])("%s", (_name, value, message) => {
    expect(() => readServiceAccount(value)).toThrow(message);
  });

  it("never repeats the private key in the message", () => {
    const pem = keys.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    try {
      readServiceAccount(JSON.stringify({ private_key: pem, client_email: "a@b" }));
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain("PRIVATE KEY");
    }
  });
});
