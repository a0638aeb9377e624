import type { PrismaClient } from "../../infra/db.ts";

export function webhooksRepository(prisma: PrismaClient) {
  return {
    insertEndpoint(data: { id: string; appId: string; url: string; description?: string | null; events: string[]; secretSealed: string }) {
      return prisma.webhookEndpoint.create({ data });
    },
    findByUrl(appId: string, url: string) {
      return prisma.webhookEndpoint.findFirst({ where: { appId, url } });
    },
  };
}

export type WebhooksRepository = ReturnType<typeof webhooksRepository>;
