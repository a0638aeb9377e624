/**
 * GET /api/v1/admin/audit-log (API.md §9): every admin write is there with actor, app, IP,
 * action, target and outcome; newest first; filtered by app, actor (id or email), action
 * (exact or prefix*) and time; paged with nextCursor without gaps or repeats.
 */
import type { AuditEntry } from "../../../src/features/audit/audit.repository.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/infra/clock.ts";
import { createTestApp, type TestApp } from "../../helpers/build-app.ts";
import { call, operator, type TestOperator } from "./admin-fixtures.ts";

const start = new Date("2026-11-22T07:00:00.000Z");
const clock = new ManualClock(start);
let t: TestApp;
let owner: TestOperator;
let other: TestOperator;
let viewer: TestOperator;
let appB: string;
const keyIds: string[] = [];

/** An entry as GET /admin/audit-log answers it (dates as strings). */
type Entry = Omit<AuditEntry, "createdAt" | "details"> & { createdAt: string; details: Record<string, unknown> | null };

beforeAll(async () => {
  t = await createTestApp({ clock, deps: { webhooks: { worker: false } } });
  appB = (await t.createTenant("B")).appId;
  owner = await operator(t, "owner");
  other = await operator(t, "owner");
  viewer = await operator(t, "viewer");
  // A known history, one second apart: 3 keys in app A by `owner`, 2 in app B by `other`, a rename.
  for (const [who, appId] of [[owner, t.appId], [owner, t.appId], [owner, t.appId], [other, appB], [other, appB]] as const) {
    clock.advance(1000);
    keyIds.push((await call(t, who, "POST", `/apps/${appId}/keys`, { kind: "secret" })).json().data.id);
  }
  clock.advance(1000);
  await call(t, other, "PATCH", `/apps/${appB}`, { name: "B renamed" });
});
afterAll(async () => t?.close());

const entries = async (query: string, who: TestOperator = owner): Promise<{ entries: Entry[]; nextCursor: string | null }> => {
  const res = await call(t, who, "GET", `/audit-log${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data;
};

describe("GET /admin/audit-log", () => {
  it("records each write with actor, app, IP, action, target and outcome, newest first", async () => {
    const { entries: list } = await entries("?action=admin.keys.create&limit=100");
    expect(list).toHaveLength(5);
    expect(list.map((e) => e.target)).toEqual([...keyIds].reverse());
    expect(list[0]).toEqual({
      id: expect.stringMatching(/^aud_/),
      createdAt: new Date(start.getTime() + 5000).toISOString(),
      actorType: "admin",
      actorId: other.id,
      appId: appB,
      ip: "127.0.0.1",
      action: "admin.keys.create",
      target: keyIds[4],
      outcome: "success",
      details: { kind: "secret", prefix: expect.stringMatching(/^2fa_/) },
    });
    const times = list.map((e) => e.createdAt);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it("filters by app, actor (id or email), action prefix and time", async () => {
    expect((await entries(`?appId=${appB}&action=admin.*&limit=100`)).entries.map((e) => e.action).sort()).toEqual(["admin.apps.update", "admin.keys.create", "admin.keys.create"]);
    const byId = (await entries(`?actor=${other.id}&action=admin.keys.*`)).entries;
    expect(byId.map((e) => e.target)).toEqual([keyIds[4], keyIds[3]]);
    const byEmail = (await entries(`?actor=${encodeURIComponent(other.email.toUpperCase())}&action=admin.keys.*`)).entries;
    expect(byEmail.map((e) => e.id)).toEqual(byId.map((e) => e.id));
    const from = new Date(start.getTime() + 2000).toISOString();
    const to = new Date(start.getTime() + 4000).toISOString();
    const window = (await entries(`?action=admin.keys.create&from=${from}&to=${to}`)).entries;
    expect(window.map((e) => e.target)).toEqual([keyIds[3], keyIds[2], keyIds[1]]);
    expect((await entries("?action=admin.nothing.like.this")).entries).toEqual([]);
  });

  it("pages with nextCursor: every entry exactly once, in order", async () => {
    const all = (await entries("?limit=100")).entries;
    expect(all.length).toBeGreaterThan(6);
    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { entries: Entry[]; nextCursor: string | null } = await entries(`?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.entries.length).toBeLessThanOrEqual(2);
      walked.push(...page.entries.map((e) => e.id));
      cursor = page.nextCursor;
    } while (cursor);
    // Entries written while walking (none: reads are not audited) would only appear at the top.
    expect(walked).toEqual(all.map((e) => e.id));
    // Default page size 20.
    expect((await entries("")).entries).toHaveLength(Math.min(20, all.length));
  });

  it("refuses bad filters with 400", async () => {
    for (const query of ["?from=yesterday", "?limit=1000", "?cursor=bogus", "?unknown=1"]) {
      const res = await call(t, owner, "GET", `/audit-log${query}`);
      if (query === "?unknown=1") {
        expect(res.statusCode).toBe(200); // unknown query parameters are ignored, as elsewhere
        continue;
      }
      expect(res.statusCode, query).toBe(400);
      expect(res.json().code).toBe("VALIDATION_ERROR");
    }
  });

  it("viewers read it; an admin reads only its own app's entries", async () => {
    expect((await entries("?limit=5", viewer)).entries).toHaveLength(5);
    const adminB = await operator(t, "admin", appB);
    const own = (await entries("?limit=100", adminB)).entries;
    expect(own.length).toBeGreaterThan(0);
    expect(own.every((e) => e.appId === appB)).toBe(true);
    expect((await call(t, adminB, "GET", `/audit-log?appId=${t.appId}`)).statusCode).toBe(404);
  });
});
