/**
 * Attacks on TOTP and backup codes, each a regression test:
 *
 * - Replay: a code seen over a shoulder or in a log is submitted again within its step, or
 *   twice at once by a racing client → exactly one success, the rest CODE_ALREADY_USED.
 * - Clock games: codes two steps away are refused; an older step after a newer one is a replay.
 * - Online guessing: 5 wrong codes in a row lock the user (423, Retry-After) for
 *   TOTP_LOCK_SECONDS; 20 concurrent wrong codes consume exactly 5 attempts; the right code
 *   is refused while locked; backup codes do not bypass the lock.
 * - Database theft: the TOTP secret is never stored in clear (not in totp_factors, not in the
 *   idempotency records that replay the setup answer); backup codes are stored as keyed
 *   hashes; a sealed secret moved to another row does not open.
 * - Key rotation: factors sealed under a key now in ENCRYPTION_KEYS_OLD still verify and are
 *   re-sealed under the current key; backup codes hashed under the old key still work.
 * - Backup codes: each works once, also under concurrent use; one user's codes are useless
 *   for another user.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/infra/clock.ts";
import { Keyring } from "../../../src/infra/crypto.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { base32Decode, client, MID_STEP, referenceTotp } from "./reference-totp.ts";

let t: TestApp;
let api: ReturnType<typeof client>;
const clock = new ManualClock(MID_STEP);
const nextStep = () => clock.advance(30_000);

beforeAll(async () => {
  t = await createTestApp({ clock });
  api = client(t);
});
afterAll(async () => t?.close());

async function setup(userId: string, on = api) {
  const res = await on.post("/totp/setup", { userId });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data.secret as string;
}

async function enable(userId: string, on = api) {
  const secret = await setup(userId, on);
  nextStep();
  const res = await on.post("/totp/verify", { userId, token: referenceTotp(secret, clock.now()) });
  expect(res.statusCode, res.body).toBe(200);
  return secret;
}

const wrongCode = (secret: string, offset = 1) => {
  const right = new Set([-1, 0, 1].map((stepOffset) => referenceTotp(secret, clock.now(), { stepOffset })));
  let n = offset;
  for (;;) {
    const candidate = String(n).padStart(6, "0");
    if (!right.has(candidate)) return candidate;
    n++;
  }
};

async function factorRow(userId: string) {
  const rows = await t.database.db.query<Record<string, unknown>>(
    "SELECT f.* FROM totp_factors f JOIN end_users u ON u.id = f.end_user_id WHERE u.app_id = $1 AND u.external_id = $2",
    [t.appId, userId],
  );
  return rows[0]!;
}

describe("replay", () => {
  it("the same code twice → the second is 400 CODE_ALREADY_USED and uses no attempt", async () => {
    const secret = await enable("replay-user");
    nextStep();
    const code = referenceTotp(secret, clock.now());
    expect((await api.post("/totp/verify", { userId: "replay-user", token: code })).statusCode).toBe(200);
    clock.advance(10_000); // still the same step
    const again = await api.post("/totp/verify", { userId: "replay-user", token: code });
    expect(again.statusCode).toBe(400);
    expect(again.json()).toMatchObject({ success: false, code: "CODE_ALREADY_USED", data: { verified: false } });
    expect((await factorRow("replay-user")).failed_attempts).toBe(0);
    const failed = await t.database.db.query<{ payload: string }>(
      "SELECT payload FROM events WHERE type = 'verification.failed' AND payload::jsonb -> 'data' ->> 'externalUserId' = 'replay-user'",
    );
    expect(failed.map((e) => JSON.parse(e.payload).data)).toEqual([{ externalUserId: "replay-user", purpose: "login", reason: "code_already_used" }]);
  });

  it("a code for an earlier step than the last accepted one is a replay too", async () => {
    const secret = await enable("older-step");
    nextStep();
    // The client's clock runs one step ahead: its code for N+1 is accepted…
    expect((await api.post("/totp/verify", { userId: "older-step", token: referenceTotp(secret, clock.now(), { stepOffset: 1 }) })).statusCode).toBe(200);
    // …after which the code for N (still inside the window) must not be.
    const older = await api.post("/totp/verify", { userId: "older-step", token: referenceTotp(secret, clock.now()) });
    expect(older.statusCode).toBe(400);
    expect(older.json().code).toBe("CODE_ALREADY_USED");
  });

  it("10 concurrent verifies of one valid code → exactly one success, 9 × CODE_ALREADY_USED, one event, one verification row", async () => {
    const secret = await enable("race-user");
    nextStep();
    const code = referenceTotp(secret, clock.now());
    const answers = await Promise.all(Array.from({ length: 10 }, () => api.post("/totp/verify", { userId: "race-user", token: code })));
    const statuses = answers.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([200, ...Array(9).fill(400)]);
    for (const r of answers.filter((a) => a.statusCode === 400)) expect(r.json().code).toBe("CODE_ALREADY_USED");
    const step = Math.floor(clock.now().getTime() / 30_000);
    expect(Number((await factorRow("race-user")).last_used_step)).toBe(step);
    const rows = await t.database.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM verifications WHERE app_id = $1 AND external_user_id = 'race-user' AND created_at = $2",
      [t.appId, clock.now()],
    );
    expect(rows[0]!.n).toBe(1);
  });

  it("two concurrent first verifies of a pending factor (steps N and N+1) → exactly one activated: true and one totp.enabled", async () => {
    const secret = await setup("activation-race");
    nextStep();
    const answers = await Promise.all([
      api.post("/totp/verify", { userId: "activation-race", token: referenceTotp(secret, clock.now()) }),
      api.post("/totp/verify", { userId: "activation-race", token: referenceTotp(secret, clock.now(), { stepOffset: 1 }) }),
    ]);
    const ok = answers.filter((r) => r.statusCode === 200);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(ok.filter((r) => r.json().data.activated === true)).toHaveLength(1);
    const enabled = await t.database.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM events WHERE type = 'totp.enabled' AND payload::jsonb -> 'data' ->> 'externalUserId' = 'activation-race'",
    );
    expect(enabled[0]!.n).toBe(1);
  });
});

describe("concurrent setups", () => {
  it("5 concurrent setups for a new user: all answer 200, one factor remains, exactly one of the secrets verifies", async () => {
    const answers = await Promise.all(Array.from({ length: 5 }, () => api.post("/totp/setup", { userId: "setup-race" })));
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
    const rows = await t.database.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM totp_factors f JOIN end_users u ON u.id = f.end_user_id WHERE u.app_id = $1 AND u.external_id = 'setup-race'",
      [t.appId],
    );
    expect(rows[0]!.n).toBe(1);
    nextStep();
    const secrets = answers.map((r) => r.json().data.secret as string);
    const row = await factorRow("setup-race");
    const live = secrets.filter((secret) => t.keyring.open(row.secret_sealed as string, row.id as string) === secret);
    expect(live).toHaveLength(1);
    expect((await api.post("/totp/verify", { userId: "setup-race", token: referenceTotp(live[0]!, clock.now()) })).statusCode).toBe(200);
  });

  it("concurrent setups on an enabled factor without force: all 409, the factor still verifies", async () => {
    const secret = await enable("enabled-race");
    const answers = await Promise.all(Array.from({ length: 4 }, () => api.post("/totp/setup", { userId: "enabled-race" })));
    expect(answers.map((r) => r.statusCode)).toEqual([409, 409, 409, 409]);
    nextStep();
    expect((await api.post("/totp/verify", { userId: "enabled-race", token: referenceTotp(secret, clock.now()) })).statusCode).toBe(200);
  });
});

describe("clock drift (RFC 6238 §5.2)", () => {
  it.each([
    [-1, 200],
    [1, 200],
    [-2, 400],
    [2, 400],
    [3, 400],
  ])("a code %i step(s) away → %i", async (offset, status) => {
    const userId = `drift${offset}`;
    const secret = await setup(userId);
    nextStep();
    const res = await api.post("/totp/verify", { userId, token: referenceTotp(secret, clock.now(), { stepOffset: offset }) });
    expect(res.statusCode).toBe(status);
    if (status === 400) expect(res.json().code).toBe("INVALID_CODE");
  });

  it("the window follows the clock: a code is accepted until the end of the next step, not after", async () => {
    const secret = await enable("window-user");
    nextStep();
    const stepStart = Math.floor(clock.now().getTime() / 30_000) * 30_000;
    const code = referenceTotp(secret, stepStart);
    clock.set(new Date(stepStart + 60_000 - 1)); // last millisecond of step N+1
    expect((await api.post("/totp/verify", { userId: "window-user", token: code })).statusCode).toBe(200);
    const secret2 = await enable("window-user-2");
    nextStep();
    const start2 = Math.floor(clock.now().getTime() / 30_000) * 30_000;
    const code2 = referenceTotp(secret2, start2);
    clock.set(new Date(start2 + 60_000)); // first millisecond of step N+2
    expect((await api.post("/totp/verify", { userId: "window-user-2", token: code2 })).statusCode).toBe(400);
  });
});

describe("server clock stepping back", () => {
  it("after the clock moves back a step, codes at or before the last used step are replays and nothing errors", async () => {
    const secret = await enable("clock-back");
    nextStep();
    const step = Math.floor(clock.now().getTime() / 30_000);
    expect((await api.post("/totp/verify", { userId: "clock-back", token: referenceTotp(secret, clock.now(), { stepOffset: 1 }) })).statusCode).toBe(200);
    clock.advance(-30_000); // the window is now step-2 … step: all at or before the last used step (step+1)
    const replay = await api.post("/totp/verify", { userId: "clock-back", token: referenceTotp(secret, new Date(step * 30_000)) });
    expect(replay.statusCode).toBe(400);
    expect(replay.json().code).toBe("CODE_ALREADY_USED");
    const wrong = await api.post("/totp/verify", { userId: "clock-back", token: wrongCode(secret) });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().code).toBe("INVALID_CODE");
    clock.advance(30_000);
  });
});

describe("lockout after 5 wrong codes in a row", () => {
  it("the 5th wrong code → 423 ACCOUNT_LOCKED with Retry-After 900; the right code is refused until the lock ends", async () => {
    const secret = await enable("lock-user");
    nextStep();
    for (let i = 1; i <= 4; i++) {
      const res = await api.post("/totp/verify", { userId: "lock-user", token: wrongCode(secret, i) });
      expect(res.statusCode).toBe(400);
      expect(res.json().data).toEqual({ verified: false, attemptsRemaining: 5 - i });
    }
    const fifth = await api.post("/totp/verify", { userId: "lock-user", token: wrongCode(secret, 5) });
    expect(fifth.statusCode).toBe(423);
    expect(fifth.headers["retry-after"]).toBe("900");
    expect(fifth.json()).toMatchObject({ success: false, code: "ACCOUNT_LOCKED", data: { verified: false, attemptsRemaining: 0, retryAfterSeconds: 900 } });

    clock.advance(60_000);
    const right = await api.post("/totp/verify", { userId: "lock-user", token: referenceTotp(secret, clock.now()) });
    expect(right.statusCode).toBe(423);
    expect(right.headers["retry-after"]).toBe("840");

    clock.advance(840_000);
    const after = await api.post("/totp/verify", { userId: "lock-user", token: referenceTotp(secret, clock.now()) });
    expect(after.statusCode).toBe(200);
    const row = await factorRow("lock-user");
    expect(row.failed_attempts).toBe(0);
    expect(row.locked_until).toBeNull();
  });

  it("a success resets the count: 4 wrong, 1 right, 4 wrong → still not locked", async () => {
    const secret = await enable("reset-user");
    nextStep();
    for (let i = 1; i <= 4; i++) expect((await api.post("/totp/verify", { userId: "reset-user", token: wrongCode(secret, i) })).statusCode).toBe(400);
    expect((await api.post("/totp/verify", { userId: "reset-user", token: referenceTotp(secret, clock.now()) })).statusCode).toBe(200);
    for (let i = 1; i <= 4; i++) {
      const res = await api.post("/totp/verify", { userId: "reset-user", token: wrongCode(secret, i) });
      expect(res.statusCode).toBe(400);
      expect(res.json().data.attemptsRemaining).toBe(5 - i);
    }
  });

  it("after a lock expires, the next wrong code locks again at once (the count is of wrong codes in a row)", async () => {
    const secret = await enable("relock-user");
    nextStep();
    for (let i = 1; i <= 5; i++) await api.post("/totp/verify", { userId: "relock-user", token: wrongCode(secret, i) });
    clock.advance(900_000);
    const res = await api.post("/totp/verify", { userId: "relock-user", token: wrongCode(secret, 9) });
    expect(res.statusCode).toBe(423);
  });

  it("20 concurrent wrong codes consume exactly 5 attempts: 4 × INVALID_CODE, 16 × ACCOUNT_LOCKED", async () => {
    const secret = await enable("burst-user");
    nextStep();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => api.post("/totp/verify", { userId: "burst-user", token: wrongCode(secret, 100 + i) })));
    const byStatus = answers.reduce<Record<number, number>>((acc, r) => ({ ...acc, [r.statusCode]: (acc[r.statusCode] ?? 0) + 1 }), {});
    expect(byStatus).toEqual({ 400: 4, 423: 16 });
    expect((await factorRow("burst-user")).failed_attempts).toBe(5);
    const failedEvents = await t.database.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM events WHERE type = 'verification.failed' AND payload::jsonb -> 'data' ->> 'externalUserId' = 'burst-user'",
    );
    expect(failedEvents[0]!.n).toBe(5);
  });

  it("backup codes do not bypass the lock, and wrong backup codes count as wrong codes", async () => {
    const secret = await enable("backup-lock");
    const codes: string[] = (await api.post("/totp/backup-codes", { userId: "backup-lock" })).json().data.backupCodes;
    nextStep();
    for (let i = 0; i < 5; i++) await api.post("/totp/verify", { userId: "backup-lock", token: `ZZZZZ-ZZZZ${i}` });
    const res = await api.post("/totp/verify", { userId: "backup-lock", token: codes[0] });
    expect(res.statusCode).toBe(423);
    expect((await api.get("/totp/status/backup-lock")).json().data.backupCodesRemaining).toBe(10);
    void secret;
  });

  it("TOTP_LOCK_SECONDS sets the lock length", async () => {
    const other = await createTestApp({ database: t.database, clock, env: { TOTP_LOCK_SECONDS: "120" } });
    try {
      const tenant = await other.createTenant("short lock");
      const otherApi = client(other, tenant.apiKey);
      const secret = await enable("short-lock", otherApi);
      nextStep();
      let last;
      for (let i = 1; i <= 5; i++) last = await otherApi.post("/totp/verify", { userId: "short-lock", token: wrongCode(secret, i) });
      expect(last!.statusCode).toBe(423);
      expect(last!.headers["retry-after"]).toBe("120");
    } finally {
      await other.close();
    }
  });
});

describe("secrets at rest", () => {
  it("the totp_factors row holds no plaintext secret (neither base32 nor raw bytes), only an AES-GCM sealed value bound to the row", async () => {
    const secret = await setup("at-rest");
    const row = await factorRow("at-rest");
    const raw = base32Decode(secret);
    const dump = JSON.stringify(row);
    for (const form of [secret, secret.toLowerCase(), raw.toString("hex"), raw.toString("base64"), raw.toString("base64url"), raw.toString("latin1")]) {
      expect(dump).not.toContain(form);
    }
    expect(row.secret_sealed).toMatch(/^v1\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(t.keyring.open(row.secret_sealed as string, row.id as string)).toBe(secret);
    // Bound to its row: the same ciphertext does not open as another factor's secret.
    expect(() => t.keyring.open(row.secret_sealed as string, "totp_someoneelse")).toThrow();
  });

  it("no table holds the secret after a setup sent with an Idempotency-Key, and the replay answers the same secret", async () => {
    const first = await api.post("/totp/setup", { userId: "idem-user" }, { "idempotency-key": "setup-idem-1" });
    const replay = await api.post("/totp/setup", { userId: "idem-user" }, { "idempotency-key": "setup-idem-1" });
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.json()).toEqual(first.json());
    const secret = first.json().data.secret as string;
    const tables = await t.database.db.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
    for (const { table_name } of tables) {
      const rows = await t.database.db.query(`SELECT * FROM "${table_name}"`);
      expect(JSON.stringify(rows), table_name).not.toContain(secret);
    }
  });

  it("backup codes are stored only as keyed hashes", async () => {
    await enable("hashed-codes");
    const codes: string[] = (await api.post("/totp/backup-codes", { userId: "hashed-codes" })).json().data.backupCodes;
    const rows = await t.database.db.query<{ code_hash: string }>(
      "SELECT b.code_hash FROM backup_codes b JOIN end_users u ON u.id = b.end_user_id WHERE u.external_id = 'hashed-codes'",
    );
    expect(rows).toHaveLength(10);
    const dump = JSON.stringify(rows);
    for (const code of codes) {
      expect(dump).not.toContain(code);
      expect(dump).not.toContain(code.replace("-", ""));
    }
    for (const row of rows) expect(row.code_hash).toMatch(/^v1\$[A-Za-z0-9_-]{8}\$[0-9a-f]{64}$/);
  });
});

describe("backup codes", () => {
  it("5 concurrent uses of one backup code → exactly one success", async () => {
    await enable("backup-race");
    const codes: string[] = (await api.post("/totp/backup-codes", { userId: "backup-race" })).json().data.backupCodes;
    const answers = await Promise.all(Array.from({ length: 5 }, () => api.post("/totp/verify", { userId: "backup-race", token: codes[5] })));
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 400, 400, 400, 400]);
    for (const r of answers.filter((a) => a.statusCode === 400)) expect(r.json().code).toBe("CODE_ALREADY_USED");
    expect((await api.get("/totp/status/backup-race")).json().data.backupCodesRemaining).toBe(9);
  });

  it("one user's backup code does nothing for another user", async () => {
    await enable("codes-owner");
    await enable("codes-thief");
    await api.post("/totp/backup-codes", { userId: "codes-thief" });
    const codes: string[] = (await api.post("/totp/backup-codes", { userId: "codes-owner" })).json().data.backupCodes;
    const res = await api.post("/totp/verify", { userId: "codes-thief", token: codes[0] });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("INVALID_CODE");
  });
});

describe("ENCRYPTION_KEY rotation", () => {
  it("a factor sealed under a key now in ENCRYPTION_KEYS_OLD verifies and is re-sealed under the new key; old backup codes still work", async () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const before = await createTestApp({ database: t.database, clock, deps: { keyring: new Keyring(oldKey) } });
    let secret: string;
    let codes: string[];
    const tenant = await before.createTenant("rotation");
    try {
      const oldApi = client(before, tenant.apiKey);
      secret = await enable("rotating", oldApi);
      codes = (await oldApi.post("/totp/backup-codes", { userId: "rotating" })).json().data.backupCodes;
    } finally {
      await before.close();
    }

    const rotatedKeyring = new Keyring(newKey, [oldKey]);
    const after = await createTestApp({ database: t.database, clock, deps: { keyring: rotatedKeyring } });
    try {
      const newApi = client(after, tenant.apiKey);
      const sealedBefore = (await t.database.db.query<{ secret_sealed: string }>(
        "SELECT f.secret_sealed FROM totp_factors f JOIN end_users u ON u.id = f.end_user_id WHERE u.app_id = $1 AND u.external_id = 'rotating'",
        [tenant.appId],
      ))[0]!.secret_sealed;
      expect(rotatedKeyring.needsRotation(sealedBefore)).toBe(true);

      nextStep();
      expect((await newApi.post("/totp/verify", { userId: "rotating", token: referenceTotp(secret, clock.now()) })).statusCode).toBe(200);
      const row = (await t.database.db.query<{ id: string; secret_sealed: string }>(
        "SELECT f.id, f.secret_sealed FROM totp_factors f JOIN end_users u ON u.id = f.end_user_id WHERE u.app_id = $1 AND u.external_id = 'rotating'",
        [tenant.appId],
      ))[0]!;
      expect(rotatedKeyring.needsRotation(row.secret_sealed)).toBe(false);
      expect(row.secret_sealed.split(".")[1]).toBe(Keyring.keyId(newKey));
      expect(new Keyring(newKey).open(row.secret_sealed, row.id)).toBe(secret);

      const backup = await newApi.post("/totp/verify", { userId: "rotating", token: codes[0] });
      expect(backup.statusCode).toBe(200);
      expect(backup.json().data).toMatchObject({ backupCodeUsed: true, backupCodesRemaining: 9 });
    } finally {
      await after.close();
    }

    // Once the old key is gone entirely, the re-sealed factor still works under the new key alone.
    const onlyNew = await createTestApp({ database: t.database, clock, deps: { keyring: new Keyring(newKey) } });
    try {
      nextStep();
      expect((await client(onlyNew, tenant.apiKey).post("/totp/verify", { userId: "rotating", token: referenceTotp(secret, clock.now()) })).statusCode).toBe(200);
    } finally {
      await onlyNew.close();
    }
  });
});
