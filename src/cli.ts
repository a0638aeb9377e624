/**
 * Operator CLI: `npm run cli -- <command>` (see USAGE in cli/commands.ts).
 *   apps create <name>            create an app and print its first secret key
 *   apps list
 *   keys create <app> [--publishable] [--name <name>]
 *   keys list <app>
 *   keys revoke <keyPrefix>
 *   operators create <email> --role owner|admin|viewer [--app <app>]   (password from LATCHKEY_OPERATOR_PASSWORD)
 *   operators list
 *   db migrate                    apply pending migrations
 * <app> is an app id (app_…) or an app's exact name.
 */
import pino from "pino";
import { runCommand, USAGE, UsageError } from "./cli/commands.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { KeyPrefixError } from "./features/keys/keys.service.ts";
import { DatabaseInUseError } from "./infra/db.ts";
import { loggerOptions } from "./infra/logger.ts";
import { openRuntime } from "./infra/runtime.ts";

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
  if (process.argv.length <= 2) {
    console.error(USAGE);
    return 2;
  }
  const logger = pino({ ...loggerOptions(config.LOG_LEVEL === "info" ? "warn" : config.LOG_LEVEL) }, pino.destination(2));
  let runtime;
  try {
    runtime = await openRuntime(config, logger);
  } catch (err) {
    if (err instanceof DatabaseInUseError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
  try {
    await runCommand(runtime.db, process.argv.slice(2), (line) => process.stdout.write(`${line}\n`));
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof KeyPrefixError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  } finally {
    await runtime.db.close();
  }
}

process.exitCode = await main();
