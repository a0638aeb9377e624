/**
 * CORS (API.md §7, keys for browsers): a page on a listed origin can call the API with a
 * publishable or ephemeral key; a page on any other origin gets no CORS headers, so its browser
 * refuses to hand it the answer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config.ts";
import { createTestApp, testConfig, type TestApp } from "../helpers/build-app.ts";

const preflight = (t: TestApp, origin: string) =>
  t.app.inject({
    method: "OPTIONS",
    url: "/api/v1/webauthn/authenticate/options",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "x-api-key,content-type,idempotency-key" },
  });

describe("CORS with the default origins (WEBAUTHN_ORIGINS)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { WEBAUTHN_ORIGINS: "https://shop.example,http://localhost:3000" } });
  });
  afterAll(async () => t?.close());

  it("answers a listed origin's preflight with the headers a key-carrying request needs", async () => {
    const res = await preflight(t, "https://shop.example");
    expect(res.statusCode).toBe(204);
    expect(res.headers["access-control-allow-origin"]).toBe("https://shop.example");
    expect(String(res.headers["access-control-allow-headers"]).toLowerCase()).toContain("x-api-key");
    expect(String(res.headers["access-control-allow-methods"])).toContain("POST");
    expect(res.headers["access-control-allow-credentials"]).toBeUndefined();
  });

  it("lets the page read the answer and the rate-limit headers", async () => {
    const res = await t.app.inject({ method: "GET", url: "/api/v1/app", headers: { origin: "http://localhost:3000", "x-api-key": t.apiKey } });
    expect(res.statusCode).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBe("http://localhost:3000");
    expect(String(res.headers["access-control-expose-headers"])).toContain("X-RateLimit-Remaining");
  });

  it("gives an unlisted origin no CORS headers (its browser blocks the answer)", async () => {
    const res = await preflight(t, "https://evil.example");
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
    const direct = await t.app.inject({ method: "GET", url: "/api/v1/app", headers: { origin: "https://evil.example", "x-api-key": t.apiKey } });
    expect(direct.headers["access-control-allow-origin"]).toBeUndefined();
  });
});

describe("CORS_ORIGINS", () => {
  it("* allows any origin", async () => {
    const t = await createTestApp({ env: { CORS_ORIGINS: "*" } });
    try {
      expect((await preflight(t, "https://anywhere.example")).headers["access-control-allow-origin"]).toBe("*");
    } finally {
      await t.close();
    }
  });

  it("refuses an entry that is not a bare origin, naming the variable", () => {
    expect(() => testConfig({ CORS_ORIGINS: "https://shop.example/login" })).toThrow(ConfigError);
    expect(() => testConfig({ CORS_ORIGINS: "shop.example" })).toThrow(/CORS_ORIGINS/);
  });
});
