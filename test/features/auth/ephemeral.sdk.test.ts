/**
 * The partner's server mints an ephemeral key with `client.auth.createEphemeralKey`, and the
 * browser's SDK uses it: scoped calls work, the rest fail with the contract's codes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TwoFactorClient, TwoFactorError } from "../../../src/sdk/index.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";

let t: TestApp;
let address: string;
beforeAll(async () => {
  t = await createTestApp();
  address = await t.app.listen({ port: 0, host: "127.0.0.1" });
});
afterAll(async () => t?.close());

describe("client.auth.createEphemeralKey", () => {
  it("mints a key for one user and scope that a browser-side client can use, and nothing more", async () => {
    const server = new TwoFactorClient({ apiKey: t.apiKey, baseUrl: address });
    const minted = await server.auth.createEphemeralKey({ userId: "sdk-browser-user", scopes: ["totp"], epi: 60_000, ipa: ["127.0.0.1", "::1"] });
    expect(minted).toMatchObject({ ephemeralKey: expect.stringMatching(/^ek_/), scopes: ["totp"], userId: "sdk-browser-user", allowedIps: ["127.0.0.1", "::1"] });
    expect(Date.parse(minted.expiresAt) - Date.now()).toBeGreaterThan(50_000);

    const browser = new TwoFactorClient({ apiKey: minted.ephemeralKey, baseUrl: address });
    expect(await browser.totp.status("sdk-browser-user")).toMatchObject({ enabled: false });
    const other = await browser.totp.status("someone-else").catch((err: unknown) => err);
    expect(other).toBeInstanceOf(TwoFactorError);
    expect(other).toMatchObject({ code: "FORBIDDEN", status: 403 });
    await expect(browser.auth.createEphemeralKey()).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(browser.app.get()).rejects.toMatchObject({ code: "FORBIDDEN" });
  });
});
