import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "prisma/config";

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Prisma CLI configuration. Latchkey applies migrations itself at start (src/infra/migrate.ts)
 * and talks to the database through driver adapters, so the CLI is only used for `generate`.
 */
export default defineConfig({
  schema: path.join(here, "schema.prisma"),
  migrations: { path: path.join(here, "migrations") },
});
