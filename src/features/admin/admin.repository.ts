import type { PrismaClient } from "../../infra/db.ts";
import type { AdminRole } from "../../generated/prisma/enums.ts";

export function adminRepository(prisma: PrismaClient) {
  return {
    findByEmail(email: string) {
      return prisma.adminUser.findUnique({ where: { email } });
    },
    insert(data: { id: string; email: string; passwordHash: string; role: AdminRole; appId?: string | null }) {
      return prisma.adminUser.create({ data });
    },
  };
}

export type AdminRepository = ReturnType<typeof adminRepository>;
