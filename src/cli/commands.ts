/**
 * Operator commands behind `npm run cli`, runnable in-process by tests.
 */
import type { Database } from "../infra/db.ts";
import { appsRepository } from "../features/apps/apps.repository.ts";
import { createApp } from "../features/apps/apps.service.ts";
import { keysRepository } from "../features/keys/keys.repository.ts";
import { createApiKey, publicKeyView, revokeApiKeyByPrefix } from "../features/keys/keys.service.ts";

export const USAGE = `usage: npm run cli -- <command>
  apps create <name>
  apps list
  keys create <app> [--publishable] [--name <name>]
  keys list <app>
  keys revoke <keyPrefix>
  db migrate`;

export class UsageError extends Error {}

function takeOption(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  if (index === -1) return undefined;
  const value = args[index + 1];
  if (!value || value.startsWith("--")) throw new UsageError(`${name} needs a value`);
  args.splice(index, 2);
  return value;
}

function takeFlag(args: string[], name: string): boolean {
  const index = args.indexOf(name);
  if (index === -1) return false;
  args.splice(index, 1);
  return true;
}

async function resolveApp(db: Database, ref: string | undefined) {
  if (!ref) throw new UsageError("name the app (its id app_… or its exact name)");
  const matches = await appsRepository(db.prisma).findByIdOrName(ref);
  if (matches.length === 0) throw new UsageError(`no app ${ref}`);
  if (matches.length > 1) throw new UsageError(`${matches.length} apps are named ${ref}; use the app id`);
  return matches[0]!;
}

/** Runs one CLI command; `print` receives each output line. */
export async function runCommand(db: Database, argv: string[], print: (line: string) => void): Promise<void> {
  const [group, command, ...rest] = argv;
  switch (`${group} ${command}`) {
    case "apps create": {
      const name = rest.join(" ").trim();
      if (!name) throw new UsageError("apps create needs a name");
      const app = await createApp(appsRepository(db.prisma), { name });
      const key = await createApiKey(keysRepository(db.prisma), { appId: app.id, kind: "secret", name: "initial" });
      print(`app id:     ${app.id}\nname:       ${app.name}\nsecret key: ${key.key}\n(shown once: only its hash is kept)`);
      return;
    }
    case "apps list": {
      for (const app of await appsRepository(db.prisma).list()) print(`${app.id}  ${app.name}  created ${app.createdAt.toISOString()}`);
      return;
    }
    case "keys create": {
      const publishable = takeFlag(rest, "--publishable");
      const name = takeOption(rest, "--name");
      const app = await resolveApp(db, rest[0]);
      const key = await createApiKey(keysRepository(db.prisma), { appId: app.id, kind: publishable ? "publishable" : "secret", name });
      print(`app id: ${app.id}\n${key.kind} key: ${key.key}\nprefix: ${key.prefix}\n(shown once: only its hash is kept)`);
      return;
    }
    case "keys list": {
      const app = await resolveApp(db, rest[0]);
      for (const key of (await keysRepository(db.prisma).listByApp(app.id)).map(publicKeyView)) {
        const state = key.revokedAt ? `revoked ${key.revokedAt}` : "active";
        print(`${key.prefix}…  ${key.kind.padEnd(11)}  ${state.padEnd(32)}  created ${key.createdAt}  last used ${key.lastUsedAt ?? "never"}${key.name ? `  ${key.name}` : ""}`);
      }
      return;
    }
    case "keys revoke": {
      if (!rest[0]) throw new UsageError("keys revoke needs a key prefix (see keys list)");
      const key = await revokeApiKeyByPrefix(keysRepository(db.prisma), rest[0].replace(/…$/, ""), new Date());
      print(`revoked ${key.prefix}… (${key.kind}); it stops working everywhere within 5 seconds`);
      return;
    }
    case "db migrate":
      print("migrations are applied");
      return;
    default:
      throw new UsageError(USAGE);
  }
}

