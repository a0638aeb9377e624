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

/**
 * The end user for (app, externalId), created on first use; safe under concurrency. The insert
 * is `ON CONFLICT DO NOTHING`, which waits for a concurrent insert of the same user to commit,
 * and whoever did not insert then reads the row. (Prisma's `upsert` runs here as a read then an
 * insert: two first requests for one user collided on the unique key and one answered 500.)
 */
export async function ensureEndUser(client: Client, appId: string, externalId: string): Promise<EndUserRecord> {
  const existing = await findEndUser(client, appId, externalId);
  if (existing) return existing;
  const inserted = await client.$queryRaw<Array<{ id: string }>>`
    INSERT INTO end_users (id, app_id, external_id) VALUES (${newId("usr")}, ${appId}, ${externalId})
    ON CONFLICT (app_id, external_id) DO NOTHING
    RETURNING id`;
  if (inserted[0]) return { id: inserted[0].id, appId, externalId };
  const raced = await findEndUser(client, appId, externalId);
  if (!raced) throw new Error(`end user ${externalId} of app ${appId} neither inserted nor found`);
  return raced;
}

export function findEndUser(client: Client, appId: string, externalId: string): Promise<EndUserRecord | null> {
  return client.endUser.findUnique({ where: { appId_externalId: { appId, externalId } }, select: { id: true, appId: true, externalId: true } });
}
