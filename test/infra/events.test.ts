/**
 * recordEvent: the outbox row exists exactly when the state change committed (API.md §5).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appsRepository } from "../../src/features/apps/apps.repository.ts";
import { createApp } from "../../src/features/apps/apps.service.ts";
import { recordEvent } from "../../src/infra/events.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/databases.ts";

let database: TestDatabase;
let appId: string;
beforeAll(async () => {
  database = await createTestDatabase();
  appId = (await createApp(appsRepository(database.db.prisma), { name: "events" })).id;
});
afterAll(async () => database?.close());

describe("recordEvent", () => {
  it("stores the payload as exactly JSON.stringify of the event, with externalUserId in data", async () => {
    const at = new Date("2026-11-22T07:00:00.000Z");
    const payload = await database.db.prisma.$transaction((tx) =>
      recordEvent(tx, {
        appId,
        type: "verification.succeeded",
        channel: "sms",
        externalUserId: "user_123",
        data: { purpose: "login", requestId: "otp_1", destination: "+82******5678", note: "로그인 승인" },
        at,
      }),
    );
    expect(payload).toEqual({
      id: expect.stringMatching(/^evt_[0-9A-Za-z]{24}$/),
      event: "verification.succeeded",
      channel: "sms",
      createdAt: "2026-11-22T07:00:00.000Z",
      data: { externalUserId: "user_123", purpose: "login", requestId: "otp_1", destination: "+82******5678", note: "로그인 승인" },
    });
    const row = await database.db.prisma.event.findUniqueOrThrow({ where: { id: payload.id } });
    expect(row.payload).toBe(JSON.stringify(payload));
    expect(JSON.stringify(JSON.parse(row.payload))).toBe(row.payload);
    expect(row).toMatchObject({ appId, type: "verification.succeeded", channel: "sms", dispatchedAt: null });
  });

  it("leaves no event when the transaction that caused it rolls back", async () => {
    const before = await database.db.prisma.event.count();
    await expect(
      database.db.prisma.$transaction(async (tx) => {
        await recordEvent(tx, { appId, type: "otp.sent", channel: "email", data: {}, at: new Date() });
        throw new Error("state change failed");
      }),
    ).rejects.toThrow("state change failed");
    expect(await database.db.prisma.event.count()).toBe(before);
  });

  it("omits channel and externalUserId when there are none", async () => {
    const payload = await database.db.prisma.$transaction((tx) => recordEvent(tx, { appId, type: "webhook.test", at: new Date() }));
    expect(payload).not.toHaveProperty("channel");
    expect(payload.data).toEqual({});
  });
});
