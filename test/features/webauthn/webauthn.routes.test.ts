/**
 * WebAuthn through the real HTTP stack (API.md §4.4): options, registration and authentication
 * with both body shapes SecureKey's examples send, discoverable login, credential management,
 * publishable keys and the relying party from config or per app. A software authenticator
 * (test/helpers/soft-authenticator.ts) signs real assertions.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keysRepository } from "../../../src/features/keys/keys.repository.ts";
import { createApiKey } from "../../../src/features/keys/keys.service.ts";
import { webauthnRepository } from "../../../src/features/webauthn/webauthn.repository.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { nodeSdkShape, SoftAuthenticator, type RegistrationJSON } from "../../helpers/soft-authenticator.ts";

const ORIGIN = "http://localhost:3000";

let t: TestApp;
let publishableKey: string;
beforeAll(async () => {
  t = await createTestApp();
  publishableKey = (await createApiKey(keysRepository(t.database.db.prisma), { appId: t.appId, kind: "publishable" })).key;
});
afterAll(async () => t?.close());

function call(method: "GET" | "POST" | "PATCH" | "DELETE", url: string, body?: unknown, key = t.apiKey) {
  return t.app.inject({ method, url: `/api/v1${url}`, headers: { "x-api-key": key }, ...(body === undefined ? {} : { payload: body as object }) });
}

async function registerOptions(userId: string, extra: Record<string, unknown> = {}, key = t.apiKey) {
  const res = await call("POST", "/webauthn/register/options", { userId, ...extra }, key);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data.publicKey;
}

/** Options → authenticator → verify (top-level base64url shape). */
async function register(authenticator: SoftAuthenticator, userId: string, deviceName?: string) {
  const publicKey = await registerOptions(userId);
  const { credential, response } = authenticator.register(publicKey);
  const res = await call("POST", "/webauthn/register/verify", { userId, ...response, ...(deviceName ? { deviceName } : {}) });
  expect(res.statusCode, res.body).toBe(200);
  return credential;
}

async function authOptions(userId?: string, key = t.apiKey) {
  const res = await call("POST", "/webauthn/authenticate/options", userId === undefined ? {} : { userId }, key);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data.publicKey;
}

async function events(type: string, appId = t.appId) {
  const rows = await t.database.db.query<{ payload: string }>("SELECT payload FROM events WHERE app_id = $1 AND type = $2 ORDER BY created_at, id", [appId, type]);
  return rows.map((r) => JSON.parse(r.payload) as { event: string; channel: string; data: Record<string, unknown> });
}

describe("POST /webauthn/register/options", () => {
  it("answers creation options for navigator.credentials.create, with userName", async () => {
    const publicKey = await registerOptions("user_123", { userName: "a@b.com" });
    expect(publicKey).toMatchObject({
      rp: { id: "localhost", name: "Latchkey" },
      user: { id: expect.any(String), name: "a@b.com", displayName: "a@b.com" },
      challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      pubKeyCredParams: expect.arrayContaining([{ type: "public-key", alg: -7 }, { type: "public-key", alg: -257 }]),
      timeout: 300_000,
      excludeCredentials: [],
      authenticatorSelection: { residentKey: "preferred", requireResidentKey: false, userVerification: "preferred" },
      attestation: "none",
    });
  });

  it("with userId only (the Java/Go examples), userName and displayName default to it", async () => {
    const publicKey = await registerOptions("user_only");
    expect(publicKey.user).toMatchObject({ name: "user_only", displayName: "user_only" });
  });

  it("the WebAuthn user.id is an opaque, stable handle, not the caller's user id", async () => {
    const first = await registerOptions("alice@example.com");
    const second = await registerOptions("alice@example.com");
    expect(first.user.id).toBe(second.user.id);
    expect(Buffer.from(first.user.id, "base64url").toString()).not.toContain("alice");
    expect(first.challenge).not.toBe(second.challenge);
    const other = await registerOptions("bob@example.com");
    expect(other.user.id).not.toBe(first.user.id);
  });

  it("passes authenticatorAttachment and residentKey through", async () => {
    const publicKey = await registerOptions("user_sel", { authenticatorAttachment: "cross-platform", residentKey: "required" });
    expect(publicKey.authenticatorSelection).toMatchObject({ authenticatorAttachment: "cross-platform", residentKey: "required", requireResidentKey: true });
  });

  it("stores the challenge server side for 5 minutes", async () => {
    const publicKey = await registerOptions("user_chal");
    const [row] = await t.database.db.query<{ ceremony: string; external_user_id: string; ttl: number }>(
      "SELECT ceremony, external_user_id, EXTRACT(EPOCH FROM expires_at - created_at)::int AS ttl FROM webauthn_challenges WHERE app_id = $1 AND challenge = $2",
      [t.appId, publicKey.challenge],
    );
    expect(row).toEqual({ ceremony: "registration", external_user_id: "user_chal", ttl: 300 });
  });

  it("challenges expired long ago are purged in bounded batches, live ones kept", async () => {
    const live = await registerOptions("user_purge");
    await t.database.db.query(
      `INSERT INTO webauthn_challenges (id, app_id, ceremony, challenge, external_user_id, created_at, expires_at)
       SELECT 'wch_old_' || g, $1, 'authentication', 'old_' || g, NULL, now() - interval '3 hours', now() - interval '2 hours' FROM generate_series(1, 5) g`,
      [t.appId],
    );
    const repo = webauthnRepository(t.database.db);
    expect(await repo.purgeChallenges(new Date(Date.now() - 3600_000), 3)).toBe(3);
    expect(await repo.purgeChallenges(new Date(Date.now() - 3600_000), 1000)).toBe(2);
    const left = await t.database.db.query("SELECT challenge FROM webauthn_challenges WHERE app_id = $1 AND challenge = $2", [t.appId, live.challenge]);
    expect(left).toHaveLength(1);
  });

  it.each([
    ["no userId", {}],
    ["an empty userId", { userId: "" }],
    ["a userId over 128 characters", { userId: "u".repeat(129) }],
    ["a numeric userId", { userId: 123 }],
    ["an unknown residentKey", { userId: "u", residentKey: "always" }],
  ])("%s → 400 VALIDATION_ERROR", async (_name, body) => {
    const res = await call("POST", "/webauthn/register/options", body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ success: false, code: "VALIDATION_ERROR", details: expect.any(Array) });
  });
});

describe("POST /webauthn/register/verify", () => {
  it("accepts the Node SDK shape: top level, rawId (and the response) as btoa standard base64", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN, backupEligible: true, backupState: true, transports: ["internal", "hybrid"] });
    const publicKey = await registerOptions("node_user", { userName: "node@example.com" });
    const { credential, response } = authenticator.register(publicKey);
    const body = { userId: "node_user", ...nodeSdkShape(response), deviceName: "MacBook Touch ID" };
    expect(body.rawId).toBe(Buffer.from(credential.rawId).toString("base64"));
    expect(body.rawId).not.toBe(credential.id);

    const res = await call("POST", "/webauthn/register/verify", body);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      success: true,
      message: expect.any(String),
      data: { verified: true, credentialId: credential.id, deviceName: "MacBook Touch ID" },
    });

    const [row] = await t.database.db.query<Record<string, unknown>>(
      `SELECT c.credential_id, c.public_key, c.counter, c.transports, c.aaguid, c.backup_eligible, c.backup_state, c.device_name, c.created_at, c.last_used_at, u.external_id
       FROM webauthn_credentials c JOIN end_users u ON u.id = c.end_user_id WHERE c.app_id = $1 AND c.credential_id = $2`,
      [t.appId, credential.id],
    );
    expect(row).toMatchObject({
      credential_id: credential.id,
      counter: expect.anything(),
      transports: ["hybrid", "internal"],
      aaguid: "5f5f5f5f-736f-6674-2d61-757468656e74",
      backup_eligible: true,
      backup_state: true,
      device_name: "MacBook Touch ID",
      last_used_at: null,
      external_id: "node_user",
    });
    expect(Number(row!.counter)).toBe(0);
    expect((row!.public_key as Uint8Array).length).toBeGreaterThan(64);
    expect(row!.created_at).toBeInstanceOf(Date);

    const registered = await events("webauthn.registered");
    expect(registered.at(-1)).toMatchObject({ event: "webauthn.registered", channel: "webauthn", data: { externalUserId: "node_user", credentialId: credential.id, deviceName: "MacBook Touch ID" } });
  });

  it("accepts the PHP example's nested shape { userId, credential: { id, rawId, type, response } }", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const publicKey = await registerOptions("php_user");
    const { credential, response } = authenticator.register(publicKey);
    const res = await call("POST", "/webauthn/register/verify", { userId: "php_user", credential: response });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toEqual({ verified: true, credentialId: credential.id, deviceName: null });
  });

  it("accepts padded base64url and an id given only as rawId", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const publicKey = await registerOptions("padded_user");
    const { credential, response } = authenticator.register(publicKey);
    const pad = (s: string) => s + "=".repeat((4 - (s.length % 4)) % 4);
    const res = await call("POST", "/webauthn/register/verify", {
      userId: "padded_user",
      rawId: pad(response.rawId),
      type: "public-key",
      response: { clientDataJSON: pad(response.response.clientDataJSON), attestationObject: pad(response.response.attestationObject) },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data.credentialId).toBe(credential.id);
  });

  it("an Ed25519 credential registers and signs in too", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN, algorithm: "EdDSA" });
    const credential = await register(authenticator, "ed_user");
    const assertion = authenticator.assert(await authOptions("ed_user"));
    const res = await call("POST", "/webauthn/authenticate/verify", { userId: "ed_user", ...assertion });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toEqual({ verified: true, userId: "ed_user", credentialId: credential.id });
  });

  it("registration options then exclude the user's existing credentials", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN, transports: ["usb", "nfc"] });
    const first = await register(authenticator, "multi_user", "YubiKey");
    const second = await register(new SoftAuthenticator({ origin: ORIGIN }), "multi_user", "Phone");
    const publicKey = await registerOptions("multi_user");
    expect(publicKey.excludeCredentials).toEqual([
      { id: first.id, type: "public-key", transports: ["nfc", "usb"] },
      { id: second.id, type: "public-key", transports: ["internal"] },
    ]);
  });

  it.each<[string, (r: RegistrationJSON) => Record<string, unknown>, string]>([
    ["no credential at all", () => ({ userId: "v" }), "body.credential"],
    ["a response without attestationObject", (r) => ({ userId: "v", id: r.id, rawId: r.rawId, type: "public-key", response: { clientDataJSON: r.response.clientDataJSON } }), "body.response.attestationObject"],
    ["a nested credential without clientDataJSON", (r) => ({ userId: "v", credential: { id: r.id, rawId: r.rawId, response: { attestationObject: r.response.attestationObject } } }), "body.credential.response.clientDataJSON"],
    ["a field that is not base64", (r) => ({ userId: "v", ...r, response: { ...r.response, clientDataJSON: "not base64!" } }), "body.response.clientDataJSON"],
    ["a type other than public-key", (r) => ({ userId: "v", ...r, type: "password" }), "body.type"],
    ["id and rawId naming different credentials", (r) => ({ userId: "v", ...r, rawId: Buffer.alloc(32, 7).toString("base64") }), "body.rawId"],
    ["base64 of an impossible length", (r) => ({ userId: "v", ...r, id: "abcde", rawId: "abcde" }), "body.id"],
  ])("%s → 400 VALIDATION_ERROR naming the field, nothing stored", async (_name, build, field) => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const { response } = authenticator.register(await registerOptions("v"));
    const res = await call("POST", "/webauthn/register/verify", build(response));
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ success: false, code: "VALIDATION_ERROR" });
    expect(res.json().details.map((d: { field: string }) => d.field)).toContain(field);
    const rows = await t.database.db.query("SELECT 1 FROM webauthn_credentials c JOIN end_users u ON u.id = c.end_user_id WHERE u.app_id = $1 AND u.external_id = 'v'", [t.appId]);
    expect(rows).toEqual([]);
  });
});

describe("POST /webauthn/authenticate/options", () => {
  it("with userId: the user's credentials as allowCredentials", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN, transports: ["usb"] });
    const credential = await register(authenticator, "opt_user");
    const publicKey = await authOptions("opt_user");
    expect(publicKey).toMatchObject({
      rpId: "localhost",
      challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      allowCredentials: [{ id: credential.id, type: "public-key", transports: ["usb"] }],
      userVerification: "preferred",
      timeout: 300_000,
    });
  });

  it("without userId (also with no body at all): options for a discoverable passkey login", async () => {
    const empty = await authOptions();
    expect(empty.allowCredentials).toEqual([]);
    const noBody = await t.app.inject({ method: "POST", url: "/api/v1/webauthn/authenticate/options", headers: { "x-api-key": t.apiKey } });
    expect(noBody.statusCode, noBody.body).toBe(200);
    expect(noBody.json().data.publicKey.allowCredentials).toEqual([]);
    const nullUser = await call("POST", "/webauthn/authenticate/options", { userId: null });
    expect(nullUser.json().data.publicKey.allowCredentials).toEqual([]);
  });

  it("a user with no credentials → 404 NOT_FOUND, and no challenge is stored", async () => {
    const before = await t.database.db.query("SELECT count(*)::int AS n FROM webauthn_challenges");
    const res = await call("POST", "/webauthn/authenticate/options", { userId: "nobody" });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ success: false, code: "NOT_FOUND" });
    expect(await t.database.db.query("SELECT count(*)::int AS n FROM webauthn_challenges")).toEqual(before);
  });
});

describe("POST /webauthn/authenticate/verify", () => {
  it("top-level shape with userId → verified, counter and last use stored, Verification row and event written", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const credential = await register(authenticator, "login_user");
    const assertion = authenticator.assert(await authOptions("login_user"));
    const res = await call("POST", "/webauthn/authenticate/verify", { userId: "login_user", ...assertion, purpose: "payment" });
    expect(res.statusCode, res.body).toBe(200);
    // With purpose the answer reports MFA progress (API.md §8); this app has no policies.
    expect(res.json()).toEqual({ success: true, message: expect.any(String), data: { verified: true, userId: "login_user", credentialId: credential.id, mfa: { satisfied: true, remainingChannels: [] } } });

    const [row] = await t.database.db.query<{ counter: string; last_used_at: Date | null }>("SELECT counter, last_used_at FROM webauthn_credentials WHERE app_id = $1 AND credential_id = $2", [t.appId, credential.id]);
    expect(Number(row!.counter)).toBe(1);
    expect(row!.last_used_at).toBeInstanceOf(Date);
    const verifications = await t.database.db.query("SELECT channel, purpose, external_user_id, reference FROM verifications WHERE app_id = $1 AND external_user_id = 'login_user'", [t.appId]);
    expect(verifications).toEqual([{ channel: "webauthn", purpose: "payment", external_user_id: "login_user", reference: credential.id }]);
    const succeeded = (await events("verification.succeeded")).filter((e) => e.data.externalUserId === "login_user");
    expect(succeeded).toEqual([expect.objectContaining({ channel: "webauthn", data: expect.objectContaining({ credentialId: credential.id, purpose: "payment", discoverable: false }) })]);
  });

  it("nested shape and the Node SDK's standard base64 both verify", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const credential = await register(authenticator, "shape_user");
    const nested = authenticator.assert(await authOptions("shape_user"));
    const a = await call("POST", "/webauthn/authenticate/verify", { userId: "shape_user", credential: nested });
    expect(a.statusCode, a.body).toBe(200);
    const std = nodeSdkShape(authenticator.assert(await authOptions("shape_user")));
    const b = await call("POST", "/webauthn/authenticate/verify", { userId: "shape_user", ...std });
    expect(b.statusCode, b.body).toBe(200);
    expect(b.json().data).toEqual({ verified: true, userId: "shape_user", credentialId: credential.id });
  });

  it("discoverable login without userId: the user is found from the credential", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const credential = await register(authenticator, "passkey_user");
    const assertion = authenticator.assert(await authOptions());
    expect(assertion.response.userHandle).toBeTruthy();
    const res = await call("POST", "/webauthn/authenticate/verify", assertion);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toEqual({ verified: true, userId: "passkey_user", credentialId: credential.id });
    const succeeded = (await events("verification.succeeded")).filter((e) => e.data.externalUserId === "passkey_user");
    expect(succeeded.at(-1)?.data).toMatchObject({ discoverable: true, purpose: "login" });
  });

  it("an authenticator without a counter (always 0) signs in again and again", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN, counting: false });
    await register(authenticator, "zero_user");
    for (let i = 0; i < 3; i++) {
      const res = await call("POST", "/webauthn/authenticate/verify", { userId: "zero_user", ...authenticator.assert(await authOptions("zero_user")) });
      expect(res.statusCode, res.body).toBe(200);
    }
  });
});

describe("credential management", () => {
  it("GET /webauthn/credentials?userId= lists the user's credentials", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN, backupEligible: true });
    const credential = await register(authenticator, "list_user", "Pixel");
    await call("POST", "/webauthn/authenticate/verify", { userId: "list_user", ...authenticator.assert(await authOptions("list_user")) });
    const res = await call("GET", "/webauthn/credentials?userId=list_user");
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toEqual({
      credentials: [{
        credentialId: credential.id,
        deviceName: "Pixel",
        createdAt: expect.any(String),
        lastUsedAt: expect.any(String),
        transports: ["internal"],
        aaguid: "5f5f5f5f-736f-6674-2d61-757468656e74",
        backupEligible: true,
        backupState: false,
        counter: 1,
      }],
    });
    expect((await call("GET", "/webauthn/credentials?userId=nobody_at_all")).json().data).toEqual({ credentials: [] });
    expect((await call("GET", "/webauthn/credentials")).statusCode).toBe(400);
  });

  it("PATCH renames a credential; an unknown id or another user's → 404", async () => {
    const credential = await register(new SoftAuthenticator({ origin: ORIGIN }), "rename_user", "Old");
    const res = await call("PATCH", `/webauthn/credentials/${credential.id}`, { deviceName: "New name" });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toMatchObject({ credentialId: credential.id, deviceName: "New name" });
    expect((await call("PATCH", `/webauthn/credentials/${credential.id}?userId=someone_else`, { deviceName: "x" })).statusCode).toBe(404);
    expect((await call("PATCH", "/webauthn/credentials/AAAA", { deviceName: "x" })).statusCode).toBe(404);
    expect((await call("PATCH", `/webauthn/credentials/${credential.id}`, { deviceName: 5 })).statusCode).toBe(400);
    const listed = (await call("GET", "/webauthn/credentials?userId=rename_user")).json().data.credentials;
    expect(listed[0].deviceName).toBe("New name");
  });

  it("DELETE removes a credential, emits webauthn.removed, and it can no longer sign in", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const credential = await register(authenticator, "delete_user");
    const options = await authOptions("delete_user");

    expect((await call("DELETE", `/webauthn/credentials/${credential.id}?userId=other`)).statusCode).toBe(404);
    const res = await call("DELETE", `/webauthn/credentials/${credential.id}`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data).toEqual({ deleted: true, credentialId: credential.id, userId: "delete_user" });
    expect((await call("DELETE", `/webauthn/credentials/${credential.id}`)).statusCode).toBe(404);
    const removed = await events("webauthn.removed");
    expect(removed.at(-1)).toMatchObject({ channel: "webauthn", data: { externalUserId: "delete_user", credentialId: credential.id } });

    const late = await call("POST", "/webauthn/authenticate/verify", { userId: "delete_user", ...authenticator.assert(options) });
    expect(late.statusCode).toBe(400);
    expect(late.json()).toMatchObject({ code: "WEBAUTHN_VERIFICATION_FAILED", data: { verified: false, reason: "credential_not_found" } });
    expect((await call("POST", "/webauthn/authenticate/options", { userId: "delete_user" })).statusCode).toBe(404);
  });

  it("a credential id in the path may be standard base64", async () => {
    const credential = await register(new SoftAuthenticator({ origin: ORIGIN }), "std_path_user");
    const std = encodeURIComponent(Buffer.from(credential.rawId).toString("base64"));
    const res = await call("PATCH", `/webauthn/credentials/${std}`, { deviceName: "via base64" });
    expect(res.statusCode, res.body).toBe(200);
  });
});

describe("publishable keys (browser use, API.md §7)", () => {
  it("may run all four ceremony calls", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const publicKey = await registerOptions("pk_user", {}, publishableKey);
    const { credential, response } = authenticator.register(publicKey);
    const reg = await call("POST", "/webauthn/register/verify", { userId: "pk_user", ...response }, publishableKey);
    expect(reg.statusCode, reg.body).toBe(200);
    const assertion = authenticator.assert(await authOptions("pk_user", publishableKey));
    const res = await call("POST", "/webauthn/authenticate/verify", { userId: "pk_user", ...assertion }, publishableKey);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data.credentialId).toBe(credential.id);
  });

  it("an app with settings.webauthn.publishableKeyRegistration false refuses registration with them (403), not sign-in", async () => {
    const tenant = await t.createTenant("Locked registration");
    await t.database.db.query("UPDATE apps SET settings = $2::jsonb WHERE id = $1", [tenant.appId, JSON.stringify({ webauthn: { publishableKeyRegistration: false } })]);
    const pk = (await createApiKey(keysRepository(t.database.db.prisma), { appId: tenant.appId, kind: "publishable" })).key;
    const as = (url: string, body: unknown, key: string) => t.app.inject({ method: "POST", url: `/api/v1${url}`, headers: { "x-api-key": key }, payload: body as object });

    const refused = await as("/webauthn/register/options", { userId: "victim" }, pk);
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ success: false, code: "FORBIDDEN" });
    // Registration through the server's secret key still works, and the page may then sign in.
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const { response } = authenticator.register((await as("/webauthn/register/options", { userId: "victim" }, tenant.apiKey)).json().data.publicKey);
    expect((await as("/webauthn/register/verify", { userId: "victim", ...response }, pk)).statusCode).toBe(403);
    expect((await as("/webauthn/register/verify", { userId: "victim", ...response }, tenant.apiKey)).statusCode).toBe(200);
    const options = (await as("/webauthn/authenticate/options", { userId: "victim" }, pk)).json().data.publicKey;
    expect((await as("/webauthn/authenticate/verify", authenticator.assert(options), pk)).statusCode).toBe(200);
  });

  it.each([
    ["GET", "/webauthn/credentials?userId=pk_user"],
    ["PATCH", "/webauthn/credentials/AAAA"],
    ["DELETE", "/webauthn/credentials/AAAA"],
  ] as const)("may not %s %s (403 FORBIDDEN)", async (method, url) => {
    const res = await call(method, url, method === "PATCH" ? { deviceName: "x" } : undefined, publishableKey);
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe("FORBIDDEN");
  });
});

describe("per-IP limit on the verify calls (API.md §3)", () => {
  it("the 3rd authenticate/verify and register/verify from one IP within a minute → 429 RATE_LIMITED; options only meet the global limit", async () => {
    const limited = await createTestApp({ database: t.database, env: { RATE_LIMIT_VERIFY_PER_MIN: "2" } });
    try {
      const post = (url: string, body: unknown) => limited.app.inject({ method: "POST", url: `/api/v1${url}`, headers: { "x-api-key": limited.apiKey }, payload: body as object });
      const authenticator = new SoftAuthenticator({ origin: ORIGIN });
      // A key this server never saw: each verify is refused (400) until the limit answers 429.
      const { credential } = authenticator.register({ challenge: "AAAA", rp: { name: "x" }, user: { id: "AAAA", name: "x", displayName: "x" } });
      for (let i = 0; i < 4; i++) expect((await post("/webauthn/authenticate/options", {})).statusCode).toBe(200);
      const attempt = async () => post("/webauthn/authenticate/verify", authenticator.assert((await post("/webauthn/authenticate/options", {})).json().data.publicKey, { credential }));
      expect((await attempt()).statusCode).not.toBe(429);
      expect((await attempt()).statusCode).not.toBe(429);
      const third = await attempt();
      expect(third.statusCode).toBe(429);
      expect(third.json()).toMatchObject({ success: false, code: "RATE_LIMITED" });
      expect(third.headers["retry-after"]).toBeDefined();
      const registration = () => post("/webauthn/register/verify", { userId: "rl_user", ...authenticator.register({ challenge: "AAAA", rp: { name: "x" }, user: { id: "AAAA", name: "x", displayName: "x" } }).response });
      expect((await registration()).statusCode).not.toBe(429);
      expect((await registration()).statusCode).not.toBe(429);
      expect((await registration()).statusCode).toBe(429);
    } finally {
      await limited.app.close();
    }
  });
});

describe("relying party", () => {
  it("per app: rpId, rpName and origins from the app's settings override the deployment's", async () => {
    const tenant = await t.createTenant("Example");
    await t.database.db.query("UPDATE apps SET settings = $2::jsonb WHERE id = $1", [
      tenant.appId,
      JSON.stringify({ webauthn: { rpId: "example.com", rpName: "Example Corp", origins: ["https://login.example.com", "https://example.com/"] } }),
    ]);
    const post = (url: string, body: unknown) => t.app.inject({ method: "POST", url: `/api/v1${url}`, headers: { "x-api-key": tenant.apiKey }, payload: body as object });

    const options = (await post("/webauthn/register/options", { userId: "ex_user" })).json().data.publicKey;
    expect(options.rp).toEqual({ id: "example.com", name: "Example Corp" });
    const authenticator = new SoftAuthenticator({ origin: "https://login.example.com" });
    const { response } = authenticator.register(options);
    expect((await post("/webauthn/register/verify", { userId: "ex_user", ...response })).statusCode).toBe(200);

    // Both configured origins work (the trailing slash is forgiven); the deployment default does not.
    const fromApex = new SoftAuthenticator({ origin: "https://example.com" });
    fromApex.credentials.push(...authenticator.credentials);
    const ok = await post("/webauthn/authenticate/verify", { userId: "ex_user", ...fromApex.assert((await post("/webauthn/authenticate/options", { userId: "ex_user" })).json().data.publicKey) });
    expect(ok.statusCode, ok.body).toBe(200);
    const wrong = await post("/webauthn/authenticate/verify", {
      userId: "ex_user",
      ...authenticator.assert((await post("/webauthn/authenticate/options", { userId: "ex_user" })).json().data.publicKey, { origin: ORIGIN }),
    });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().data).toEqual({ verified: false, reason: "origin_mismatch" });
  });

  it("from config: WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME and several WEBAUTHN_ORIGINS", async () => {
    const other = await createTestApp({
      database: t.database,
      env: { WEBAUTHN_RP_ID: "auth.test", WEBAUTHN_RP_NAME: "Auth Test", WEBAUTHN_ORIGINS: "https://auth.test, https://www.auth.test" },
    });
    try {
      const post = (url: string, body: unknown) => other.app.inject({ method: "POST", url: `/api/v1${url}`, headers: { "x-api-key": other.apiKey }, payload: body as object });
      const options = (await post("/webauthn/register/options", { userId: "cfg_user" })).json().data.publicKey;
      expect(options.rp).toEqual({ id: "auth.test", name: "Auth Test" });
      const authenticator = new SoftAuthenticator({ origin: "https://www.auth.test" });
      expect((await post("/webauthn/register/verify", { userId: "cfg_user", ...authenticator.register(options).response })).statusCode).toBe(200);
      const assertion = authenticator.assert((await post("/webauthn/authenticate/options", { userId: "cfg_user" })).json().data.publicKey, { origin: "https://auth.test" });
      expect((await post("/webauthn/authenticate/verify", assertion)).statusCode).toBe(200);
    } finally {
      await other.close();
    }
  });

  it("userVerification \"required\" in the app's settings asks for it and refuses assertions without it", async () => {
    const tenant = await t.createTenant("Strict");
    await t.database.db.query("UPDATE apps SET settings = $2::jsonb WHERE id = $1", [tenant.appId, JSON.stringify({ webauthn: { userVerification: "required" } })]);
    const post = (url: string, body: unknown) => t.app.inject({ method: "POST", url: `/api/v1${url}`, headers: { "x-api-key": tenant.apiKey }, payload: body as object });
    const options = (await post("/webauthn/register/options", { userId: "uv_user" })).json().data.publicKey;
    expect(options.authenticatorSelection.userVerification).toBe("required");
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const noUv = await post("/webauthn/register/verify", { userId: "uv_user", ...authenticator.register(options, { userVerified: false }).response });
    expect(noUv.json()).toMatchObject({ code: "WEBAUTHN_VERIFICATION_FAILED", data: { reason: "user_verification_required" } });
    const options2 = (await post("/webauthn/register/options", { userId: "uv_user" })).json().data.publicKey;
    expect((await post("/webauthn/register/verify", { userId: "uv_user", ...authenticator.register(options2).response })).statusCode).toBe(200);
    const auth = (await post("/webauthn/authenticate/options", { userId: "uv_user" })).json().data.publicKey;
    expect(auth.userVerification).toBe("required");
    const res = await post("/webauthn/authenticate/verify", authenticator.assert(auth, { userVerified: false, credential: authenticator.credentials.at(-1)! }));
    expect(res.json()).toMatchObject({ code: "WEBAUTHN_VERIFICATION_FAILED", data: { reason: "user_verification_required" } });
  });
});
