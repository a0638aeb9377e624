/**
 * A newcomer's first minutes, exactly as the README says: `npm start` on an empty DATA_DIR
 * starts on the embedded database, prints the app id and secret key once, answers in the
 * envelope; a restart keeps the data and prints no key; SIGTERM shuts down cleanly.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TwoFactorClient, TwoFactorError } from "../../src/sdk/index.ts";

const root = path.resolve(import.meta.dirname, "../..");
const dataDir = mkdtempSync(path.join(os.tmpdir(), "latchkey-e2e-"));
const running: ChildProcess[] = [];

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function npmStart(port: number): Promise<{ child: ChildProcess; output: () => string }> {
  const env: Record<string, string | undefined> = { ...process.env, PORT: String(port), DATA_DIR: dataDir };
  delete env.DATABASE_URL;
  const child = spawn("npm", ["start"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  running.push(child);
  let out = "";
  child.stdout!.on("data", (chunk) => (out += String(chunk)));
  child.stderr!.on("data", (chunk) => (out += String(chunk)));
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${out}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/ready`);
      if (res.status === 200) return { child, output: () => out };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`npm start did not become ready in 90 s:\n${out}`);
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.kill("SIGTERM");
  return exited;
}

afterAll(async () => {
  for (const child of running) if (child.exitCode === null) child.kill("SIGKILL");
});

describe("npm start (embedded database)", () => {
  it("first start prints the key once; it works; a restart keeps everything and prints nothing", async () => {
    const port = await freePort();
    const first = await npmStart(port);
    const printed = first.output();
    const apiKey = /secret key: (2fa_[A-Za-z0-9_-]{43})/.exec(printed)?.[1];
    const appId = /app id:\s+(app_[0-9A-Za-z]{24})/.exec(printed)?.[1];
    expect(apiKey, printed).toBeDefined();
    expect(appId).toBeDefined();

    const client = new TwoFactorClient({ apiKey: apiKey!, baseUrl: `http://localhost:${port}` });
    expect(await client.app.get()).toMatchObject({ appId, name: "Default App" });
    const raw = await fetch(`http://127.0.0.1:${port}/api/v1/app`, { headers: { "X-API-Key": apiKey! } });
    expect(await raw.json()).toMatchObject({ success: true, data: { appId } });

    // The channels work on a database created seconds ago (enum arrays, fresh migrations).
    const sent = await client.sms.send({ phone: "01012345678", purpose: "login" });
    expect(sent).toMatchObject({ requestId: expect.any(String), phone: "+82******5678", expiresIn: 180 });
    // The console provider prints the message; read the code from it as a person would.
    const smsCode = () => /SMS to \+821012345678: [^"\n]*?(\d{6})/.exec(first.output())?.[1];
    for (let i = 0; i < 50 && !smsCode(); i++) await new Promise((r) => setTimeout(r, 100));
    const code = smsCode();
    expect(code, first.output()).toBeDefined();
    expect(await client.sms.verify({ phone: "01012345678", code: code! })).toMatchObject({ verified: true });

    const wrong = new TwoFactorClient({ apiKey: `2fa_${"x".repeat(43)}`, baseUrl: `http://localhost:${port}` });
    await expect(wrong.app.get()).rejects.toMatchObject({ code: "UNAUTHORIZED", status: 401 });
    await expect(wrong.app.get()).rejects.toBeInstanceOf(TwoFactorError);

    expect(await stop(first.child)).toBe(0);
    expect(first.output()).toContain("shutting down");

    const second = await npmStart(port);
    expect(second.output()).not.toMatch(/secret key:/);
    expect(await client.app.get()).toMatchObject({ appId });
    expect(await stop(second.child)).toBe(0);
  }, 240_000);
});
