/**
 * End users: the app's own id for a person (`userId` in the API), scoped to one app.
 */
import type { PrismaClient, Tx } from "../../infra/db.ts";
import { newId } from "../../shared/ids.ts";

export interface EndUserRecord {
  id: string;
  appId: string;
  externalId: string;
}

type Client = PrismaClient | Tx;

/** The end user for (app, externalId), created on first use; safe under concurrency. */
export async function ensureEndUser(client: Client, appId: string, externalId: string): Promise<EndUserRecord> {
  return client.endUser.upsert({
    where: { appId_externalId: { appId, externalId } },
    create: { id: newId("usr"), appId, externalId },
    update: {},
    select: { id: true, appId: true, externalId: true },
  });
}

export function findEndUser(client: Client, appId: string, externalId: string): Promise<EndUserRecord | null> {
  return client.endUser.findUnique({ where: { appId_externalId: { appId, externalId } }, select: { id: true, appId: true, externalId: true } });
}
