/**
 * A customer's server using the SDK (`client.webauthn.*`) against a listening Latchkey, with a
 * software authenticator standing in for the browser: register, sign in, passkey login,
 * manage credentials, and a failed verification surfacing as a TwoFactorError.
 */
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TwoFactorClient, TwoFactorError } from "../../../src/sdk/index.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { SoftAuthenticator } from "../../helpers/soft-authenticator.ts";

let t: TestApp;
let client: TwoFactorClient;
beforeAll(async () => {
  t = await createTestApp();
  await t.app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = t.app.server.address() as AddressInfo;
  client = new TwoFactorClient({ apiKey: t.apiKey, baseUrl: `http://127.0.0.1:${port}` });
});
afterAll(async () => t?.close());

describe("client.webauthn", () => {
  it("registers, signs in with and without userId, renames and deletes a credential", async () => {
    const authenticator = new SoftAuthenticator({ origin: "http://localhost:3000" });

    const { publicKey: creation } = await client.webauthn.registerOptions({ userId: "user_123", userName: "a@b.com" });
    expect(creation.user.name).toBe("a@b.com");
    const { response: attestation } = authenticator.register(creation);
    // As the Node SDK example: the browser's fields at the top level, rawId in standard base64.
    const registered = await client.webauthn.registerVerify({
      userId: "user_123",
      id: attestation.id,
      rawId: Buffer.from(attestation.rawId, "base64url").toString("base64"),
      type: "public-key",
      response: attestation.response,
      deviceName: "MacBook Touch ID",
    });
    expect(registered).toEqual({ verified: true, credentialId: attestation.id, deviceName: "MacBook Touch ID" });

    const { publicKey: request } = await client.webauthn.authenticateOptions({ userId: "user_123" });
    expect(request.allowCredentials?.map((c) => c.id)).toEqual([attestation.id]);
    const signedIn = await client.webauthn.authenticateVerify({ userId: "user_123", credential: authenticator.assert(request) });
    expect(signedIn).toEqual({ verified: true, userId: "user_123", credentialId: attestation.id });

    const { publicKey: passkey } = await client.webauthn.authenticateOptions();
    expect(passkey.allowCredentials).toEqual([]);
    const discovered = await client.webauthn.authenticateVerify({ ...authenticator.assert(passkey) });
    expect(discovered.userId).toBe("user_123");

    const { credentials } = await client.webauthn.listCredentials("user_123");
    expect(credentials).toEqual([expect.objectContaining({ credentialId: attestation.id, deviceName: "MacBook Touch ID", counter: 2, transports: ["internal"] })]);
    expect(await client.webauthn.renameCredential(attestation.id, "Work laptop")).toMatchObject({ credentialId: attestation.id, deviceName: "Work laptop" });
    expect(await client.webauthn.deleteCredential(attestation.id)).toEqual({ deleted: true, credentialId: attestation.id, userId: "user_123" });
    expect((await client.webauthn.listCredentials("user_123")).credentials).toEqual([]);

    // After the delete, the authenticator still holds the key, but Latchkey refuses it.
    const { publicKey: again } = await client.webauthn.authenticateOptions();
    const error = await client.webauthn.authenticateVerify(authenticator.assert(again)).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(TwoFactorError);
    expect(error).toMatchObject({ code: "WEBAUTHN_VERIFICATION_FAILED", status: 400, data: { verified: false, reason: "credential_not_found" } });
  });
});
