/**
 * The customer's view: `client.totp.setup/verify/status/disable/backupCodes` from the SDK
 * (src/sdk) against a listening server, the way SecureKey's Node examples are written.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/infra/clock.ts";
import { TwoFactorClient, TwoFactorError } from "../../../src/sdk/index.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { MID_STEP, referenceTotp } from "./reference-totp.ts";

let t: TestApp;
let sdk: TwoFactorClient;
const clock = new ManualClock(MID_STEP);

beforeAll(async () => {
  t = await createTestApp({ clock });
  const address = await t.app.listen({ port: 0, host: "127.0.0.1" });
  sdk = new TwoFactorClient({ apiKey: t.apiKey, baseUrl: address });
});
afterAll(async () => t?.close());

describe("client.totp", () => {
  it("setup → verify (activates) → status → backupCodes → verify with a backup code → disable", async () => {
    const setup = await sdk.totp.setup({ userId: "sdk-user", accountName: "sdk@example.com", issuer: "SDK Shop" });
    expect(setup.uri.startsWith("otpauth://totp/SDK%20Shop:sdk%40example.com?secret=")).toBe(true);
    expect(setup.qrCodeDataUrl.startsWith("data:image/png;base64,")).toBe(true);
    expect(await sdk.totp.status("sdk-user")).toMatchObject({ enabled: false, pending: true });

    clock.advance(30_000);
    const verified = await sdk.totp.verify({ userId: "sdk-user", token: referenceTotp(setup.secret, clock.now()) });
    expect(verified).toEqual({ verified: true, activated: true });

    clock.advance(30_000);
    expect(await sdk.totp.verify({ userId: "sdk-user", code: referenceTotp(setup.secret, clock.now()) })).toEqual({ verified: true });

    const status = await sdk.totp.status("sdk-user");
    expect(status).toEqual({ enabled: true, pending: false, createdAt: expect.any(String), lastUsedAt: clock.now().toISOString(), backupCodesRemaining: 0 });

    const { backupCodes } = await sdk.totp.backupCodes("sdk-user");
    expect(backupCodes).toHaveLength(10);
    expect(await sdk.totp.verify({ userId: "sdk-user", token: backupCodes[0]! })).toEqual({ verified: true, backupCodeUsed: true, backupCodesRemaining: 9 });

    expect(await sdk.totp.disable("sdk-user")).toEqual({ disabled: true });
    expect(await sdk.totp.status("sdk-user")).toMatchObject({ enabled: false, pending: false });
  });

  it("failures arrive as TwoFactorError with the contract's code, status and data", async () => {
    const setup = await sdk.totp.setup({ userId: "sdk-errors" });
    clock.advance(30_000);
    const code = referenceTotp(setup.secret, clock.now());
    await sdk.totp.verify({ userId: "sdk-errors", token: code });

    const replay = await sdk.totp.verify({ userId: "sdk-errors", token: code }).catch((err: unknown) => err);
    expect(replay).toBeInstanceOf(TwoFactorError);
    expect(replay).toMatchObject({ code: "CODE_ALREADY_USED", status: 400 });

    const wrong = await sdk.totp.verify({ userId: "sdk-errors", token: code === "000000" ? "000001" : "000000" }).catch((err: unknown) => err);
    expect(wrong).toMatchObject({ code: "INVALID_CODE", status: 400, data: { verified: false, attemptsRemaining: 4 } });

    const again = await sdk.totp.setup({ userId: "sdk-errors" }).catch((err: unknown) => err);
    expect(again).toMatchObject({ code: "TOTP_ALREADY_ENABLED", status: 409 });
    expect(await sdk.totp.setup({ userId: "sdk-errors", force: true })).toHaveProperty("secret");

    const missing = await sdk.totp.verify({ userId: "sdk-nobody", token: "123456" }).catch((err: unknown) => err);
    expect(missing).toMatchObject({ code: "TOTP_NOT_ENABLED", status: 404 });
  });
});
