/**
 * `npm run cli -- operators create|list`: further operators beyond the bootstrap ADMIN_EMAIL
 * one, their password taken from LATCHKEY_OPERATOR_PASSWORD (never argv, which `ps` shows),
 * who can then log in to the admin API (API.md §9) with the role they were given.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommand, UsageError } from "../../src/cli/commands.ts";
import { createTestApp, type TestApp } from "../helpers/build-app.ts";

const PASSWORD = "a long enough operator password";
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t?.close());

async function cli(argv: string[], env: Record<string, string | undefined> = { LATCHKEY_OPERATOR_PASSWORD: PASSWORD }): Promise<string> {
  const lines: string[] = [];
  await runCommand(t.database.db, argv, (line) => lines.push(line), env);
  return lines.join("\n");
}

const login = (email: string, password = PASSWORD) =>
  t.app.inject({ method: "POST", url: "/api/v1/admin/login", payload: { email, password } });

describe("operators create", () => {
  it("creates a viewer who can log in with the password from the environment", async () => {
    const out = await cli(["operators", "create", "Ops@Example.com", "--role", "viewer"]);
    expect(out).toMatch(/created operator ops@example\.com \(viewer\), id adm_/);
    expect(out).not.toContain(PASSWORD);
    const res = await login("ops@example.com");
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data.user).toMatchObject({ email: "ops@example.com", role: "viewer", appId: null });
    expect(await cli(["operators", "list"])).toMatch(/ops@example\.com {2}viewer {2}last login 20/);
  });

  it("an admin is bound to the app named by id or exact name", async () => {
    expect(await cli(["operators", "create", "shop-admin@example.com", "--role", "admin", "--app", "Test App"])).toContain(`admin of ${t.appId}`);
    const res = await login("shop-admin@example.com");
    expect(res.json().data.user).toMatchObject({ role: "admin", appId: t.appId });
  });

  it.each([
    ["no password in the environment", ["operators", "create", "a@example.com", "--role", "owner"], {}, /LATCHKEY_OPERATOR_PASSWORD/],
    ["a short password", ["operators", "create", "a@example.com", "--role", "owner"], { LATCHKEY_OPERATOR_PASSWORD: "short" }, /at least 12/],
    ["an unknown role", ["operators", "create", "a@example.com", "--role", "root"], undefined, /--role must be/],
    ["no role", ["operators", "create", "a@example.com"], undefined, /--role must be/],
    ["an admin without --app", ["operators", "create", "a@example.com", "--role", "admin"], undefined, /--app/],
    ["an owner with --app", ["operators", "create", "a@example.com", "--role", "owner", "--app", "Test App"], undefined, /only for role admin/],
    ["an unknown app", ["operators", "create", "a@example.com", "--role", "admin", "--app", "No Such App"], undefined, /no app/],
    ["not an email", ["operators", "create", "nobody", "--role", "owner"], undefined, /email/],
    ["an existing email", ["operators", "create", "OPS@example.com", "--role", "owner"], undefined, /already exists/],
  ] as const)("refuses %s", async (_name, argv, env, message) => {
    await expect(cli([...argv], env)).rejects.toThrow(UsageError);
    await expect(cli([...argv], env)).rejects.toThrow(message);
  });
});

describe("npm run cli -- operators create", () => {
  it("reads LATCHKEY_OPERATOR_PASSWORD from the real environment", () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "latchkey-cli-"));
    const run = (args: string[], env: Record<string, string> = {}) => spawnSync("npm", ["run", "--silent", "cli", "--", ...args], {
      cwd: path.resolve(import.meta.dirname, "../.."),
      env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "", LOG_LEVEL: "error", ...env },
      encoding: "utf8",
      timeout: 60_000,
    });
    const created = run(["operators", "create", "cli@example.com", "--role", "owner"], { LATCHKEY_OPERATOR_PASSWORD: PASSWORD });
    expect(created.stderr).not.toMatch(/Error/);
    expect(created.status).toBe(0);
    expect(created.stdout).toMatch(/created operator cli@example\.com \(owner\)/);
    const refused = run(["operators", "create", "cli2@example.com", "--role", "owner"], { LATCHKEY_OPERATOR_PASSWORD: "" });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/LATCHKEY_OPERATOR_PASSWORD/);
  }, 120_000);
});
