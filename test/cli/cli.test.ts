/**
 * The operator CLI's commands (`npm run cli -- …`), run in-process against a real database,
 * plus one run of the real command line.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommand, UsageError } from "../../src/cli/commands.ts";
import { KeyPrefixError } from "../../src/features/keys/keys.service.ts";
import { createTestApp, type TestApp } from "../helpers/build-app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: { API_KEY_CACHE_TTL_MS: "0" } });
});
afterAll(async () => t?.close());

async function cli(...argv: string[]): Promise<string> {
  const lines: string[] = [];
  await runCommand(t.database.db, argv, (line) => lines.push(line));
  return lines.join("\n");
}

const getApp = (key: string) => t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": key } });

describe("cli", () => {
  it("apps create prints an app id and a working secret key", async () => {
    const out = await cli("apps", "create", "Shop", "Backend");
    const appId = /app id:\s+(app_\S+)/.exec(out)![1]!;
    const key = /secret key:\s+(2fa_\S+)/.exec(out)![1]!;
    const res = await getApp(key);
    expect(res.json().data).toMatchObject({ appId, name: "Shop Backend" });
    expect(await cli("apps", "list")).toContain(appId);
  });

  it("keys create / list / revoke", async () => {
    const created = await cli("keys", "create", "Test App", "--name", "ci");
    const key = /secret key: (2fa_\S+)/.exec(created)![1]!;
    const prefix = /prefix: (\S+)/.exec(created)![1]!;
    expect((await getApp(key)).statusCode).toBe(200);

    const listed = await cli("keys", "list", t.appId);
    expect(listed).toContain(`${prefix}…`);
    expect(listed).not.toContain(key);

    expect(await cli("keys", "revoke", prefix)).toContain("revoked");
    expect((await getApp(key)).statusCode).toBe(401);
    expect(await cli("keys", "list", t.appId)).toMatch(new RegExp(`${prefix.replace(/[-_]/g, "\\$&")}….*revoked`));
  });

  it("keys create --publishable makes a pk_ key", async () => {
    expect(await cli("keys", "create", t.appId, "--publishable")).toMatch(/publishable key: pk_/);
  });

  it("refuses ambiguous or unknown input", async () => {
    await expect(cli("keys", "revoke", "2fa")).rejects.toThrow(KeyPrefixError);
    await expect(cli("keys", "revoke", "2fa_zzzzzzzz")).rejects.toThrow(/no active key/);
    await expect(cli("keys", "list", "no such app")).rejects.toThrow(UsageError);
    await expect(cli("frobnicate")).rejects.toThrow(UsageError);
  });
});

describe("npm run cli", () => {
  it("runs against the embedded database in DATA_DIR", () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "latchkey-cli-"));
    const result = spawnSync("npm", ["run", "--silent", "cli", "--", "apps", "create", "From", "CLI"], {
      cwd: path.resolve(import.meta.dirname, "../.."),
      env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "", LOG_LEVEL: "error" },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/secret key: 2fa_/);
  }, 60_000);
});
