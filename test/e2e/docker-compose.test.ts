/**
 * Static checks of the container setup: docker-compose.yml and the Dockerfile. No Docker engine is
 * needed (none runs where the tests run): the files are parsed and checked against the code they
 * configure — every variable compose sets must be one src/config.ts reads and must pass its
 * validation, and the image must start the server with the README's start command.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CONFIG_VARIABLES, loadConfig } from "../../src/config.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const readRepoFile = (name: string): string => readFileSync(path.join(root, name), "utf8");

// ───────────────────────────── docker-compose.yml ─────────────────────────────

interface ComposeService {
  image?: string;
  build?: unknown;
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const compose = parse(readRepoFile("docker-compose.yml")) as ComposeFile;
const services = compose.services ?? {};

function service(name: string): ComposeService {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}

/** A service's environment as written (map or `KEY=VALUE` list); a bare `KEY` passes the host's value through. */
function environmentOf(svc: ComposeService): Map<string, string | undefined> {
  const env = new Map<string, string | undefined>();
  const raw = svc.environment;
  if (Array.isArray(raw)) {
    for (const entry of raw) {
      const eq = entry.indexOf("=");
      if (eq === -1) env.set(entry.trim(), undefined);
      else env.set(entry.slice(0, eq).trim(), entry.slice(eq + 1));
    }
  } else if (raw) {
    for (const [key, value] of Object.entries(raw)) env.set(key, value === null ? undefined : String(value));
  }
  return env;
}

/**
 * Compose's interpolation as it comes out with none of the variables set in the shell:
 * `${X:-default}` / `${X-default}` give the default (empty when none), `${X}` / `$X` give "",
 * `$$` is a literal `$`, and `${X:?message}` / `${X?message}` would stop compose (an error here).
 */
function interpolateWithEmptyShell(value: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (match, name, op, arg) => {
    if (match === "$$") return "$";
    if (op === "-" || op === ":-") return arg as string;
    if (op === "?" || op === ":?") throw new Error(`compose requires ${name as string}: ${arg as string}`);
    return "";
  });
}

function latchkeyEnvironment(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [key, value] of environmentOf(service("latchkey"))) {
    env[key] = value === undefined ? undefined : interpolateWithEmptyShell(value);
  }
  return env;
}

/** Named volumes a service mounts (short `name:/path[:mode]` or long `{ type: volume, source }` form). */
function namedVolumesOf(svc: ComposeService): string[] {
  const names: string[] = [];
  for (const entry of svc.volumes ?? []) {
    if (typeof entry === "string") {
      const source = entry.split(":")[0] ?? "";
      const isPath = /^[./~]/.test(source) || entry.split(":").length === 1;
      if (!isPath) names.push(source);
    } else if ((entry.type ?? "volume") === "volume" && entry.source) {
      names.push(entry.source);
    }
  }
  return names;
}

function mountTargetsOf(svc: ComposeService): Map<string, string> {
  const byTarget = new Map<string, string>();
  for (const entry of svc.volumes ?? []) {
    if (typeof entry === "string") {
      const [source, target] = entry.split(":");
      if (source && target) byTarget.set(target, source);
    } else if (entry.source && entry.target) {
      byTarget.set(entry.target, entry.source);
    }
  }
  return byTarget;
}

describe("docker-compose.yml", () => {
  it("has the latchkey, postgres, redis and mailpit services", () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(["latchkey", "postgres", "redis", "mailpit"]));
    expect(service("latchkey").build).toBeDefined();
  });

  it("runs PostgreSQL 16", () => {
    const image = service("postgres").image ?? "";
    const match = /^(?:[\w./-]+\/)?postgres:(\d+)/.exec(image);
    expect(match, `postgres image ${image}`).not.toBeNull();
    expect(Number(match![1])).toBe(16);
  });

  it("sets only variables that src/config.ts reads", () => {
    const env = environmentOf(service("latchkey"));
    expect(env.size).toBeGreaterThan(0);
    const known = new Set<string>(CONFIG_VARIABLES);
    const unknown = [...env.keys()].filter((key) => !known.has(key));
    expect(unknown, "environment keys not in CONFIG_VARIABLES").toEqual([]);
  });

  it("reads both forms of environment (map and KEY=VALUE list)", () => {
    expect([...environmentOf({ environment: ["A=1", "B=x=y", "C"] })]).toEqual([
      ["A", "1"],
      ["B", "x=y"],
      ["C", undefined],
    ]);
    expect([...environmentOf({ environment: { A: "1", B: 2, C: null } })]).toEqual([
      ["A", "1"],
      ["B", "2"],
      ["C", undefined],
    ]);
    expect(interpolateWithEmptyShell("a${X:-}b${Y:-d}c${Z}$W$$")).toBe("abdc$");
  });

  it("passes loadConfig's validation, pointing at the compose services", () => {
    const env = latchkeyEnvironment();
    const config = loadConfig(env);
    expect(env.DATABASE_URL).toBeTruthy();
    expect(config.DATABASE_URL).toBe(env.DATABASE_URL);
    expect(new URL(config.DATABASE_URL!).hostname).toBe("postgres");
    expect(new URL(config.REDIS_URL!).hostname).toBe("redis");
    expect(config.SMTP_URL).toBe("smtp://mailpit:1025");
  });

  it("connects to the database the postgres service creates", () => {
    const db = new URL(latchkeyEnvironment().DATABASE_URL!);
    const pg = Object.fromEntries(environmentOf(service("postgres")));
    expect(decodeURIComponent(db.username)).toBe(pg.POSTGRES_USER);
    expect(decodeURIComponent(db.password)).toBe(pg.POSTGRES_PASSWORD);
    expect(db.pathname).toBe(`/${pg.POSTGRES_DB}`);
  });

  it("starts latchkey after postgres and redis are healthy", () => {
    const dependsOn = service("latchkey").depends_on;
    expect(dependsOn && !Array.isArray(dependsOn), "depends_on in the long form, with conditions").toBe(true);
    const deps = dependsOn as Record<string, { condition?: string }>;
    expect(deps.postgres?.condition).toBe("service_healthy");
    expect(deps.redis?.condition).toBe("service_healthy");
    expect(["service_started", "service_healthy"]).toContain(deps.mailpit?.condition);
  });

  // Decision: every service, latchkey included, declares its healthcheck in compose (latchkey's
  // repeats the Dockerfile's), so the file alone says how each one is probed.
  it("gives every service a healthcheck", () => {
    for (const [name, svc] of Object.entries(services)) {
      const check = svc.healthcheck;
      expect(check, `${name} healthcheck`).toBeDefined();
      expect(check!.disable ?? false, `${name} healthcheck disabled`).toBe(false);
      const test = Array.isArray(check!.test) ? check!.test : [check!.test ?? ""];
      expect(test.length, `${name} healthcheck test`).toBeGreaterThan(0);
      expect(test[0], `${name} healthcheck test`).not.toBe("NONE");
      expect(test.join(" ").trim(), `${name} healthcheck test`).not.toBe("");
    }
    expect((service("latchkey").healthcheck!.test as string[]).join(" ")).toContain("/health");
  });

  it("declares named volumes and uses every one of them", () => {
    const declared = Object.keys(compose.volumes ?? {});
    expect(declared.length).toBeGreaterThan(0);
    const used = new Set(Object.values(services).flatMap(namedVolumesOf));
    for (const name of declared) expect(used.has(name), `volume ${name} is mounted by a service`).toBe(true);
    for (const name of used) expect(declared, `volume ${name} is declared`).toContain(name);
    // Latchkey's DATA_DIR (/data in the image) and PostgreSQL's data outlive the containers.
    expect(declared).toContain(mountTargetsOf(service("latchkey")).get("/data"));
    expect(declared).toContain(mountTargetsOf(service("postgres")).get("/var/lib/postgresql/data"));
  });
});

// ───────────────────────────── Dockerfile ─────────────────────────────

interface Instruction {
  keyword: string;
  args: string;
}

/** The instructions of the Dockerfile's final stage, with continuation lines joined and comments dropped. */
function finalStage(dockerfile: string): Instruction[] {
  const instructions: Instruction[] = [];
  let current = "";
  for (const rawLine of dockerfile.split(/\r?\n/)) {
    const line = rawLine.trimEnd();
    if (/^\s*#/.test(line)) continue;
    if (line.endsWith("\\")) {
      current += line.slice(0, -1) + " ";
      continue;
    }
    current += line;
    const match = /^\s*([A-Za-z]+)\s*(.*)$/.exec(current);
    if (match) instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim() });
    current = "";
  }
  const lastFrom = instructions.map((i) => i.keyword).lastIndexOf("FROM");
  return instructions.slice(lastFrom);
}

/** The README's start command: in its first ```sh/```bash block, what follows `&& ` on the `npm ci && …` line. */
function readmeStartCommand(): string {
  const readme = readRepoFile("README.md");
  const block = /^```(?:sh|bash)[^\n]*\n([\s\S]*?)^```/m.exec(readme);
  if (!block) throw new Error("README.md has no ```sh or ```bash code block");
  const line = block[1]!.split("\n").find((l) => l.includes("npm ci && "));
  if (!line) throw new Error("README.md's first shell block has no `npm ci && …` line");
  return line.slice(line.indexOf("&& ") + 3).replace(/\s#.*$/, "").trim();
}

describe("Dockerfile", () => {
  const dockerfile = readRepoFile("Dockerfile");
  const stage = finalStage(dockerfile);
  const last = (keyword: string): Instruction | undefined => stage.filter((i) => i.keyword === keyword).at(-1);

  it("starts the server with the README's start command, in exec form", () => {
    const cmd = last("CMD");
    expect(cmd, "CMD in the final stage").toBeDefined();
    const argv = JSON.parse(cmd!.args) as unknown;
    expect(Array.isArray(argv) && argv.every((a) => typeof a === "string"), "CMD is a JSON array of strings").toBe(true);
    expect((argv as string[]).join(" ")).toBe(readmeStartCommand());
    expect(readmeStartCommand()).toBe("npm start");
  });

  it("runs as the node user with a health check", () => {
    expect(last("USER")?.args).toBe("node");
    const healthcheck = last("HEALTHCHECK");
    expect(healthcheck, "HEALTHCHECK in the final stage").toBeDefined();
    expect(healthcheck!.args.toUpperCase()).not.toBe("NONE");
    expect(healthcheck!.args).toContain("/health");
  });

  it("keeps its data under /data and listens on 3000", () => {
    const env = stage.filter((i) => i.keyword === "ENV").map((i) => i.args).join(" ");
    expect(env).toMatch(/\bNODE_ENV=production\b/);
    expect(env).toMatch(/\bDATA_DIR=\/data\b/);
    expect(stage.some((i) => i.keyword === "EXPOSE" && i.args.split(/\s+/).includes("3000"))).toBe(true);
  });

  it("installs dependencies before copying the rest of the sources", () => {
    const lines = dockerfile.split("\n");
    const npmCi = lines.findIndex((l) => /^RUN\b.*\bnpm ci\b/.test(l));
    const copyAll = lines.findIndex((l) => /^COPY\s+\.\s+\.?/.test(l));
    expect(npmCi).toBeGreaterThan(-1);
    expect(copyAll).toBeGreaterThan(npmCi);
    for (const needed of ["package.json", "package-lock.json", "prisma/", "scripts/"]) {
      const copied = lines.findIndex((l) => /^COPY\b/.test(l) && l.split(/\s+/).includes(needed));
      expect(copied, `${needed} copied before npm ci`).toBeGreaterThan(-1);
      expect(copied).toBeLessThan(npmCi);
    }
  });
});
