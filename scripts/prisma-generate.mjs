#!/usr/bin/env node
// Generates the Prisma client into src/generated/prisma.
//
// `prisma generate` never runs the native schema engine, but the CLI insists that the binary
// exists. On machines that cannot download it we point PRISMA_SCHEMA_ENGINE_BINARY at any
// existing file; where the real binary is present it is used as usual.
// With --if-missing, generation is skipped when the client is already generated from this schema.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const schemaPath = path.join(root, "prisma", "schema.prisma");
const outDir = path.join(root, "src", "generated", "prisma");
const stampPath = path.join(outDir, ".schema-sha256");
const schemaHash = createHash("sha256").update(readFileSync(schemaPath)).digest("hex");

if (process.argv.includes("--if-missing") && existsSync(stampPath) && readFileSync(stampPath, "utf8") === schemaHash) {
  process.exit(0);
}

const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: "1", CHECKPOINT_DISABLE: "1" };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) {
  const enginesDir = path.join(root, "node_modules", "@prisma", "engines");
  const hasNativeEngine = existsSync(enginesDir) && readdirSync(enginesDir).some((f) => f.startsWith("schema-engine"));
  if (!hasNativeEngine) env.PRISMA_SCHEMA_ENGINE_BINARY = schemaPath;
}

const cli = path.join(root, "node_modules", "prisma", "build", "index.js");
const result = spawnSync(process.execPath, [cli, "generate", "--config", path.join(root, "prisma", "prisma.config.ts")], {
  cwd: root,
  env,
  stdio: ["ignore", "pipe", "pipe"],
  encoding: "utf8",
});
if (result.status !== 0) {
  process.stderr.write(result.stdout + result.stderr);
  process.exit(result.status ?? 1);
}
writeFileSync(stampPath, schemaHash);
console.log("prisma client generated");
