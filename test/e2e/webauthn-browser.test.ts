/**
 * Passkeys proven in a real browser (API.md §4.4): Debian's Chromium, driven by playwright-core,
 * with a CDP virtual authenticator (ctap2, internal, resident keys, user verification). A small
 * login page served from an allowed origin (http://localhost:<port>, RP ID "localhost") calls
 * navigator.credentials.create/get with Latchkey's options and posts the answers back through
 * its server (which forwards /api/v1 to Latchkey) with a publishable key. It completes:
 * registration in both body shapes, sign-in with userId, a discoverable login without userId,
 * a cross-origin call straight to Latchkey with an ephemeral key the page's server minted
 * (CORS), and a refused sign-in after the credential was deleted.
 *
 * Without /usr/bin/chromium the suite is skipped and says so (CI installs it in .ci/run).
 */
import { existsSync, readFileSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium, type Browser, type CDPSession, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keysRepository } from "../../src/features/keys/keys.repository.ts";
import { createApiKey } from "../../src/features/keys/keys.service.ts";
import { TwoFactorClient } from "../../src/sdk/index.ts";
import { createTestApp, type TestApp } from "../helpers/build-app.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(`[webauthn-browser] NOT RUN: ${CHROMIUM} is missing. Install Debian's chromium (apt-get install chromium; .ci/run does) to run the real-browser WebAuthn proof.`);
}

const PAGE = readFileSync(new URL("./fixtures/webauthn-page.html", import.meta.url), "utf8");

interface CeremonyResult {
  step: string;
  status?: number;
  error?: string;
  body?: { success: boolean; code?: string; data?: Record<string, any> };
  sent?: Record<string, any>;
  allowCredentials?: Array<{ id: string }>;
}

describe.skipIf(!haveChromium)("WebAuthn in Chromium with a virtual authenticator", () => {
  let t: TestApp;
  let pageServer: Server;
  let origin: string;
  let browser: Browser;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  let client: TwoFactorClient;
  let latchkeyBase: string;

  beforeAll(async () => {
    let latchkeyPort = 0;
    let publishableKey = "";

    // The customer's site: the login page, /api/v1 forwarded to Latchkey unchanged, and
    // /session-key, where its server exchanges the secret key for an ephemeral one (API.md §7).
    pageServer = createServer((req, res) => {
      if (req.url === "/session-key" && req.method === "POST") {
        const form = new URLSearchParams({ app_id: t.appId, secret_key: t.apiKey, epi: "60000", scopes: "webauthn" }).toString();
        const mint = httpRequest(
          { host: "127.0.0.1", port: latchkeyPort, method: "POST", path: "/api/v1/auth/ephemeral", headers: { "content-type": "application/x-www-form-urlencoded", accept: "text/plain" } },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, { "content-type": "text/plain" });
            answer.pipe(res);
          },
        );
        mint.on("error", () => res.writeHead(502).end());
        mint.end(form);
        return;
      }
      if (req.url?.startsWith("/api/v1/")) {
        const upstream = httpRequest(
          { host: "127.0.0.1", port: latchkeyPort, method: req.method, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${latchkeyPort}` } },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on("error", () => res.writeHead(502).end());
        req.pipe(upstream);
        return;
      }
      if (req.url === "/" || req.url === "/login") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE.replace("__PUBLISHABLE_KEY__", publishableKey));
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => pageServer.listen(0, "127.0.0.1", resolve));
    origin = `http://localhost:${(pageServer.address() as AddressInfo).port}`;

    // Latchkey on another origin (127.0.0.1, its own port), letting this page's origin call it.
    t = await createTestApp({ env: { CORS_ORIGINS: origin } });
    await t.app.listen({ port: 0, host: "127.0.0.1" });
    latchkeyPort = (t.app.server.address() as AddressInfo).port;
    latchkeyBase = `http://127.0.0.1:${latchkeyPort}`;
    client = new TwoFactorClient({ apiKey: t.apiKey, baseUrl: latchkeyBase });
    publishableKey = (await createApiKey(keysRepository(t.database.db.prisma), { appId: t.appId, kind: "publishable" })).key;

    // The relying party, per app: this page's origin, RP ID "localhost".
    await t.database.db.query("UPDATE apps SET settings = $2::jsonb WHERE id = $1", [
      t.appId,
      JSON.stringify({ webauthn: { rpId: "localhost", rpName: "Latchkey E2E", origins: [origin] } }),
    ]);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--host-resolver-rules=MAP localhost 127.0.0.1"],
    });
    page = await browser.newPage();
    cdp = await page.context().newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    ({ authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    }));
    await page.goto(`${origin}/login`);
    expect(await page.evaluate(() => (globalThis as { isSecureContext?: boolean }).isSecureContext)).toBe(true);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => (pageServer ? pageServer.close(resolve) : resolve(undefined)));
    await t?.close();
  });

  const register = (userId: string, shape: "node" | "nested", extra: Record<string, unknown> = {}) =>
    page.evaluate(([u, s, e]) => (globalThis as any).latchkeyDemo.register(u, s, e), [userId, shape, extra] as const) as Promise<CeremonyResult>;
  const authenticate = (userId: string | undefined, shape: "node" | "nested") =>
    page.evaluate(([u, s]) => (globalThis as any).latchkeyDemo.authenticate(u ?? undefined, s), [userId ?? null, shape] as const) as Promise<CeremonyResult>;

  let aliceCredentialId: string;
  let bobCredentialId: string;

  it("registers a passkey with the Node SDK's top-level shape (rawId as btoa standard base64)", async () => {
    const result = await register("alice", "node");
    expect(result.error).toBeUndefined();
    expect(result.sent!.rawId).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(result.sent!.rawId).not.toBe(result.sent!.id);
    expect(result.status, JSON.stringify(result.body)).toBe(200);
    expect(result.body!.data).toEqual({ verified: true, credentialId: result.sent!.id, deviceName: "Chromium (top-level shape)" });
    aliceCredentialId = result.body!.data!.credentialId;

    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    const stored = credentials.find((c) => Buffer.from(c.credentialId, "base64").toString("base64url") === aliceCredentialId);
    expect(stored?.isResidentCredential).toBe(true);
  });

  it("registers a second user's key with the PHP example's nested shape { credential }", async () => {
    // Not discoverable, so the passkey login below has exactly one account to pick.
    const result = await register("bob", "nested", { residentKey: "discouraged" });
    expect(result.error).toBeUndefined();
    expect(result.status, JSON.stringify(result.body)).toBe(200);
    expect(result.body!.data).toMatchObject({ verified: true, deviceName: "Chromium (nested shape)" });
    bobCredentialId = result.body!.data!.credentialId;
    expect(bobCredentialId).not.toBe(aliceCredentialId);
  });

  it("registration options exclude the user's existing credential: the authenticator refuses a second one", async () => {
    const result = await register("alice", "node");
    expect(result.step).toBe("create");
    expect(result.error).toMatch(/^InvalidStateError/);
  });

  it("signs in with userId (top-level shape), and another user with the nested shape", async () => {
    const alice = await authenticate("alice", "node");
    expect(alice.error).toBeUndefined();
    expect(alice.allowCredentials!.map((c) => c.id)).toEqual([aliceCredentialId]);
    expect(alice.status, JSON.stringify(alice.body)).toBe(200);
    expect(alice.body!.data).toEqual({ verified: true, userId: "alice", credentialId: aliceCredentialId });

    const bob = await authenticate("bob", "nested");
    expect(bob.status, JSON.stringify(bob.body)).toBe(200);
    expect(bob.body!.data).toEqual({ verified: true, userId: "bob", credentialId: bobCredentialId });
  });

  it("a discoverable login without userId finds the user from the passkey", async () => {
    const result = await authenticate(undefined, "nested");
    expect(result.error).toBeUndefined();
    expect(result.allowCredentials).toEqual([]);
    expect(result.status, JSON.stringify(result.body)).toBe(200);
    expect(result.body!.data).toEqual({ verified: true, userId: "alice", credentialId: aliceCredentialId });

    const { credentials } = await client.webauthn.listCredentials("alice");
    expect(credentials).toEqual([expect.objectContaining({ credentialId: aliceCredentialId, transports: ["internal"], lastUsedAt: expect.any(String) })]);
    expect(credentials[0]!.counter).toBeGreaterThan(0);
  });

  it("a page on another origin calls Latchkey directly with an ephemeral key its server minted (CORS)", async () => {
    const result = await page.evaluate(async (base) => {
      const key = await (await fetch("/session-key", { method: "POST" })).text();
      const options = await fetch(`${base}/api/v1/webauthn/authenticate/options`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": key },
        body: JSON.stringify({ userId: "alice" }),
      });
      const outOfScope = await fetch(`${base}/api/v1/totp/status?userId=alice`, { headers: { "x-api-key": key } });
      return {
        key,
        status: options.status,
        body: await options.json(),
        limit: options.headers.get("x-ratelimit-limit"),
        outOfScope: { status: outOfScope.status, body: await outOfScope.json() },
      };
    }, latchkeyBase);
    expect(result.key).toMatch(/^ek_/);
    expect(result.status, JSON.stringify(result.body)).toBe(200);
    expect((result.body as { data: { publicKey: { allowCredentials: Array<{ id: string }> } } }).data.publicKey.allowCredentials.map((c) => c.id)).toEqual([aliceCredentialId]);
    // CORS exposes the rate-limit headers to the page's script.
    expect(Number(result.limit)).toBeGreaterThan(0);
    expect(result.outOfScope).toMatchObject({ status: 403, body: { code: "FORBIDDEN" } });
  });

  it("after the credential is deleted, the browser's assertion is refused", async () => {
    expect(await client.webauthn.deleteCredential(aliceCredentialId)).toMatchObject({ deleted: true, userId: "alice" });
    // The authenticator still holds the passkey and signs with it; Latchkey no longer knows it.
    const result = await authenticate(undefined, "node");
    expect(result.error).toBeUndefined();
    expect(result.step).toBe("verify");
    expect(result.status).toBe(400);
    expect(result.body).toMatchObject({ success: false, code: "WEBAUTHN_VERIFICATION_FAILED", data: { verified: false, reason: "credential_not_found" } });
    const named = await authenticate("alice", "node");
    expect(named).toMatchObject({ step: "options", status: 404 });

    const events = await t.database.db.query<{ type: string }>("SELECT type FROM events WHERE app_id = $1 AND channel = 'webauthn' ORDER BY created_at, id", [t.appId]);
    expect(events.map((e) => e.type)).toEqual([
      "webauthn.registered",
      "webauthn.registered",
      "verification.succeeded",
      "verification.succeeded",
      "verification.succeeded",
      "webauthn.removed",
      "verification.failed",
    ]);
  });
});
