/**
 * Roles (API.md §9), table driven over every admin route: an owner may do everything; an
 * admin only in its own app — another app, or anything of another app addressed by its own
 * id, answers 404 exactly as if it did not exist; a viewer reads everything and changes
 * nothing (403). Refused writes change nothing and are audited as denied.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keysRepository } from "../../../src/features/keys/keys.repository.ts";
import { createApiKey } from "../../../src/features/keys/keys.service.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { auditRows, call, operator, type TestOperator } from "./admin-fixtures.ts";

let t: TestApp;
let appA: string;
let appB: string;
let owner: TestOperator;
let adminA: TestOperator;
let viewer: TestOperator;

beforeAll(async () => {
  t = await createTestApp({ env: { WEBHOOK_ALLOW_PRIVATE: "true" }, deps: { webhooks: { worker: false } } });
  appA = t.appId;
  appB = (await t.createTenant("App B")).appId;
  [owner, adminA, viewer] = await Promise.all([operator(t, "owner"), operator(t, "admin", appA), operator(t, "viewer")]);
});
afterAll(async () => t?.close());

let counter = 0;
const prisma = () => t.database.db.prisma;
const fresh = {
  async key(appId: string) {
    return (await createApiKey(keysRepository(prisma()), { appId, kind: "secret", name: "fixture" })).id;
  },
  async policy(appId: string) {
    const res = await call(t, owner, "POST", `/apps/${appId}/policies`, { name: `p${++counter}`, requiredChannels: ["totp"] });
    return res.json().data.id as string;
  },
  async webhook(appId: string) {
    const res = await call(t, owner, "POST", `/apps/${appId}/webhooks`, { url: `http://127.0.0.1:9/hook/${++counter}` });
    if (res.statusCode !== 201) throw new Error(res.body);
    return res.json().data.id as string;
  },
  async delivery(appId: string) {
    const webhookId = await fresh.webhook(appId);
    const res = await call(t, owner, "POST", `/webhooks/${webhookId}/test`);
    return res.json().data.deliveryId as string;
  },
  async lockedPhone(appId: string) {
    const destination = `+8210${String(20_000_000 + ++counter)}`;
    await prisma().destinationGuard.create({ data: { appId, channel: "sms", destination, consecutiveFailures: 7 } });
    return encodeURIComponent(destination);
  },
};

type Method = "GET" | "POST" | "PATCH" | "DELETE";
interface Case {
  name: string;
  method: Method;
  /** Builds the URL (creating what it addresses) in app `appId`. */
  url: (appId: string) => Promise<string> | string;
  body?: () => unknown;
  /** The success status. */
  status: number;
}

const READS: Case[] = [
  { name: "get app", method: "GET", url: (a) => `/apps/${a}`, status: 200 },
  { name: "list keys", method: "GET", url: (a) => `/apps/${a}/keys`, status: 200 },
  { name: "list policies", method: "GET", url: (a) => `/apps/${a}/policies`, status: 200 },
  { name: "list webhooks", method: "GET", url: (a) => `/apps/${a}/webhooks`, status: 200 },
  { name: "list deliveries", method: "GET", url: async (a) => `/webhooks/${await fresh.webhook(a)}/deliveries`, status: 200 },
  { name: "list a user's factors", method: "GET", url: (a) => `/apps/${a}/users/user-1/factors`, status: 200 },
  { name: "audit log of the app", method: "GET", url: (a) => `/audit-log?appId=${a}`, status: 200 },
];

const WRITES: Case[] = [
  { name: "update app", method: "PATCH", url: (a) => `/apps/${a}`, body: () => ({ settings: { otp: { codeLength: 7 } } }), status: 200 },
  { name: "create key", method: "POST", url: (a) => `/apps/${a}/keys`, body: () => ({ kind: "secret" }), status: 201 },
  { name: "revoke key", method: "DELETE", url: async (a) => `/keys/${await fresh.key(a)}`, status: 200 },
  { name: "rotate key", method: "POST", url: async (a) => `/keys/${await fresh.key(a)}/rotate`, status: 201 },
  { name: "create policy", method: "POST", url: (a) => `/apps/${a}/policies`, body: () => ({ name: "x", requiredChannels: ["sms"] }), status: 201 },
  { name: "update policy", method: "PATCH", url: async (a) => `/policies/${await fresh.policy(a)}`, body: () => ({ enabled: false }), status: 200 },
  { name: "delete policy", method: "DELETE", url: async (a) => `/policies/${await fresh.policy(a)}`, status: 200 },
  { name: "create webhook", method: "POST", url: (a) => `/apps/${a}/webhooks`, body: () => ({ url: `http://127.0.0.1:9/new/${++counter}` }), status: 201 },
  { name: "update webhook", method: "PATCH", url: async (a) => `/webhooks/${await fresh.webhook(a)}`, body: () => ({ enabled: false }), status: 200 },
  { name: "delete webhook", method: "DELETE", url: async (a) => `/webhooks/${await fresh.webhook(a)}`, status: 200 },
  { name: "test event", method: "POST", url: async (a) => `/webhooks/${await fresh.webhook(a)}/test`, status: 200 },
  { name: "redeliver", method: "POST", url: async (a) => `/deliveries/${await fresh.delivery(a)}/redeliver`, status: 200 },
  { name: "reset destination lock", method: "DELETE", url: async (a) => `/apps/${a}/users/${await fresh.lockedPhone(a)}/factors/destination-lock`, status: 200 },
];

async function attempt(who: TestOperator, c: Case, appId: string) {
  return call(t, who, c.method, await c.url(appId), c.body?.());
}

describe("owner: everything, in every app", () => {
  it.each([...READS, ...WRITES])("$name", async (c) => {
    for (const appId of [appA, appB]) {
      const res = await attempt(owner, c, appId);
      expect(res.statusCode, `${appId}: ${res.body}`).toBe(c.status);
    }
  });

  it("creates apps", async () => {
    expect((await call(t, owner, "POST", "/apps", { name: "Created by owner" })).statusCode).toBe(201);
  });
});

describe("admin: its own app only; another app is 404, never 403", () => {
  it.each([...READS, ...WRITES])("$name", async (c) => {
    const own = await attempt(adminA, c, appA);
    expect(own.statusCode, own.body).toBe(c.status);
    const other = await attempt(adminA, c, appB);
    expect(other.statusCode, other.body).toBe(404);
    expect(other.json().code).toBe("NOT_FOUND");
  });

  it("cannot create apps (403)", async () => {
    const res = await call(t, adminA, "POST", "/apps", { name: "Not allowed" });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe("FORBIDDEN");
  });

  it("an app that does not exist and an app it may not see answer the same", async () => {
    const missing = await call(t, adminA, "GET", "/apps/app_doesnotexist000000000000");
    const hidden = await call(t, adminA, "GET", `/apps/${appB}`);
    expect(hidden.statusCode).toBe(missing.statusCode);
    expect(hidden.body).toBe(missing.body);
  });

  it("GET /apps lists only its own app; the audit log only its own app's entries", async () => {
    const apps = (await call(t, adminA, "GET", "/apps?limit=100")).json().data.apps as Array<{ appId: string }>;
    expect(apps.map((a) => a.appId)).toEqual([appA]);
    await auditRows(t, { appId: appB });
    const entries = (await call(t, adminA, "GET", "/audit-log?limit=100")).json().data.entries as Array<{ appId: string | null }>;
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((e) => e.appId === appA)).toBe(true);
  });

  it("a refused write to another app changes nothing and is audited as denied", async () => {
    const keyId = await fresh.key(appB);
    expect((await call(t, adminA, "DELETE", `/keys/${keyId}`)).statusCode).toBe(404);
    expect((await prisma().apiKey.findUniqueOrThrow({ where: { id: keyId } })).revokedAt).toBeNull();
    const [entry] = await auditRows(t, { action: "admin.keys.revoke", target: keyId });
    expect(entry).toMatchObject({ actorId: adminA.id, appId: appB, outcome: "denied", details: { status: 404 } });
  });
});

describe("viewer: reads everything, writes nothing", () => {
  it.each(READS)("$name", async (c) => {
    for (const appId of [appA, appB]) {
      const res = await attempt(viewer, c, appId);
      expect(res.statusCode, res.body).toBe(c.status);
    }
  });

  it.each(WRITES)("$name → 403", async (c) => {
    const res = await attempt(viewer, c, appB);
    expect(res.statusCode, res.body).toBe(403);
    expect(res.json().code).toBe("FORBIDDEN");
  });

  it("cannot create apps, and a refused write changes nothing (audited as denied)", async () => {
    expect((await call(t, viewer, "POST", "/apps", { name: "x" })).statusCode).toBe(403);
    const keyId = await fresh.key(appA);
    const keysBefore = await prisma().apiKey.count({ where: { appId: appA } });
    expect((await call(t, viewer, "POST", `/keys/${keyId}/rotate`)).statusCode).toBe(403);
    expect((await prisma().apiKey.findUniqueOrThrow({ where: { id: keyId } })).revokedAt).toBeNull();
    expect(await prisma().apiKey.count({ where: { appId: appA } })).toBe(keysBefore);
    const rows = await auditRows(t, { action: "admin.keys.rotate", actorId: viewer.id });
    expect(rows[0]).toMatchObject({ outcome: "denied", details: { status: 403 } });
  });
});
