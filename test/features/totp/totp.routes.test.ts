/**
 * /api/v1/totp through the real HTTP stack (API.md §4.3): setup with the Key Uri Format and a
 * scannable QR code, verify (token or code), activation, status in its three forms, disable,
 * backup codes, per-app parameters, events and verification rows, and bad input.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/infra/clock.ts";
import { onEventRecorded } from "../../../src/infra/events.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { base32Decode, client, decodeQrDataUrl, MID_STEP, referenceTotp, tenantWithSettings } from "./reference-totp.ts";

let t: TestApp;
let api: ReturnType<typeof client>;
const clock = new ManualClock(MID_STEP);

beforeAll(async () => {
  t = await createTestApp({ clock });
});
afterAll(async () => t?.close());

/** Moves to the middle of the next step, so every verify below gets a fresh step. */
const nextStep = () => clock.advance(30_000);

async function setup(userId: string, extra: Record<string, unknown> = {}, key = t.apiKey) {
  const res = await client(t, key).post("/totp/setup", { userId, ...extra });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data as { secret: string; uri: string; qrCodeDataUrl: string };
}

async function enable(userId: string) {
  const { secret } = await setup(userId);
  nextStep();
  const res = await api.post("/totp/verify", { userId, token: referenceTotp(secret, clock.now()) });
  expect(res.statusCode, res.body).toBe(200);
  return secret;
}

async function events(type: string) {
  return t.database.db.query<{ payload: string; channel: string }>("SELECT payload, channel FROM events WHERE type = $1 ORDER BY created_at, id", [type]);
}

beforeAll(() => {
  api = client(t);
});

describe("POST /totp/setup", () => {
  it("answers a secret, an otpauth:// URI in the Key Uri Format and a PNG QR code of it", async () => {
    const res = await api.post("/totp/setup", { userId: "user_123", accountName: "a@b.com" });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ success: true, data: { secret: expect.any(String), uri: expect.any(String), qrCodeDataUrl: expect.any(String) } });
    const { secret, uri } = body.data;

    // RFC 4648 base32 without padding, 160 bits.
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(base32Decode(secret)).toHaveLength(20);

    expect(uri).toBe(`otpauth://totp/Latchkey:a%40b.com?secret=${secret}&issuer=Latchkey&algorithm=SHA1&digits=6&period=30`);
    const parsed = new URL(uri);
    expect(parsed.protocol).toBe("otpauth:");
    expect(parsed.host).toBe("totp");
    expect(decodeURIComponent(parsed.pathname.slice(1))).toBe("Latchkey:a@b.com");
    expect(Object.fromEntries(parsed.searchParams)).toEqual({ secret, issuer: "Latchkey", algorithm: "SHA1", digits: "6", period: "30" });
  });

  it("the QR code decodes (jsQR over the PNG) to exactly the uri", async () => {
    const { uri, qrCodeDataUrl } = await setup("qr-user", { accountName: "Jane Doe <jane@example.com>", issuer: "ACME Co & Sons" });
    expect(qrCodeDataUrl.startsWith("data:image/png;base64,")).toBe(true);
    expect(decodeQrDataUrl(qrCodeDataUrl)).toBe(uri);
    // Spaces as %20 (never +), reserved characters encoded, the label's colon literal.
    expect(uri).toContain("otpauth://totp/ACME%20Co%20%26%20Sons:Jane%20Doe%20%3Cjane%40example.com%3E?");
    expect(uri).toContain("&issuer=ACME%20Co%20%26%20Sons&");
  });

  it("takes the issuer the C# example sends, and defaults the account to userId", async () => {
    const { uri } = await setup("user_csharp", { issuer: "MyCompany" });
    expect(uri.startsWith("otpauth://totp/MyCompany:user_csharp?")).toBe(true);
    expect(new URL(uri).searchParams.get("issuer")).toBe("MyCompany");
  });

  it("an issuer with a colon is refused (the Key Uri Format forbids it); a colon in the account is percent-encoded", async () => {
    const refused = await api.post("/totp/setup", { userId: "colon-user", issuer: "Acme:Shop" });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ code: "VALIDATION_ERROR", details: [expect.objectContaining({ field: "body.issuer" })] });
    const { uri } = await setup("org:42");
    expect(uri.startsWith("otpauth://totp/Latchkey:org%3A42?")).toBe(true);
  });

  it.each([
    ["no userId", {}, "body.userId"],
    ["a numeric userId", { userId: 42 }, "body.userId"],
    ["force as a string", { userId: "x", force: "yes" }, "body.force"],
    ["an oversize accountName", { userId: "x", accountName: "a".repeat(257) }, "body.accountName"],
  ])("setup with %s → 400 VALIDATION_ERROR, nothing stored", async (_name, payload, field) => {
    const res = await api.post("/totp/setup", payload);
    expect(res.statusCode).toBe(400);
    expect(res.json().details.map((d: { field: string }) => d.field)).toContain(field);
    expect((await api.get("/totp/status/x")).json().data.pending).toBe(false);
  });

  it("each setup draws a different secret", async () => {
    const secrets = new Set<string>();
    for (let i = 0; i < 5; i++) secrets.add((await setup(`distinct-${i}`)).secret);
    expect(secrets.size).toBe(5);
  });

  it("the factor is pending until the first verify", async () => {
    await setup("pending-user");
    const res = await api.get("/totp/status?userId=pending-user");
    expect(res.json().data).toMatchObject({ enabled: false, pending: true, lastUsedAt: null });
  });

  it("setup again while pending replaces the secret: only the new one verifies", async () => {
    const first = await setup("resetup");
    const second = await setup("resetup");
    nextStep();
    const old = await api.post("/totp/verify", { userId: "resetup", token: referenceTotp(first.secret, clock.now()) });
    expect(old.statusCode).toBe(400);
    const fresh = await api.post("/totp/verify", { userId: "resetup", token: referenceTotp(second.secret, clock.now()) });
    expect(fresh.statusCode).toBe(200);
  });

  it("setup on an enabled factor → 409 TOTP_ALREADY_ENABLED and nothing changes; force: true replaces it", async () => {
    const secret = await enable("enabled-user");
    const refused = await api.post("/totp/setup", { userId: "enabled-user" });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ success: false, code: "TOTP_ALREADY_ENABLED" });
    nextStep();
    expect((await api.post("/totp/verify", { userId: "enabled-user", token: referenceTotp(secret, clock.now()) })).statusCode).toBe(200);

    const replaced = await setup("enabled-user", { force: true });
    expect(replaced.secret).not.toBe(secret);
    expect((await api.get("/totp/status/enabled-user")).json().data).toMatchObject({ enabled: false, pending: true });
    const disabled = (await events("totp.disabled")).map((e) => JSON.parse(e.payload));
    expect(disabled).toContainEqual(expect.objectContaining({ event: "totp.disabled", channel: "totp", data: { externalUserId: "enabled-user", reason: "replaced" } }));
  });
});

describe("POST /totp/verify", () => {
  it("the first good code activates the factor (activated: true), emits totp.enabled and verification.succeeded, and writes a verification row", async () => {
    const { secret } = await setup("activate-me");
    nextStep();
    const res = await api.post("/totp/verify", { userId: "activate-me", token: referenceTotp(secret, clock.now()), purpose: "signup" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ success: true, data: { verified: true, activated: true } });

    nextStep();
    const again = await api.post("/totp/verify", { userId: "activate-me", token: referenceTotp(secret, clock.now()) });
    expect(again.json().data).toEqual({ verified: true });

    const status = (await api.get("/totp/status/activate-me")).json().data;
    expect(status).toEqual({ enabled: true, pending: false, createdAt: expect.any(String), lastUsedAt: clock.now().toISOString(), backupCodesRemaining: 0 });

    const enabled = (await events("totp.enabled")).map((e) => JSON.parse(e.payload)).filter((p) => p.data.externalUserId === "activate-me");
    expect(enabled).toHaveLength(1);
    expect(enabled[0]).toMatchObject({ event: "totp.enabled", channel: "totp", data: { externalUserId: "activate-me" } });
    const succeeded = (await events("verification.succeeded")).map((e) => JSON.parse(e.payload)).filter((p) => p.data.externalUserId === "activate-me");
    expect(succeeded.map((p) => p.data.purpose)).toEqual(["signup", "login"]);
    expect(succeeded[0]).toMatchObject({ channel: "totp", data: { method: "totp", activated: true } });

    const rows = await t.database.db.query<{ channel: string; purpose: string; external_user_id: string }>(
      "SELECT channel, purpose, external_user_id FROM verifications WHERE app_id = $1 AND external_user_id = $2 ORDER BY created_at",
      [t.appId, "activate-me"],
    );
    expect(rows).toEqual([
      { channel: "totp", purpose: "signup", external_user_id: "activate-me" },
      { channel: "totp", purpose: "login", external_user_id: "activate-me" },
    ]);
  });

  it("a verify's events are announced to this process's listeners once written (the webhook dispatcher's hint)", async () => {
    const { secret } = await setup("announced");
    const announced: string[] = [];
    const off = onEventRecorded((event) => {
      if (event.appId === t.appId) announced.push(event.id);
    });
    try {
      nextStep();
      expect((await api.post("/totp/verify", { userId: "announced", token: referenceTotp(secret, clock.now()) })).statusCode).toBe(200);
    } finally {
      off();
    }
    const rows = await t.database.db.query<{ id: string; type: string }>(
      "SELECT id, type FROM events WHERE payload::jsonb -> 'data' ->> 'externalUserId' = 'announced' ORDER BY type",
    );
    expect(rows.map((r) => r.type)).toEqual(["totp.enabled", "verification.succeeded"]);
    expect(announced.sort()).toEqual(rows.map((r) => r.id).sort());
  });

  it("accepts the code as `code` (the Python SDK's shape) and ignores spaces inside it", async () => {
    const secret = await enable("python-user");
    nextStep();
    const code = referenceTotp(secret, clock.now());
    const res = await api.post("/totp/verify", { userId: "python-user", code });
    expect(res.statusCode).toBe(200);
    expect(res.json().data.verified).toBe(true);
    nextStep();
    const spaced = referenceTotp(secret, clock.now());
    const res2 = await api.post("/totp/verify", { userId: "python-user", token: `${spaced.slice(0, 3)} ${spaced.slice(3)}` });
    expect(res2.statusCode).toBe(200);
  });

  it("a wrong code → 400 INVALID_CODE with data.verified false and attemptsRemaining, and a verification.failed event", async () => {
    const secret = await enable("wrong-code");
    nextStep();
    const right = referenceTotp(secret, clock.now());
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, "0");
    const res = await api.post("/totp/verify", { userId: "wrong-code", token: wrong });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ success: false, code: "INVALID_CODE", error: expect.any(String), data: { verified: false, attemptsRemaining: 4 } });
    const failed = (await events("verification.failed")).map((e) => JSON.parse(e.payload)).filter((p) => p.data.externalUserId === "wrong-code");
    expect(failed).toEqual([expect.objectContaining({ channel: "totp", data: { externalUserId: "wrong-code", purpose: "login", reason: "invalid_code", attemptsRemaining: 4 } })]);
  });

  it("malformed tokens (letters, wrong length, punctuation) are wrong codes that count, not 500s", async () => {
    await enable("malformed");
    const tokens = ["abcdef", "12345", "1234567", "!!!!!!", "12-34-56"];
    for (const [i, token] of tokens.entries()) {
      const res = await api.post("/totp/verify", { userId: "malformed", token });
      if (i < 4) {
        expect(res.statusCode, token).toBe(400);
        expect(res.json()).toMatchObject({ code: "INVALID_CODE", data: { verified: false, attemptsRemaining: 4 - i } });
      } else {
        expect(res.statusCode, token).toBe(423);
      }
    }
  });

  it("without a factor → 404 TOTP_NOT_ENABLED with data.verified false", async () => {
    const res = await api.post("/totp/verify", { userId: "nobody", token: "123456" });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ success: false, code: "TOTP_NOT_ENABLED", data: { verified: false } });
  });

  it.each([
    ["no token and no code", { userId: "x" }, "body.token"],
    ["no userId", { token: "123456" }, "body.userId"],
    ["a numeric token", { userId: "x", token: 123456 }, "body.token"],
    ["an empty userId", { userId: "", token: "123456" }, "body.userId"],
    ["an oversize token", { userId: "x", token: "1".repeat(65) }, "body.token"],
    ["an oversize purpose", { userId: "x", token: "123456", purpose: "p".repeat(65) }, "body.purpose"],
  ])("%s → 400 VALIDATION_ERROR naming the field", async (_name, payload, field) => {
    const res = await api.post("/totp/verify", payload);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ success: false, code: "VALIDATION_ERROR" });
    expect(res.json().details.map((d: { field: string }) => d.field)).toContain(field);
  });
});

describe("status, disable", () => {
  it("GET ?userId=, GET /:userId and POST all answer the same; unknown users are simply not enrolled", async () => {
    await enable("status-user");
    const forms = await Promise.all([
      api.get("/totp/status?userId=status-user"),
      api.get("/totp/status/status-user"),
      api.post("/totp/status", { userId: "status-user" }),
    ]);
    for (const res of forms) expect(res.statusCode).toBe(200);
    expect(forms[1]!.json()).toEqual(forms[0]!.json());
    expect(forms[2]!.json()).toEqual(forms[0]!.json());
    expect(forms[0]!.json().data).toMatchObject({ enabled: true, pending: false });

    const none = await api.get("/totp/status/never-seen");
    expect(none.json()).toEqual({ success: true, data: { enabled: false, pending: false, createdAt: null, lastUsedAt: null, backupCodesRemaining: 0 } });
    expect((await api.get("/totp/status")).statusCode).toBe(400);
  });

  it("a userId with URL-reserved characters works in the path", async () => {
    const userId = "org:42/user 7?x=1";
    await setup(userId);
    const res = await api.get(`/totp/status/${encodeURIComponent(userId)}`);
    expect(res.json().data.pending).toBe(true);
  });

  it("DELETE disables the factor, deletes backup codes, emits totp.disabled; then verify → 404 and a second DELETE → 404", async () => {
    const secret = await enable("delete-me");
    expect((await api.post("/totp/backup-codes", { userId: "delete-me" })).statusCode).toBe(200);
    const res = await api.del("/totp/delete-me");
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ success: true, message: expect.any(String), data: { disabled: true } });
    expect((await api.get("/totp/status/delete-me")).json().data).toEqual({ enabled: false, pending: false, createdAt: null, lastUsedAt: null, backupCodesRemaining: 0 });
    const codes = await t.database.db.query("SELECT b.id FROM backup_codes b JOIN end_users u ON u.id = b.end_user_id WHERE u.external_id = 'delete-me'");
    expect(codes).toEqual([]);
    const disabled = (await events("totp.disabled")).map((e) => JSON.parse(e.payload)).filter((p) => p.data.externalUserId === "delete-me");
    expect(disabled).toEqual([expect.objectContaining({ event: "totp.disabled", channel: "totp", data: { externalUserId: "delete-me", reason: "removed" } })]);

    nextStep();
    const verify = await api.post("/totp/verify", { userId: "delete-me", token: referenceTotp(secret, clock.now()) });
    expect(verify.statusCode).toBe(404);
    expect(verify.json().code).toBe("TOTP_NOT_ENABLED");
    expect((await api.del("/totp/delete-me")).statusCode).toBe(404);
  });
});

describe("POST /totp/backup-codes", () => {
  it("issues 10 distinct codes; each works once as token; backupCodesRemaining counts down", async () => {
    await enable("backup-user");
    const res = await api.post("/totp/backup-codes", { userId: "backup-user" });
    expect(res.statusCode).toBe(200);
    const codes: string[] = res.json().data.backupCodes;
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/);
    expect((await api.get("/totp/status/backup-user")).json().data.backupCodesRemaining).toBe(10);

    const used = await api.post("/totp/verify", { userId: "backup-user", token: codes[0] });
    expect(used.statusCode).toBe(200);
    expect(used.json().data).toEqual({ verified: true, backupCodeUsed: true, backupCodesRemaining: 9 });

    // Case, spaces and a missing hyphen do not matter.
    const typed = codes[1]!.toLowerCase().replace("-", " ");
    expect((await api.post("/totp/verify", { userId: "backup-user", code: typed })).json().data.backupCodesRemaining).toBe(8);

    const again = await api.post("/totp/verify", { userId: "backup-user", token: codes[0] });
    expect(again.statusCode).toBe(400);
    expect(again.json()).toMatchObject({ code: "CODE_ALREADY_USED", data: { verified: false } });
    expect((await api.get("/totp/status/backup-user")).json().data.backupCodesRemaining).toBe(8);

    const succeeded = (await events("verification.succeeded")).map((e) => JSON.parse(e.payload)).filter((p) => p.data.method === "backup_code");
    expect(succeeded.filter((p) => p.data.externalUserId === "backup-user").map((p) => p.data.backupCodesRemaining).sort()).toEqual([8, 9]);
    expect(succeeded).toContainEqual(expect.objectContaining({ channel: "totp", data: { externalUserId: "backup-user", purpose: "login", method: "backup_code", backupCodesRemaining: 8 } }));
  });

  it("regenerating invalidates the whole earlier set", async () => {
    await enable("regen-user");
    const first: string[] = (await api.post("/totp/backup-codes", { userId: "regen-user" })).json().data.backupCodes;
    const second: string[] = (await api.post("/totp/backup-codes", { userId: "regen-user" })).json().data.backupCodes;
    expect(second.some((c) => first.includes(c))).toBe(false);
    const old = await api.post("/totp/verify", { userId: "regen-user", token: first[3] });
    expect(old.statusCode).toBe(400);
    expect(old.json().code).toBe("INVALID_CODE");
    expect((await api.post("/totp/verify", { userId: "regen-user", token: second[3] })).statusCode).toBe(200);
    expect((await api.get("/totp/status/regen-user")).json().data.backupCodesRemaining).toBe(9);
  });

  it("without a factor → 404 TOTP_NOT_ENABLED; with a pending factor the codes only work once it is enabled", async () => {
    const none = await api.post("/totp/backup-codes", { userId: "no-factor" });
    expect(none.statusCode).toBe(404);
    expect(none.json().code).toBe("TOTP_NOT_ENABLED");

    const { secret } = await setup("pending-backup");
    const codes: string[] = (await api.post("/totp/backup-codes", { userId: "pending-backup" })).json().data.backupCodes;
    const early = await api.post("/totp/verify", { userId: "pending-backup", token: codes[0] });
    expect(early.statusCode).toBe(400);
    expect((await api.get("/totp/status/pending-backup")).json().data).toMatchObject({ pending: true });
    nextStep();
    expect((await api.post("/totp/verify", { userId: "pending-backup", token: referenceTotp(secret, clock.now()) })).json().data.activated).toBe(true);
    expect((await api.post("/totp/verify", { userId: "pending-backup", token: codes[0] })).json().data.backupCodeUsed).toBe(true);
  });
});

describe("per-app parameters (settings.totp)", () => {
  it.each([
    ["SHA256", 8, 60],
    ["SHA512", 6, 30],
    ["SHA1", 8, 30],
  ] as const)("%s, %i digits, %i s: in the URI, and codes are checked with them", async (algorithm, digits, period) => {
    const tenant = await tenantWithSettings(t, { totp: { issuer: "Param Co", algorithm, digits, periodSeconds: period } }, `params ${algorithm}${digits}${period}`);
    const { secret, uri } = await setup("param-user", {}, tenant.apiKey);
    expect(Object.fromEntries(new URL(uri).searchParams)).toEqual({ secret, issuer: "Param Co", algorithm, digits: String(digits), period: String(period) });
    expect(uri.startsWith("otpauth://totp/Param%20Co:param-user?")).toBe(true);

    clock.advance(period * 1000);
    const tenantApi = client(t, tenant.apiKey);
    const code = referenceTotp(secret, clock.now(), { algorithm, digits, period });
    expect(code).toHaveLength(digits);
    const res = await tenantApi.post("/totp/verify", { userId: "param-user", token: code });
    expect(res.statusCode, res.body).toBe(200);
    // A SHA1 6-digit/30 s code for the same secret is not accepted (unless the parameters are those).
    if (`${algorithm}/${digits}/${period}` !== "SHA1/6/30") {
      clock.advance(period * 1000);
      const wrongParams = await tenantApi.post("/totp/verify", { userId: "param-user", token: referenceTotp(secret, clock.now()) });
      expect(wrongParams.statusCode).toBe(400);
    }
  });

  it("the app's lock settings apply: maxFailures 2, lockSeconds 60", async () => {
    const tenant = await tenantWithSettings(t, { totp: { maxFailures: 2, lockSeconds: 60 } }, "strict app");
    const tenantApi = client(t, tenant.apiKey);
    await setup("strict-user", {}, tenant.apiKey);
    expect((await tenantApi.post("/totp/verify", { userId: "strict-user", token: "000000" })).json().data.attemptsRemaining).toBe(1);
    const locked = await tenantApi.post("/totp/verify", { userId: "strict-user", token: "000001" });
    expect(locked.statusCode).toBe(423);
    expect(locked.headers["retry-after"]).toBe("60");
  });
});

describe("tenancy", () => {
  it("another app's key sees nothing of this app's users and cannot verify, disable or regenerate for them", async () => {
    const secret = await enable("tenant-user");
    const other = await t.createTenant("Other app");
    const otherApi = client(t, other.apiKey);
    expect((await otherApi.get("/totp/status/tenant-user")).json().data.enabled).toBe(false);
    nextStep();
    const verify = await otherApi.post("/totp/verify", { userId: "tenant-user", token: referenceTotp(secret, clock.now()) });
    expect(verify.statusCode).toBe(404);
    expect((await otherApi.del("/totp/tenant-user")).statusCode).toBe(404);
    expect((await otherApi.post("/totp/backup-codes", { userId: "tenant-user" })).statusCode).toBe(404);
    expect((await api.post("/totp/verify", { userId: "tenant-user", token: referenceTotp(secret, clock.now()) })).statusCode).toBe(200);
  });

  it("every route needs the secret key", async () => {
    const anonymous = await t.app.inject({ method: "POST", url: "/api/v1/totp/setup", payload: { userId: "x" } });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json().code).toBe("UNAUTHORIZED");
  });
});
