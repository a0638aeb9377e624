/**
 * First start (API.md §10): with no app yet, create the default app and its secret key (or
 * take BOOTSTRAP_API_KEY), register BOOTSTRAP_WEBHOOK_URL, and create the ADMIN_EMAIL operator.
 * Runs under an advisory lock so instances starting together bootstrap once.
 */
import { randomBytes } from "node:crypto";
import type { Config } from "../../config.ts";
import { hashPassword, type Keyring } from "../../infra/crypto.ts";
import type { Database } from "../../infra/db.ts";
import { newId } from "../../shared/ids.ts";
import { adminRepository } from "../admin/admin.repository.ts";
import { keysRepository } from "../keys/keys.repository.ts";
import { createApiKey, hashApiKey } from "../keys/keys.service.ts";
import { webhooksRepository } from "../webhooks/webhooks.repository.ts";
import { appsRepository } from "./apps.repository.ts";
import { createApp } from "./apps.service.ts";

const BOOTSTRAP_LOCK_KEY = 72_400_002;

export interface BootstrapResult {
  /** Set only on the start that created the app. */
  createdApp?: { appId: string; name: string; apiKey?: string; apiKeyPrefix: string; fromEnvironment: boolean };
  createdWebhook?: { id: string; url: string; secret?: string };
  createdAdmin?: { email: string };
}

export type BootstrapConfig = Pick<
  Config,
  "BOOTSTRAP_APP_NAME" | "BOOTSTRAP_API_KEY" | "BOOTSTRAP_WEBHOOK_URL" | "BOOTSTRAP_WEBHOOK_SECRET" | "ADMIN_EMAIL" | "ADMIN_PASSWORD"
>;

/** A webhook signing secret in the Standard Webhooks form (`whsec_` + base64 of 32 bytes). */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

export async function bootstrap(db: Database, config: BootstrapConfig, keyring: Keyring): Promise<BootstrapResult> {
  return db.withLock(BOOTSTRAP_LOCK_KEY, async () => {
    const apps = appsRepository(db.prisma);
    const keys = keysRepository(db.prisma);
    const result: BootstrapResult = {};

    if ((await apps.count()) === 0) {
      const app = await createApp(apps, { name: config.BOOTSTRAP_APP_NAME });
      const created = await createApiKey(keys, { appId: app.id, kind: "secret", name: "bootstrap", key: config.BOOTSTRAP_API_KEY });
      result.createdApp = {
        appId: app.id,
        name: app.name,
        apiKeyPrefix: created.prefix,
        fromEnvironment: Boolean(config.BOOTSTRAP_API_KEY),
        // A key the operator supplied is not echoed back.
        ...(config.BOOTSTRAP_API_KEY ? {} : { apiKey: created.key }),
      };
    } else if (config.BOOTSTRAP_API_KEY) {
      // An operator who sets BOOTSTRAP_API_KEY later gets it on the first app, unless that key already exists (even revoked).
      if (!(await keys.findByHash(hashApiKey(config.BOOTSTRAP_API_KEY)))) {
        const first = (await apps.list())[0]!;
        await createApiKey(keys, { appId: first.id, kind: "secret", name: "bootstrap", key: config.BOOTSTRAP_API_KEY });
      }
    }

    if (config.BOOTSTRAP_WEBHOOK_URL) {
      const first = (await apps.list())[0]!;
      const webhooks = webhooksRepository(db.prisma);
      if (!(await webhooks.findByUrl(first.id, config.BOOTSTRAP_WEBHOOK_URL))) {
        const id = newId("whk");
        const secret = config.BOOTSTRAP_WEBHOOK_SECRET ?? generateWebhookSecret();
        await webhooks.insertEndpoint({ id, appId: first.id, url: config.BOOTSTRAP_WEBHOOK_URL, description: "bootstrap", events: [], secretSealed: keyring.seal(secret, id) });
        result.createdWebhook = { id, url: config.BOOTSTRAP_WEBHOOK_URL, ...(config.BOOTSTRAP_WEBHOOK_SECRET ? {} : { secret }) };
      }
    }

    if (config.ADMIN_EMAIL && config.ADMIN_PASSWORD) {
      const admins = adminRepository(db.prisma);
      const email = config.ADMIN_EMAIL.toLowerCase();
      if (!(await admins.findByEmail(email))) {
        await admins.insert({ id: newId("adm"), email, passwordHash: await hashPassword(config.ADMIN_PASSWORD), role: "owner" });
        result.createdAdmin = { email };
      }
    }
    return result;
  });
}

/** The once-only banner server.ts prints (to stdout, not the log) when the app was created. */
export function bootstrapBanner(result: BootstrapResult): string | undefined {
  const lines: string[] = [];
  if (result.createdApp) {
    const { appId, name, apiKey, apiKeyPrefix } = result.createdApp;
    lines.push(`Created app "${name}"`, `  app id:     ${appId}`);
    lines.push(apiKey ? `  secret key: ${apiKey}` : `  secret key: ${apiKeyPrefix}… (from BOOTSTRAP_API_KEY)`);
    if (apiKey) lines.push("  This key is shown once. Store it now: only its hash is kept.");
  }
  if (result.createdWebhook) {
    lines.push(`Registered webhook ${result.createdWebhook.url} (${result.createdWebhook.id})`);
    if (result.createdWebhook.secret) lines.push(`  signing secret: ${result.createdWebhook.secret}  (shown once)`);
  }
  if (result.createdAdmin) lines.push(`Created operator ${result.createdAdmin.email} (owner)`);
  if (lines.length === 0) return undefined;
  const rule = "─".repeat(72);
  return [rule, ...lines, rule].join("\n");
}
