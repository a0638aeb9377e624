/**
 * What the MFA policy engine reads and writes (API.md §8): the verifications every channel
 * records on success, the devices users have passed a check with, and the `mfa.required`
 * event. Policies themselves are read through policies.repository.ts. Every query is scoped
 * by app: nothing crosses apps.
 */
import type { PrismaClient } from "../../infra/db.ts";
import { createHash } from "node:crypto";
import { announceRecordedEvents, buildEventPayload, recordEvent, type EventChannel } from "../../infra/events.ts";

export interface DeviceKey {
  appId: string;
  externalUserId: string;
  deviceId: string;
}

export function mfaRepository(prisma: PrismaClient) {
  return {
    /**
     * The newest verification time per channel for this user and purpose, among `channels`,
     * no older than `since` (the oldest any matching policy still accepts).
     */
    async latestVerifications(input: { appId: string; externalUserId: string; purpose: string; channels: string[]; since: Date }): Promise<Map<string, Date>> {
      if (input.channels.length === 0) return new Map();
      const rows = await prisma.verification.groupBy({
        by: ["channel"],
        where: {
          appId: input.appId,
          externalUserId: input.externalUserId,
          purpose: input.purpose,
          channel: { in: input.channels },
          createdAt: { gte: input.since },
        },
        _max: { createdAt: true },
      });
      const latest = new Map<string, Date>();
      for (const row of rows) if (row._max.createdAt) latest.set(row.channel, row._max.createdAt);
      return latest;
    },

    /** The user and purpose of the verification that `reference` (a push request id) recorded. */
    async findVerificationSubject(input: { appId: string; channel: string; reference: string }): Promise<{ externalUserId: string; purpose: string } | null> {
      const row = await prisma.verification.findFirst({
        where: { appId: input.appId, channel: input.channel, reference: input.reference, externalUserId: { not: null } },
        select: { externalUserId: true, purpose: true },
        orderBy: { createdAt: "desc" },
      });
      return row?.externalUserId ? { externalUserId: row.externalUserId, purpose: row.purpose } : null;
    },

    async isKnownDevice(key: DeviceKey): Promise<boolean> {
      const row = await prisma.mfaKnownDevice.findUnique({ where: { appId_externalUserId_deviceId: key }, select: { deviceId: true } });
      return row !== null;
    },

    /** Marks the device known (or seen again); concurrent calls for one device are harmless. */
    async rememberDevice(key: DeviceKey, at: Date): Promise<void> {
      await prisma.mfaKnownDevice.upsert({
        where: { appId_externalUserId_deviceId: key },
        create: { ...key, firstSeenAt: at, lastSeenAt: at },
        update: { lastSeenAt: at },
      });
    },

    /**
     * `mfa.required` in the outbox (API.md §5), so webhooks deliver it. It is the only write of
     * the request that causes it, so the single insert is its own transaction.
     */
    async recordMfaRequired(input: {
      appId: string;
      externalUserId: string;
      channel?: EventChannel;
      data: { purpose: string; requiredChannels: string[]; matchedPolicies: string[] };
      at: Date;
      /**
       * Records the event at most once per key (e.g. one push request that every poll reports
       * as approved): the id is derived from it and a second insert does nothing.
       */
      onceKey?: string;
    }): Promise<void> {
      const event = { appId: input.appId, type: "mfa.required" as const, channel: input.channel ?? null, externalUserId: input.externalUserId, data: input.data, at: input.at };
      if (!input.onceKey) {
        await recordEvent(prisma, event);
        return;
      }
      const id = `evt_${createHash("sha256").update(`${input.appId}\n${input.onceKey}`).digest("hex").slice(0, 32)}`;
      const inserted = await prisma.$executeRaw`
        INSERT INTO events (id, app_id, type, channel, payload, created_at)
        VALUES (${id}, ${input.appId}, ${event.type}, ${event.channel}, ${JSON.stringify(buildEventPayload(id, event))}, ${input.at})
        ON CONFLICT (id) DO NOTHING`;
      if (inserted === 1) announceRecordedEvents([{ id, appId: input.appId }]);
    },
  };
}

export type MfaRepository = ReturnType<typeof mfaRepository>;
