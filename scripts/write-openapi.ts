// `npm run openapi`: writes openapi.yaml, the OpenAPI 3.1 document generated from the route
// schemas (the single source of truth). Commit the result with the route change.
// `npm run openapi -- --check`: writes nothing; exits 1 when the committed file is stale (CI).
// The app is built without a database: building only registers routes.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { buildApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { documentOnlyDeps, generateOpenApiYaml, OPENAPI_PATH } from "../src/infra/openapi.ts";

const args = process.argv.slice(2);
const unknown = args.filter((arg) => arg !== "--check");
if (unknown.length > 0) {
  console.error(`unknown argument ${unknown.join(" ")}\nUsage: npm run openapi [-- --check]`);
  process.exit(2);
}
const check = args.includes("--check");

const app = await buildApp(loadConfig({ LOG_LEVEL: "silent" }), documentOnlyDeps());
await app.ready();
const generated = generateOpenApiYaml(app);
await app.close();

const relative = path.relative(process.cwd(), OPENAPI_PATH) || OPENAPI_PATH;
const committed = existsSync(OPENAPI_PATH) ? readFileSync(OPENAPI_PATH, "utf8") : undefined;

if (check) {
  if (committed === generated) {
    console.log(`${relative} is up to date`);
  } else {
    console.error(committed === undefined
      ? `${relative} is missing: run npm run openapi and commit it`
      : `${relative} is stale (${firstDifference(committed, generated)}): run npm run openapi and commit it`);
    process.exitCode = 1;
  }
} else if (committed === generated) {
  console.log(`${relative} is up to date`);
} else {
  writeFileSync(OPENAPI_PATH, generated);
  console.log(`wrote ${relative}`);
}

/** Where two texts first differ, as "line N: committed … / generated …". */
function firstDifference(committedText: string, generatedText: string): string {
  const a = committedText.split("\n");
  const b = generatedText.split("\n");
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `first difference at line ${i + 1}: committed ${JSON.stringify(a[i] ?? "<end>")}, generated ${JSON.stringify(b[i] ?? "<end>")}`;
  }
  return "no line differs";
}
