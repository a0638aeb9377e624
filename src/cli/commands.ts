/**
 * Operator commands behind `npm run cli`, runnable in-process by tests.
 */
import type { Database } from "../infra/db.ts";
import { adminRepository } from "../features/admin/admin.repository.ts";
import { createOperator, MIN_OPERATOR_PASSWORD_LENGTH } from "../features/admin/admin.session.ts";
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
  operators create <email> --role owner|admin|viewer [--app <app>]
      (the password is read from LATCHKEY_OPERATOR_PASSWORD, at least ${MIN_OPERATOR_PASSWORD_LENGTH} characters)
  operators list
  db migrate`;

/** Where `operators create` reads the password: never argv, which other users can see in `ps`. */
export const OPERATOR_PASSWORD_VARIABLE = "LATCHKEY_OPERATOR_PASSWORD";
const OPERATOR_ROLES = ["owner", "admin", "viewer"] as const;

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

/** Runs one CLI command; `print` receives each output line; `env` supplies the operator password. */
export async function runCommand(db: Database, argv: string[], print: (line: string) => void, env: Record<string, string | undefined> = process.env): Promise<void> {
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
    case "operators create": {
      const role = takeOption(rest, "--role");
      const appRef = takeOption(rest, "--app");
      const email = rest[0];
      if (!email || rest.length > 1) throw new UsageError("operators create needs one email address");
      if (!role || !(OPERATOR_ROLES as readonly string[]).includes(role)) throw new UsageError(`--role must be one of ${OPERATOR_ROLES.join(", ")}`);
      const password = env[OPERATOR_PASSWORD_VARIABLE];
      if (!password) throw new UsageError(`set ${OPERATOR_PASSWORD_VARIABLE} to the new operator's password (at least ${MIN_OPERATOR_PASSWORD_LENGTH} characters)`);
      const app = appRef ? await resolveApp(db, appRef) : undefined;
      try {
        const created = await createOperator(adminRepository(db.prisma), { email, password, role: role as (typeof OPERATOR_ROLES)[number], appId: app?.id ?? null });
        print(`created operator ${created.email} (${created.role}${created.appId ? ` of ${created.appId}` : ""}), id ${created.id}`);
      } catch (err) {
        if (err instanceof RangeError) throw new UsageError(err.message);
        throw err;
      }
      return;
    }
    case "operators list": {
      for (const op of await adminRepository(db.prisma).listOperators()) {
        print(`${op.id}  ${op.email}  ${op.role}${op.appId ? ` of ${op.appId}` : ""}  last login ${op.lastLoginAt?.toISOString() ?? "never"}`);
      }
      return;
    }
    case "db migrate":
      print("migrations are applied");
      return;
    default:
      throw new UsageError(USAGE);
  }
}

