/**
 * Attacks on the WebAuthn ceremonies, each answered with 400 WEBAUTHN_VERIFICATION_FAILED
 * (410 CHALLENGE_EXPIRED, 409 CONFLICT) and nothing stored:
 *
 * - replaying a captured registration or assertion (the challenge is single use, also when
 *   the replays race each other);
 * - using a challenge issued to another app, another user, or for the other ceremony;
 * - answering after the 5-minute challenge lifetime;
 * - a phishing origin, an assertion scoped to another RP ID, a forged or corrupted signature,
 *   a missing user-presence flag;
 * - a cloned authenticator (signature counter that does not increase), also when the clone
 *   races the original;
 * - claiming another user's credential id at registration, or signing in as another user
 *   with one's own credential, or a passkey whose user handle names someone else;
 * - reaching another app's credentials through the management routes.
 */
import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/infra/clock.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { SoftAuthenticator, type SoftCredential } from "../../helpers/soft-authenticator.ts";

const ORIGIN = "http://localhost:3000";

let t: TestApp;
const clock = new ManualClock(new Date("2026-11-22T07:00:00.000Z"));
beforeAll(async () => {
  t = await createTestApp({ clock });
});
afterAll(async () => t?.close());

function post(url: string, body: unknown, key = t.apiKey) {
  return t.app.inject({ method: "POST", url: `/api/v1${url}`, headers: { "x-api-key": key }, payload: body as object });
}

async function options(url: string, body: unknown, key = t.apiKey) {
  const res = await post(url, body, key);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data.publicKey;
}

async function register(authenticator: SoftAuthenticator, userId: string): Promise<SoftCredential> {
  const { credential, response } = authenticator.register(await options("/webauthn/register/options", { userId }));
  const res = await post("/webauthn/register/verify", { userId, ...response });
  expect(res.statusCode, res.body).toBe(200);
  return credential;
}

async function credentialRows(userId: string, appId = t.appId) {
  return t.database.db.query<{ credential_id: string; counter: string; last_used_at: Date | null }>(
    "SELECT c.credential_id, c.counter, c.last_used_at FROM webauthn_credentials c JOIN end_users u ON u.id = c.end_user_id WHERE u.app_id = $1 AND u.external_id = $2",
    [appId, userId],
  );
}

async function verificationCount(userId: string) {
  const [row] = await t.database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM verifications WHERE app_id = $1 AND external_user_id = $2", [t.appId, userId]);
  return row!.n;
}

async function failures(userId: string) {
  const rows = await t.database.db.query<{ payload: string }>("SELECT payload FROM events WHERE app_id = $1 AND type = 'verification.failed' ORDER BY created_at, id", [t.appId]);
  return rows.map((r) => JSON.parse(r.payload) as { channel: string; data: Record<string, unknown> }).filter((e) => e.data.externalUserId === userId);
}

function expectFailure(res: { statusCode: number; json(): any }, reason: string, code = "WEBAUTHN_VERIFICATION_FAILED", status = 400) {
  expect(res.statusCode).toBe(status);
  expect(res.json()).toMatchObject({ success: false, code, error: expect.any(String), data: { verified: false, reason } });
}

describe("challenges are single use", () => {
  it("a replayed registration response is refused and stores nothing more", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const { response } = authenticator.register(await options("/webauthn/register/options", { userId: "replay_reg" }));
    expect((await post("/webauthn/register/verify", { userId: "replay_reg", ...response })).statusCode).toBe(200);
    expectFailure(await post("/webauthn/register/verify", { userId: "replay_reg", ...response }), "challenge_already_used");
    expect(await credentialRows("replay_reg")).toHaveLength(1);
  });

  it("a replayed assertion is refused; the counter and verifications stay as the first left them", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await register(authenticator, "replay_auth");
    const assertion = authenticator.assert(await options("/webauthn/authenticate/options", { userId: "replay_auth" }));
    expect((await post("/webauthn/authenticate/verify", assertion)).statusCode).toBe(200);
    expectFailure(await post("/webauthn/authenticate/verify", assertion), "challenge_already_used");
    expect((await credentialRows("replay_auth")).map((r) => Number(r.counter))).toEqual([1]);
    expect(await verificationCount("replay_auth")).toBe(1);
    expect((await failures("replay_auth")).map((e) => e.data.reason)).toEqual(["challenge_already_used"]);
  });

  it("10 concurrent submissions of one assertion: exactly one verifies", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await register(authenticator, "race_user");
    const assertion = authenticator.assert(await options("/webauthn/authenticate/options", { userId: "race_user" }));
    const results = await Promise.all(Array.from({ length: 10 }, () => post("/webauthn/authenticate/verify", assertion)));
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, ...Array(9).fill(400)]);
    expect(await verificationCount("race_user")).toBe(1);
  });

  it("10 concurrent registrations with one response: exactly one credential", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const { response } = authenticator.register(await options("/webauthn/register/options", { userId: "race_reg" }));
    const results = await Promise.all(Array.from({ length: 10 }, () => post("/webauthn/register/verify", { userId: "race_reg", ...response })));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(await credentialRows("race_reg")).toHaveLength(1);
  });
});

describe("challenges expire after 5 minutes", () => {
  it("at 4:59 a challenge still verifies; after 5:00 → 410 CHALLENGE_EXPIRED and nothing stored", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const fresh = authenticator.register(await options("/webauthn/register/options", { userId: "expiry_user" }));
    clock.advance(299_000);
    expect((await post("/webauthn/register/verify", { userId: "expiry_user", ...fresh.response })).statusCode).toBe(200);

    const stale = authenticator.register(await options("/webauthn/register/options", { userId: "expiry_user" }));
    clock.advance(300_001);
    expectFailure(await post("/webauthn/register/verify", { userId: "expiry_user", ...stale.response }), "challenge_expired", "CHALLENGE_EXPIRED", 410);
    expect(await credentialRows("expiry_user")).toHaveLength(1);

    const assertion = authenticator.assert(await options("/webauthn/authenticate/options", { userId: "expiry_user" }));
    clock.advance(300_000);
    expectFailure(await post("/webauthn/authenticate/verify", assertion), "challenge_expired", "CHALLENGE_EXPIRED", 410);
    expect(await verificationCount("expiry_user")).toBe(0);
    expect((await failures("expiry_user")).map((e) => e.data.reason)).toEqual(["challenge_expired", "challenge_expired"]);
  });
});

describe("foreign challenges", () => {
  it("another app's challenge is unknown here: 400, nothing stored in either app, and it stays usable there", async () => {
    const other = await t.createTenant("Other");
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const theirs = await options("/webauthn/register/options", { userId: "shared_name" }, other.apiKey);
    const { response } = authenticator.register(theirs);
    const eventsBefore = await t.database.db.query("SELECT count(*)::int AS n FROM events");
    expectFailure(await post("/webauthn/register/verify", { userId: "shared_name", ...response }), "challenge_not_found");
    expect(await t.database.db.query("SELECT count(*)::int AS n FROM events")).toEqual(eventsBefore);
    expect(await credentialRows("shared_name")).toEqual([]);
    expect((await post("/webauthn/register/verify", { userId: "shared_name", ...response }, other.apiKey)).statusCode).toBe(200);
    expect(await credentialRows("shared_name", other.appId)).toHaveLength(1);
  });

  it("a challenge never issued (made up by the client) → 400 challenge_not_found", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await options("/webauthn/register/options", { userId: "madeup" });
    const { response } = authenticator.register(await options("/webauthn/register/options", { userId: "madeup" }), { challenge: Buffer.alloc(32, 1).toString("base64url") });
    expectFailure(await post("/webauthn/register/verify", { userId: "madeup", ...response }), "challenge_not_found");
  });

  it("user A's registration challenge used to register for user B → 400 user_mismatch, nothing stored for either", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const { response } = authenticator.register(await options("/webauthn/register/options", { userId: "victim_a" }));
    expectFailure(await post("/webauthn/register/verify", { userId: "attacker_b", ...response }), "user_mismatch");
    expect(await credentialRows("victim_a")).toEqual([]);
    expect(await credentialRows("attacker_b")).toEqual([]);
  });

  it("a registration challenge presented as an authentication → 400 wrong_ceremony", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await register(authenticator, "ceremony_user");
    const creation = await options("/webauthn/register/options", { userId: "ceremony_user" });
    const assertion = authenticator.assert({ challenge: creation.challenge, rpId: "localhost" }, { credential: authenticator.credentials[0]! });
    expectFailure(await post("/webauthn/authenticate/verify", { userId: "ceremony_user", ...assertion }), "wrong_ceremony");
    expect(await verificationCount("ceremony_user")).toBe(0);
  });
});

describe("origin, RP ID, signature and presence", () => {
  it("a ceremony on a phishing origin → 400 origin_mismatch, nothing stored, reported with the origin seen", async () => {
    const authenticator = new SoftAuthenticator({ origin: "https://latchkey-login.evil.example" });
    const { response } = authenticator.register(await options("/webauthn/register/options", { userId: "phish_user" }));
    expectFailure(await post("/webauthn/register/verify", { userId: "phish_user", ...response }), "origin_mismatch");
    expect(await credentialRows("phish_user")).toEqual([]);
    expect((await failures("phish_user")).at(-1)).toMatchObject({ channel: "webauthn", data: { ceremony: "registration", reason: "origin_mismatch", origin: "https://latchkey-login.evil.example" } });
  });

  it("an authenticator scoped to another RP ID → 400 rp_id_mismatch (registration and assertion)", async () => {
    const evil = new SoftAuthenticator({ origin: ORIGIN, rpId: "evil.example" });
    const { response } = evil.register(await options("/webauthn/register/options", { userId: "rp_user" }));
    expectFailure(await post("/webauthn/register/verify", { userId: "rp_user", ...response }), "rp_id_mismatch");
    expect(await credentialRows("rp_user")).toEqual([]);

    const good = new SoftAuthenticator({ origin: ORIGIN });
    await register(good, "rp_user");
    const assertion = good.assert(await options("/webauthn/authenticate/options", { userId: "rp_user" }), { rpId: "evil.example" });
    expectFailure(await post("/webauthn/authenticate/verify", assertion), "rp_id_mismatch");
    expect(await verificationCount("rp_user")).toBe(0);
  });

  it("a corrupted signature, or one by another key for the victim's credential id → 400 bad_signature, counter untouched", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await register(authenticator, "sig_user");
    const corrupted = authenticator.assert(await options("/webauthn/authenticate/options", { userId: "sig_user" }), { corruptSignature: true });
    expectFailure(await post("/webauthn/authenticate/verify", corrupted), "bad_signature");
    const attackerKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const forged = authenticator.assert(await options("/webauthn/authenticate/options", { userId: "sig_user" }), { signingKey: attackerKey, counter: 1000 });
    expectFailure(await post("/webauthn/authenticate/verify", forged), "bad_signature");
    const [row] = await credentialRows("sig_user");
    expect(Number(row!.counter)).toBe(0);
    expect(row!.last_used_at).toBeNull();
    expect(await verificationCount("sig_user")).toBe(0);
    // A forged assertion with a lower counter is a bad signature, never a "cloned authenticator".
    expect((await failures("sig_user")).map((e) => e.data.reason)).toEqual(["bad_signature", "bad_signature"]);
  });

  it("an assertion without the user-presence flag → 400 user_not_present", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await register(authenticator, "up_user");
    const assertion = authenticator.assert(await options("/webauthn/authenticate/options", { userId: "up_user" }), { userPresent: false });
    expectFailure(await post("/webauthn/authenticate/verify", assertion), "user_not_present");
  });

  it("clientDataJSON that is not JSON → 400 malformed_response", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await register(authenticator, "garbage_user");
    const assertion = authenticator.assert(await options("/webauthn/authenticate/options", { userId: "garbage_user" }));
    assertion.response.clientDataJSON = Buffer.from("{not json").toString("base64url");
    expectFailure(await post("/webauthn/authenticate/verify", assertion), "malformed_response");
  });
});

describe("signature counter (WebAuthn §6.1.1, §7.2)", () => {
  it("a counter that does not increase is refused and reported as counter_regression", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await register(authenticator, "clone_user");
    const login = (counter: number) => options("/webauthn/authenticate/options", { userId: "clone_user" }).then((o) => post("/webauthn/authenticate/verify", authenticator.assert(o, { counter })));
    expect((await login(5)).statusCode).toBe(200);
    expectFailure(await login(5), "counter_regression");
    expectFailure(await login(3), "counter_regression");
    expectFailure(await login(0), "counter_regression");
    expect((await login(6)).statusCode).toBe(200);
    expect(Number((await credentialRows("clone_user"))[0]!.counter)).toBe(6);
    expect(await verificationCount("clone_user")).toBe(2);
    const reported = await failures("clone_user");
    expect(reported.map((e) => e.data.reason)).toEqual(["counter_regression", "counter_regression", "counter_regression"]);
    expect(reported[0]).toMatchObject({ channel: "webauthn", data: { externalUserId: "clone_user", ceremony: "authentication" } });
    const metrics = await t.app.inject({ method: "GET", url: "/metrics" });
    expect(metrics.body).toMatch(/latchkey_channel_outcomes_total\{channel="webauthn",outcome="counter_regression"\} [1-9]/);
  });

  it("a clone racing the original with the same counter: one wins, the other is a counter_regression", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await register(authenticator, "clone_race");
    const [a, b] = await Promise.all([
      options("/webauthn/authenticate/options", { userId: "clone_race" }),
      options("/webauthn/authenticate/options", { userId: "clone_race" }),
    ]);
    const results = await Promise.all([
      post("/webauthn/authenticate/verify", authenticator.assert(a, { counter: 7 })),
      post("/webauthn/authenticate/verify", authenticator.assert(b, { counter: 7 })),
    ]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 400]);
    expect(results.find((r) => r.statusCode === 400)!.json().data.reason).toBe("counter_regression");
    expect(await verificationCount("clone_race")).toBe(1);
  });
});

describe("credentials belong to one user of one app", () => {
  it("registering another user's credential id in the same app → 409 CONFLICT; it stays theirs", async () => {
    const victim = new SoftAuthenticator({ origin: ORIGIN });
    const taken = await register(victim, "owner_user");
    const attacker = new SoftAuthenticator({ origin: ORIGIN });
    const { response } = attacker.register(await options("/webauthn/register/options", { userId: "squatter" }), { rawId: taken.rawId });
    expectFailure(await post("/webauthn/register/verify", { userId: "squatter", ...response }), "credential_already_registered", "CONFLICT", 409);
    expect(await credentialRows("squatter")).toEqual([]);
    expect((await credentialRows("owner_user")).map((r) => r.credential_id)).toEqual([taken.id]);
    // The owner still signs in with it.
    const login = await post("/webauthn/authenticate/verify", victim.assert(await options("/webauthn/authenticate/options", { userId: "owner_user" })));
    expect(login.statusCode).toBe(200);
  });

  it("the same credential id may exist in two apps, each with its own user", async () => {
    const other = await t.createTenant("Second");
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const mine = await register(authenticator, "twin_user");
    const { response } = authenticator.register(await options("/webauthn/register/options", { userId: "twin_user" }, other.apiKey), { rawId: mine.rawId });
    expect((await post("/webauthn/register/verify", { userId: "twin_user", ...response }, other.apiKey)).statusCode).toBe(200);
  });

  it("signing in as user B with user A's credential → 400 user_mismatch", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    await register(authenticator, "cred_owner");
    const victim = new SoftAuthenticator({ origin: ORIGIN });
    await register(victim, "victim_b");
    // Options for the victim (allowCredentials = hers), answered with the attacker's own credential.
    const forVictim = await options("/webauthn/authenticate/options", { userId: "victim_b" });
    const assertion = authenticator.assert(forVictim, { credential: authenticator.credentials[0]! });
    expectFailure(await post("/webauthn/authenticate/verify", { userId: "victim_b", ...assertion }), "user_mismatch");
    // A discoverable challenge but the request names the victim.
    const discoverable = authenticator.assert(await options("/webauthn/authenticate/options", {}));
    expectFailure(await post("/webauthn/authenticate/verify", { userId: "victim_b", ...discoverable }), "user_mismatch");
    expect(await verificationCount("victim_b")).toBe(0);
  });

  it("a passkey login whose user handle names another user → 400 user_handle_mismatch; without one → user_handle_missing", async () => {
    const a = new SoftAuthenticator({ origin: ORIGIN });
    await register(a, "handle_a");
    const b = new SoftAuthenticator({ origin: ORIGIN });
    const bCredential = await register(b, "handle_b");
    const forged = a.assert(await options("/webauthn/authenticate/options", {}), { userHandle: bCredential.userHandle });
    expectFailure(await post("/webauthn/authenticate/verify", forged), "user_handle_mismatch");
    const none = a.assert(await options("/webauthn/authenticate/options", {}), { userHandle: null });
    expectFailure(await post("/webauthn/authenticate/verify", none), "user_handle_missing");
    // With userId named beforehand, a credential without a user handle is fine.
    const named = a.assert(await options("/webauthn/authenticate/options", { userId: "handle_a" }), { userHandle: null });
    expect((await post("/webauthn/authenticate/verify", { userId: "handle_a", ...named })).statusCode).toBe(200);
  });

  it("another app cannot list, rename or delete this app's credentials", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const credential = await register(authenticator, "tenant_user");
    const other = await t.createTenant("Nosy");
    const as = (method: "GET" | "PATCH" | "DELETE", url: string, body?: unknown) =>
      t.app.inject({ method, url: `/api/v1${url}`, headers: { "x-api-key": other.apiKey }, ...(body ? { payload: body as object } : {}) });
    expect((await as("GET", "/webauthn/credentials?userId=tenant_user")).json().data).toEqual({ credentials: [] });
    expect((await as("PATCH", `/webauthn/credentials/${credential.id}`, { deviceName: "pwned" })).statusCode).toBe(404);
    expect((await as("DELETE", `/webauthn/credentials/${credential.id}`)).statusCode).toBe(404);
    expect(await credentialRows("tenant_user")).toHaveLength(1);
  });
});
