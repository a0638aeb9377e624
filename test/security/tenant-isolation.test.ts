/**
 * Tenant isolation (API.md §1: nothing crosses apps), table driven over every app-scoped
 * `/api/v1` route. App A holds a user with every kind of factor, a pending push request, an
 * OTP challenge, a webhook endpoint with a delivery, and a policy. App B's secret, publishable
 * and ephemeral keys then call every route with A's identifiers. The attack succeeds if any
 * answer carries A's data, if any route addressing one of A's resources answers 2xx, or if
 * anything of A's changed afterwards. A route the table does not list fails the test, so a new
 * route cannot skip this check.
 */
import diagnostics from "node:diagnostics_channel";
import type { FastifyInstance, RouteOptions } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keysRepository } from "../../src/features/keys/keys.repository.ts";
import { createApiKey } from "../../src/features/keys/keys.service.ts";
import { policiesRepository } from "../../src/features/mfa/policies.repository.ts";
import { createTestApp, type TestApp } from "../helpers/build-app.ts";
import { SoftAuthenticator } from "../helpers/soft-authenticator.ts";
import { RecordingPushSender } from "../features/push/push.fixtures.ts";

const ORIGIN = "http://localhost:3000";
const USER = "victim";
const PHONE = "01012345678";
const EMAIL = "victim@example.com";

type Method = "GET" | "POST" | "PATCH" | "DELETE";
interface Row {
  /** Fastify route: method and path pattern, e.g. `DELETE /api/v1/webhooks/:id`. */
  route: string;
  url: () => string;
  body?: (key: string) => object | Promise<object>;
  /** Addresses one of A's resources by id: must answer 403 or 404 whatever the key. */
  addressesA?: boolean;
}

let t: TestApp;
const routes: RouteOptions[] = [];
const a = {} as {
  totpSecret: string;
  credentialId: string;
  deviceId: string;
  deviceToken: string;
  requestId: string;
  webhookId: string;
  webhookSecret: string;
  deliveryId: string;
  policyId: string;
};
const authenticator = new SoftAuthenticator({ origin: ORIGIN });
const keysOfB: Record<string, string> = {};

const callAs = (key: string, method: Method, url: string, body?: object) =>
  t.app.inject({ method, url, headers: { "x-api-key": key }, ...(body ? { payload: body } : {}) });

/** Everything of A's, as A's own secret key sees it. */
async function snapshotOfA(): Promise<unknown> {
  const get = async (url: string) => (await callAs(t.apiKey, "GET", `/api/v1${url}`)).json();
  const db = t.database.db.prisma;
  return {
    totp: await get(`/totp/status?userId=${USER}`),
    credentials: await get(`/webauthn/credentials?userId=${USER}`),
    devices: await get(`/push/devices?userId=${USER}`),
    request: await get(`/push/requests/${a.requestId}`),
    otp: await get(`/otp/status?phone=${PHONE}`),
    email: await get(`/email-otp/status?email=${EMAIL}`),
    webhooks: await get("/webhooks"),
    deliveries: await get(`/webhooks/${a.webhookId}/deliveries`),
    policies: await db.policy.findMany({ where: { appId: t.appId } }),
    keys: await db.apiKey.findMany({ where: { appId: t.appId }, select: { id: true, revokedAt: true } }),
    app: await get("/app"),
  };
}

beforeAll(async () => {
  const onInit = (message: unknown) => (message as { fastify: FastifyInstance }).fastify.addHook("onRoute", (route) => void routes.push(route));
  diagnostics.subscribe("fastify.initialization", onInit);
  try {
    t = await createTestApp({
      env: { WEBHOOK_ALLOW_PRIVATE: "true" },
      deps: { push: new RecordingPushSender(), webhooks: { worker: false } },
    });
  } finally {
    diagnostics.unsubscribe("fastify.initialization", onInit);
  }
  const asA = (method: Method, url: string, body?: object) => callAs(t.apiKey, method, `/api/v1${url}`, body);

  a.totpSecret = (await asA("POST", "/totp/setup", { userId: USER })).json().data.secret;
  const options = (await asA("POST", "/webauthn/register/options", { userId: USER })).json().data.publicKey;
  const { response } = authenticator.register(options);
  const registered = await asA("POST", "/webauthn/register/verify", { userId: USER, ...response });
  expect(registered.statusCode, registered.body).toBe(200);
  a.credentialId = registered.json().data.credentialId;
  const device = await asA("POST", "/push/devices", { userId: USER, fcmToken: "fcm-token-of-a", platform: "android" });
  expect(device.statusCode, device.body).toBe(201);
  ({ deviceId: a.deviceId, deviceToken: a.deviceToken } = device.json().data);
  a.requestId = (await asA("POST", "/push/send", { userId: USER })).json().data.requestId;
  expect((await asA("POST", "/otp/send", { phone: PHONE, userId: USER })).statusCode).toBe(200);
  expect((await asA("POST", "/email-otp/send", { email: EMAIL, userId: USER })).statusCode).toBe(200);
  const webhook = (await asA("POST", "/webhooks", { url: "http://127.0.0.1:9/hook" })).json().data;
  ({ id: a.webhookId, secret: a.webhookSecret } = webhook);
  expect((await asA("POST", `/webhooks/${a.webhookId}/test`, {})).statusCode).toBeLessThan(300);
  a.deliveryId = (await asA("GET", `/webhooks/${a.webhookId}/deliveries`)).json().data.deliveries[0].id;
  a.policyId = (await policiesRepository(t.database.db.prisma).insert({
    id: "pol_tenantisolation", appId: t.appId, name: "A's payment policy", enabled: true, priority: 0,
    match: { purposes: ["payment"] }, requiredChannels: ["totp"], withinSeconds: 300,
  })).id;

  const b = await t.createTenant("B");
  keysOfB.secret = b.apiKey;
  keysOfB.publishable = (await createApiKey(keysRepository(t.database.db.prisma), { appId: b.appId, kind: "publishable" })).key;
  keysOfB.ephemeral = (await callAs(b.apiKey, "POST", "/api/v1/auth/ephemeral", { scopes: "webauthn,totp,push,sms,email", epi: 3_600_000 })).json().ephemeral_key;
}, 60_000);
afterAll(async () => t?.close());

const rows: Row[] = [
  { route: "GET /api/v1/app", url: () => "/api/v1/app" },
  { route: "POST /api/v1/auth/ephemeral", url: () => "/api/v1/auth/ephemeral", body: () => ({ user_id: USER }) },
  { route: "POST /api/v1/otp/send", url: () => "/api/v1/otp/send", body: () => ({ phone: PHONE }) },
  { route: "POST /api/v1/otp/verify", url: () => "/api/v1/otp/verify", body: () => ({ phone: PHONE, code: "000000" }) },
  { route: "GET /api/v1/otp/status", url: () => `/api/v1/otp/status?phone=${PHONE}` },
  { route: "POST /api/v1/otp/status", url: () => "/api/v1/otp/status", body: () => ({ phone: PHONE }) },
  { route: "POST /api/v1/email-otp/send", url: () => "/api/v1/email-otp/send", body: () => ({ email: EMAIL }) },
  { route: "POST /api/v1/email-otp/verify", url: () => "/api/v1/email-otp/verify", body: () => ({ email: EMAIL, code: "000000" }) },
  { route: "GET /api/v1/email-otp/status", url: () => `/api/v1/email-otp/status?email=${EMAIL}` },
  { route: "POST /api/v1/email-otp/status", url: () => "/api/v1/email-otp/status", body: () => ({ email: EMAIL }) },
  { route: "POST /api/v1/totp/setup", url: () => "/api/v1/totp/setup", body: () => ({ userId: USER }) },
  { route: "POST /api/v1/totp/verify", url: () => "/api/v1/totp/verify", body: () => ({ userId: USER, token: "000000" }) },
  { route: "GET /api/v1/totp/status", url: () => `/api/v1/totp/status?userId=${USER}` },
  { route: "GET /api/v1/totp/status/:userId", url: () => `/api/v1/totp/status/${USER}` },
  { route: "POST /api/v1/totp/status", url: () => "/api/v1/totp/status", body: () => ({ userId: USER }) },
  { route: "DELETE /api/v1/totp/:userId", url: () => `/api/v1/totp/${USER}` },
  { route: "POST /api/v1/totp/backup-codes", url: () => "/api/v1/totp/backup-codes", body: () => ({ userId: USER }) },
  { route: "POST /api/v1/webauthn/register/options", url: () => "/api/v1/webauthn/register/options", body: () => ({ userId: USER }) },
  { route: "POST /api/v1/webauthn/register/verify", url: () => "/api/v1/webauthn/register/verify", body: () => ({ userId: USER, id: a.credentialId, rawId: a.credentialId, type: "public-key", response: { clientDataJSON: "e30", attestationObject: "oA" } }) },
  { route: "POST /api/v1/webauthn/authenticate/options", url: () => "/api/v1/webauthn/authenticate/options", body: () => ({ userId: USER }) },
  { route: "POST /api/v1/webauthn/authenticate/verify", url: () => "/api/v1/webauthn/authenticate/verify", body: async (key) => {
    // A's real passkey answering a discoverable-login challenge that app B issued.
    const options = (await callAs(key, "POST", "/api/v1/webauthn/authenticate/options", {})).json().data.publicKey;
    return authenticator.assert(options);
  }, addressesA: true },
  { route: "GET /api/v1/webauthn/credentials", url: () => `/api/v1/webauthn/credentials?userId=${USER}` },
  { route: "PATCH /api/v1/webauthn/credentials/:credentialId", url: () => `/api/v1/webauthn/credentials/${a.credentialId}`, body: () => ({ deviceName: "taken over" }), addressesA: true },
  { route: "DELETE /api/v1/webauthn/credentials/:credentialId", url: () => `/api/v1/webauthn/credentials/${a.credentialId}`, addressesA: true },
  { route: "POST /api/v1/push/devices", url: () => "/api/v1/push/devices", body: () => ({ userId: USER, fcmToken: "fcm-token-of-b", platform: "ios" }) },
  { route: "GET /api/v1/push/devices", url: () => `/api/v1/push/devices?userId=${USER}` },
  { route: "DELETE /api/v1/push/devices/:deviceId", url: () => `/api/v1/push/devices/${a.deviceId}`, addressesA: true },
  { route: "POST /api/v1/push/send", url: () => "/api/v1/push/send", body: () => ({ userId: USER }) },
  { route: "POST /api/v1/push/verify", url: () => "/api/v1/push/verify", body: () => ({ requestId: a.requestId }), addressesA: true },
  { route: "GET /api/v1/push/requests/:requestId", url: () => `/api/v1/push/requests/${a.requestId}`, addressesA: true },
  { route: "POST /api/v1/webhooks", url: () => "/api/v1/webhooks", body: () => ({ url: "http://127.0.0.1:9/b-hook" }) },
  { route: "GET /api/v1/webhooks", url: () => "/api/v1/webhooks" },
  { route: "GET /api/v1/webhooks/:id", url: () => `/api/v1/webhooks/${a.webhookId}`, addressesA: true },
  { route: "PATCH /api/v1/webhooks/:id", url: () => `/api/v1/webhooks/${a.webhookId}`, body: () => ({ url: "http://127.0.0.1:9/stolen" }), addressesA: true },
  { route: "DELETE /api/v1/webhooks/:id", url: () => `/api/v1/webhooks/${a.webhookId}`, addressesA: true },
  { route: "POST /api/v1/webhooks/:id/rotate-secret", url: () => `/api/v1/webhooks/${a.webhookId}/rotate-secret`, body: () => ({}), addressesA: true },
  { route: "POST /api/v1/webhooks/:id/test", url: () => `/api/v1/webhooks/${a.webhookId}/test`, body: () => ({}), addressesA: true },
  { route: "GET /api/v1/webhooks/:id/deliveries", url: () => `/api/v1/webhooks/${a.webhookId}/deliveries`, addressesA: true },
  { route: "GET /api/v1/webhooks/deliveries/:deliveryId", url: () => `/api/v1/webhooks/deliveries/${a.deliveryId}`, addressesA: true },
  { route: "POST /api/v1/webhooks/deliveries/:deliveryId/redeliver", url: () => `/api/v1/webhooks/deliveries/${a.deliveryId}/redeliver`, body: () => ({}), addressesA: true },
  { route: "POST /api/v1/mfa/check", url: () => "/api/v1/mfa/check", body: () => ({ userId: USER, purpose: "payment" }) },
];

/** Routes a tenant's key reaches: under /api/v1, not the operator API, not device-token routes. */
function appScopedRoutes(): string[] {
  const keyless = (r: RouteOptions) => (r.config as { auth?: string } | undefined)?.auth === "none";
  return routes
    .filter((r) => r.url.startsWith("/api/v1/") && !r.url.startsWith("/api/v1/admin"))
    .filter((r) => !keyless(r) || r.url === "/api/v1/auth/ephemeral")
    .flatMap((r) => (Array.isArray(r.method) ? r.method : [r.method]).filter((m) => m !== "HEAD").map((m) => `${m} ${r.url}`));
}

describe("tenant isolation", () => {
  it("app A's data is in place to be attacked", async () => {
    const snapshot = (await snapshotOfA()) as Record<string, { data?: Record<string, unknown> }>;
    expect(snapshot.totp!.data).toMatchObject({ pending: true });
    expect(snapshot.credentials!.data!.credentials).toHaveLength(1);
    expect(snapshot.devices!.data!.devices).toHaveLength(1);
    expect(snapshot.request!.data).toMatchObject({ status: "pending" });
    expect(snapshot.webhooks!.data!.endpoints ?? snapshot.webhooks!.data).toBeTruthy();
    expect(JSON.stringify(snapshot.webhooks)).toContain(a.webhookId);
    expect(snapshot.policies).toHaveLength(1);
  });

  it("the table covers every app-scoped route", () => {
    expect(rows.map((r) => r.route).sort()).toEqual([...new Set(appScopedRoutes())].sort());
  });

  it.each(["secret", "publishable", "ephemeral"])("app B's %s key neither reads nor changes anything of app A's", async (kind) => {
    const before = await snapshotOfA();
    const secretsOfA = [t.appId, a.totpSecret, a.credentialId, a.deviceId, a.deviceToken, a.requestId, a.webhookId, a.webhookSecret, a.deliveryId, a.policyId, "A's payment policy"];
    for (const row of rows) {
      const [method] = row.route.split(" ") as [Method];
      const key = keysOfB[kind]!;
      const res = await callAs(key, method, row.url(), await row.body?.(key));
      const label = `${kind} key: ${row.route} → ${res.statusCode} ${res.body.slice(0, 200)}`;
      expect(res.statusCode, label).toBeLessThan(500);
      for (const secret of secretsOfA) expect(res.body.includes(secret), `${label} leaks ${secret}`).toBe(false);
      if (row.addressesA) expect([400, 403, 404], label).toContain(res.statusCode);
      // A's policy must not apply to B's users.
      if (row.route === "POST /api/v1/mfa/check" && kind === "secret") expect(res.json().data).toMatchObject({ allowed: true });
    }
    expect(await snapshotOfA()).toEqual(before);
  }, 60_000);
});
