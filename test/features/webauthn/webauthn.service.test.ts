/**
 * WebAuthn building blocks without HTTP: base64 / base64url normalization of both body shapes,
 * the relying party resolved from config and app settings, and the bounded background purge
 * of old challenges (driven with a fake repository and a manual clock).
 */
import { describe, expect, it } from "vitest";
import { resolveAppSettings } from "../../../src/features/apps/app-settings.ts";
import { normalizeAuthentication, normalizeRegistration, toBase64Url } from "../../../src/features/webauthn/webauthn.encoding.ts";
import type { WebauthnRepository } from "../../../src/features/webauthn/webauthn.repository.ts";
import { WebauthnService } from "../../../src/features/webauthn/webauthn.service.ts";
import { ManualClock } from "../../../src/infra/clock.ts";
import { AppError } from "../../../src/infra/errors.ts";
import { createMetrics } from "../../../src/infra/metrics.ts";
import { testConfig } from "../../helpers/build-app.ts";

describe("toBase64Url", () => {
  it.each([
    ["base64url", "-_8", "-_8"],
    ["standard base64 with padding", "+/8=", "-_8"],
    ["standard base64 of 32 bytes", Buffer.alloc(32, 0xfb).toString("base64"), Buffer.alloc(32, 0xfb).toString("base64url")],
    ["padded base64url", "YQ==", "YQ"],
    ["empty", "", ""],
  ])("%s → unpadded base64url", (_name, input, expected) => {
    expect(toBase64Url(input)).toBe(expected);
  });

  it.each([
    ["an impossible length", "abcde"],
    ["stray bits in the last character", "YR"],
    ["characters outside both alphabets", "ab.c"],
    ["padding in the middle", "YQ==YQ"],
  ])("refuses %s", (_name, input) => {
    expect(toBase64Url(input)).toBeNull();
  });
});

describe("normalizeRegistration / normalizeAuthentication", () => {
  const id = Buffer.alloc(20, 0xfe);
  const response = { clientDataJSON: Buffer.from("{}").toString("base64"), attestationObject: Buffer.from([0xa0]).toString("base64"), transports: ["usb", "bogus", "usb", "nfc"] };

  it("top level with btoa rawId → base64url, id and rawId equal, unknown transports dropped", () => {
    const normalized = normalizeRegistration({ id: id.toString("base64url"), rawId: id.toString("base64"), type: "public-key", response });
    expect(normalized).toEqual({
      id: id.toString("base64url"),
      rawId: id.toString("base64url"),
      type: "public-key",
      response: { clientDataJSON: "e30", attestationObject: "oA", transports: ["nfc", "usb"] },
      clientExtensionResults: {},
    });
  });

  it("nested `credential` wins over top-level fields", () => {
    const normalized = normalizeRegistration({ id: "AAAA", credential: { id: id.toString("base64url"), rawId: id.toString("base64url"), response } });
    expect(normalized.id).toBe(id.toString("base64url"));
  });

  it("id and rawId naming different bytes → VALIDATION_ERROR on rawId", () => {
    const attempt = () => normalizeRegistration({ id: id.toString("base64url"), rawId: Buffer.alloc(20, 1).toString("base64"), response });
    expect(attempt).toThrow(AppError);
    try {
      attempt();
    } catch (err) {
      expect((err as AppError).options.details).toEqual([{ field: "body.rawId", message: "must encode the same bytes as id" }]);
    }
  });

  it("an assertion's null or empty userHandle means none", () => {
    const base = { id: id.toString("base64url"), rawId: id.toString("base64url"), type: "public-key" };
    const assertion = { clientDataJSON: "e30", authenticatorData: "AAAA", signature: "AAAA" };
    expect(normalizeAuthentication({ ...base, response: { ...assertion, userHandle: null } }).response.userHandle).toBeUndefined();
    expect(normalizeAuthentication({ ...base, response: { ...assertion, userHandle: "" } }).response.userHandle).toBeUndefined();
    expect(normalizeAuthentication({ ...base, response: { ...assertion, userHandle: "dXNy" } }).response.userHandle).toBe("dXNy");
  });
});

describe("relying party settings", () => {
  const config = testConfig({ WEBAUTHN_RP_ID: "example.com", WEBAUTHN_RP_NAME: "Example", WEBAUTHN_ORIGINS: "https://example.com,https://www.example.com" });
  const resolve = (settings: unknown) => resolveAppSettings({ id: "app_1", name: "App", settings }, config).webauthn;

  it("deployment defaults from WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME and WEBAUTHN_ORIGINS", () => {
    expect(resolve({})).toEqual({
      rpId: "example.com",
      rpName: "Example",
      origins: ["https://example.com", "https://www.example.com"],
      userVerification: "preferred",
      publishableKeyRegistration: true,
    });
  });

  it("per-app overrides; origins normalized (trailing slash), Android app origins accepted", () => {
    expect(resolve({ webauthn: { rpId: "shop.test", rpName: "Shop", origins: ["https://shop.test/", "android:apk-key-hash:AbCdEfGhIjKlMnOpQrStUv"], userVerification: "required", publishableKeyRegistration: false } })).toEqual({
      rpId: "shop.test",
      rpName: "Shop",
      origins: ["https://shop.test", "android:apk-key-hash:AbCdEfGhIjKlMnOpQrStUv"],
      userVerification: "required",
      publishableKeyRegistration: false,
    });
  });

  it.each([
    ["an RP id with a scheme", { rpId: "https://shop.test" }, "rpId", "example.com"],
    ["an RP id with a port", { rpId: "shop.test:443" }, "rpId", "example.com"],
    ["an origin with a path", { origins: ["https://shop.test/login"] }, "origins", ["https://example.com", "https://www.example.com"]],
    ["an empty origin list", { origins: [] }, "origins", ["https://example.com", "https://www.example.com"]],
    ["an unknown userVerification", { userVerification: "always" }, "userVerification", "preferred"],
  ])("%s falls back to the default", (_name, webauthn, field, expected) => {
    expect(resolve({ webauthn })[field as keyof ReturnType<typeof resolve>]).toEqual(expected);
  });
});

describe("challenge purge", () => {
  it("every 256th issued challenge purges, in the background, challenges expired over an hour ago", async () => {
    const clock = new ManualClock(new Date("2026-11-22T07:00:00.000Z"));
    const purges: Array<{ before: Date; limit: number }> = [];
    const repo = {
      createChallenge: async () => undefined,
      purgeChallenges: async (before: Date, limit: number) => {
        purges.push({ before, limit });
        return 0;
      },
    } as unknown as WebauthnRepository;
    const settings = resolveAppSettings({ id: "app_1", name: "App", settings: {} }, testConfig());
    const service = new WebauthnService({ repo, settings: { get: async () => settings }, clock, metrics: createMetrics({ defaultMetrics: false }) });
    for (let i = 0; i < 255; i++) await service.authenticationOptions("app_1", {});
    expect(purges).toEqual([]);
    await service.authenticationOptions("app_1", {});
    expect(purges).toEqual([{ before: new Date("2026-11-22T06:00:00.000Z"), limit: 1000 }]);
  });
});
