/**
 * Signature headers (API.md §5) as pure functions, checked against independent
 * implementations: node:crypto for SecureKey's `sha256=<hex>`, the `standardwebhooks`
 * package for `v1,<base64>`; and the SSRF guard's address ranges and connect-time lookup.
 */
import { createHmac, randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { deliveryHeaders, secureKeySignature, signingKey, standardWebhooksKey, standardWebhooksSignature } from "../../../src/features/webhooks/webhooks.signing.ts";
import { BlockedAddressError, guardedLookup, isPublicAddress, resolveCheckedAddresses } from "../../../src/infra/ssrf.ts";
import { verifyWebhookSignature } from "../../../src/sdk/index.ts";

const body = JSON.stringify({ id: "evt_1", event: "otp.sent", createdAt: "2026-11-22T07:00:00.000Z", data: { note: "인증번호 발송", emoji: "🔐" } });

describe("X-SecureKey-Signature", () => {
  it("is sha256= and the lower-case hex HMAC-SHA256 of the body with the secret string as the key", () => {
    const secret = "whsec_abc";
    const expected = createHmac("sha256", Buffer.from(secret, "utf8")).update(Buffer.from(body, "utf8")).digest("hex");
    expect(secureKeySignature(secret, body)).toBe(`sha256=${expected}`);
    expect(expected).toBe(expected.toLowerCase());
    expect(verifyWebhookSignature(body, secureKeySignature(secret, body), secret)).toBe(true);
  });
});

describe("Standard Webhooks", () => {
  it("a whsec_<base64> secret's key is the decoded bytes; anything else is used raw", () => {
    const bytes = randomBytes(32);
    expect(standardWebhooksKey(`whsec_${bytes.toString("base64")}`).equals(bytes)).toBe(true);
    expect(standardWebhooksKey("my-own-secret-0123456789").toString("utf8")).toBe("my-own-secret-0123456789");
    expect(standardWebhooksKey("whsec_not*base64").toString("utf8")).toBe("whsec_not*base64");
  });

  it("signs exactly as the standardwebhooks package does, for both secret forms", () => {
    const at = new Date(Math.floor(Date.now() / 1000) * 1000);
    const seconds = at.getTime() / 1000;
    const generated = `whsec_${randomBytes(32).toString("base64")}`;
    expect(standardWebhooksSignature(standardWebhooksKey(generated), "whd_1", seconds, body)).toBe(new Webhook(generated).sign("whd_1", at, body));
    const raw = "customer-supplied-secret-42";
    expect(standardWebhooksSignature(standardWebhooksKey(raw), "whd_1", seconds, body)).toBe(new Webhook(raw, { format: "raw" }).sign("whd_1", at, body));
  });
});

describe("deliveryHeaders", () => {
  it("carries every header of API.md §5; during a rotation one signature per secret, current first", () => {
    const current = `whsec_${randomBytes(32).toString("base64")}`;
    const previous = `whsec_${randomBytes(32).toString("base64")}`;
    const seconds = Math.floor(Date.now() / 1000);
    const headers = deliveryHeaders({ deliveryId: "whd_abc", eventType: "otp.sent", body, timestampSeconds: seconds, keys: [signingKey(current), signingKey(previous)] });
    expect(headers).toMatchObject({
      "content-type": "application/json",
      "x-securekey-event": "otp.sent",
      "x-securekey-delivery": "whd_abc",
      "x-securekey-timestamp": String(seconds),
      "webhook-id": "whd_abc",
      "webhook-timestamp": String(seconds),
    });
    expect(headers["x-securekey-signature"]).toBe(`${secureKeySignature(current, body)} ${secureKeySignature(previous, body)}`);
    const signatures = headers["webhook-signature"]!.split(" ");
    expect(signatures).toHaveLength(2);
    for (const secret of [current, previous]) {
      expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
      expect(verifyWebhookSignature(body, headers["x-securekey-signature"], secret)).toBe(true);
    }
  });
});

describe("SSRF guard", () => {
  it.each([
    ["93.184.215.14", true],
    ["2606:4700::6810:84e5", true],
    ["127.0.0.1", false],
    ["::1", false],
    ["10.1.2.3", false],
    ["172.31.255.255", false],
    ["192.168.1.1", false],
    ["169.254.169.254", false],
    ["fd00:ec2::254", false],
    ["fe80::1", false],
    ["100.100.100.200", false],
    ["0.0.0.0", false],
    ["224.0.0.1", false],
    ["::ffff:10.0.0.1", false],
    ["64:ff9b::a00:1", false],
    ["2002:a00:1::", false],
    ["not an address", false],
  ])("%s is public: %s", (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });

  it("refuses a name when any of its addresses is not public, unless private targets are allowed", async () => {
    const resolve = async () => ["93.184.215.14", "10.0.0.9"];
    await expect(resolveCheckedAddresses("mixed.example", { allowPrivate: false, resolve })).rejects.toBeInstanceOf(BlockedAddressError);
    await expect(resolveCheckedAddresses("mixed.example", { allowPrivate: true, resolve })).resolves.toEqual([
      { address: "93.184.215.14", family: 4 },
      { address: "10.0.0.9", family: 4 },
    ]);
  });

  it("the connect-time lookup answers only checked addresses, in both of Node's calling forms", async () => {
    const lookup = guardedLookup({ allowPrivate: false, resolve: async (host) => (host === "good.example" ? ["93.184.215.14", "2606:4700::1"] : ["127.0.0.1"]) });
    const call = (host: string, options: { all?: boolean; family?: number }) =>
      new Promise<{ err: Error | null; address: unknown; family?: number }>((resolve) => lookup(host, options as never, (err, address, family) => resolve({ err, address, family })));
    expect(await call("good.example", { all: true })).toEqual({ err: null, address: [{ address: "93.184.215.14", family: 4 }, { address: "2606:4700::1", family: 6 }], family: undefined });
    expect(await call("good.example", {})).toEqual({ err: null, address: "93.184.215.14", family: 4 });
    expect(await call("good.example", { family: 6 })).toEqual({ err: null, address: "2606:4700::1", family: 6 });
    const refused = await call("evil.example", { all: true });
    expect(refused.err).toBeInstanceOf(BlockedAddressError);
    expect(refused.err!.message).toMatch(/evil\.example resolves to 127\.0\.0\.1, a loopback address/);
  });
});
