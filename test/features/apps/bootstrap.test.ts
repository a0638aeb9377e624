/**
 * First start: default app and key created once; BOOTSTRAP_* and ADMIN_* honoured (API.md §10).
 */
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bootstrap, bootstrapBanner, type BootstrapConfig } from "../../../src/features/apps/bootstrap.ts";
import { hashApiKey } from "../../../src/features/keys/keys.service.ts";
import { Keyring, verifyPassword } from "../../../src/infra/crypto.ts";
import { createTestDatabase, type TestDatabase } from "../../helpers/databases.ts";

const base: BootstrapConfig = { BOOTSTRAP_APP_NAME: "Default App", BOOTSTRAP_API_KEY: undefined, BOOTSTRAP_WEBHOOK_URL: undefined, BOOTSTRAP_WEBHOOK_SECRET: undefined, ADMIN_EMAIL: undefined, ADMIN_PASSWORD: undefined };
let database: TestDatabase;
const keyring = new Keyring(randomBytes(32));
beforeEach(async () => {
  database = await createTestDatabase();
});
afterEach(async () => database?.close());

describe("bootstrap", () => {
  it("creates the default app and a secret key on the first start only, and prints the key once", async () => {
    const first = await bootstrap(database.db, base, keyring);
    expect(first.createdApp).toMatchObject({ name: "Default App", appId: expect.stringMatching(/^app_/), apiKey: expect.stringMatching(/^2fa_[A-Za-z0-9_-]{43}$/) });
    const banner = bootstrapBanner(first)!;
    expect(banner).toContain(first.createdApp!.apiKey!);
    expect(banner).toContain(first.createdApp!.appId);

    const second = await bootstrap(database.db, base, keyring);
    expect(second).toEqual({});
    expect(bootstrapBanner(second)).toBeUndefined();
    expect(await database.db.prisma.app.count()).toBe(1);
    const key = await database.db.prisma.apiKey.findFirstOrThrow();
    expect(key.hash).toBe(hashApiKey(first.createdApp!.apiKey!));
  });

  it("uses BOOTSTRAP_API_KEY and does not echo it", async () => {
    const apiKey = `2fa_${randomBytes(32).toString("base64url")}`;
    const result = await bootstrap(database.db, { ...base, BOOTSTRAP_API_KEY: apiKey }, keyring);
    expect(result.createdApp?.apiKey).toBeUndefined();
    expect(bootstrapBanner(result)).not.toContain(apiKey);
    expect(await database.db.prisma.apiKey.findUnique({ where: { hash: hashApiKey(apiKey) } })).not.toBeNull();
  });

  it("registers BOOTSTRAP_WEBHOOK_URL with its secret sealed, once", async () => {
    const config = { ...base, BOOTSTRAP_WEBHOOK_URL: "https://hooks.example.com/2fa", BOOTSTRAP_WEBHOOK_SECRET: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=" };
    const result = await bootstrap(database.db, config, keyring);
    expect(result.createdWebhook).toMatchObject({ url: "https://hooks.example.com/2fa" });
    const endpoint = await database.db.prisma.webhookEndpoint.findFirstOrThrow();
    expect(endpoint.secretSealed).not.toContain("c2VjcmV0");
    expect(keyring.open(endpoint.secretSealed, endpoint.id)).toBe(config.BOOTSTRAP_WEBHOOK_SECRET);
    await bootstrap(database.db, config, keyring);
    expect(await database.db.prisma.webhookEndpoint.count()).toBe(1);
  });

  it("creates the ADMIN_EMAIL operator as owner with a scrypt-hashed password", async () => {
    const result = await bootstrap(database.db, { ...base, ADMIN_EMAIL: "Ops@Example.com", ADMIN_PASSWORD: "a long enough password" }, keyring);
    expect(result.createdAdmin).toEqual({ email: "ops@example.com" });
    const admin = await database.db.prisma.adminUser.findUniqueOrThrow({ where: { email: "ops@example.com" } });
    expect(admin.role).toBe("owner");
    expect(admin.passwordHash).not.toContain("a long enough password");
    expect(await verifyPassword("a long enough password", admin.passwordHash)).toBe(true);
  });

  it("two instances bootstrapping at once create one app", async () => {
    await Promise.all([bootstrap(database.db, base, keyring), bootstrap(database.db, base, keyring)]);
    expect(await database.db.prisma.app.count()).toBe(1);
  });
});
