/**
 * One source of truth for the contract: the route schemas. @fastify/swagger turns them into
 * OpenAPI 3.1; `npm run openapi` writes that to openapi.yaml, and a test fails when the
 * committed file is stale. `GET /openapi.yaml` serves the committed file, `GET /docs` renders
 * it with swagger-ui's bundled assets (no CDN).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { STATUS_CODES } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance, FastifySchema, RouteOptions } from "fastify";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { ErrorEnvelope } from "../shared/envelope.ts";
import { Keyring } from "./crypto.ts";
import type { Database } from "./db.ts";
import { ERROR_STATUS } from "./errors.ts";

export const OPENAPI_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../openapi.yaml");

/** The shared failure envelope's place in the document; every error response points here. */
const ERROR_ENVELOPE_REF = "#/components/schemas/ErrorEnvelope";

/** The error codes table in the description is built from ERROR_STATUS, so it cannot drift. */
const DESCRIPTION = `Self-hosted two-factor authentication that speaks the SecureKey API.

Every \`/api/v1\` call is authenticated with the app's secret key (\`X-API-Key: 2fa_…\`, or
\`Authorization: Bearer 2fa_…\`). Successes answer \`{ success: true, message?, data }\`;
failures answer \`{ success: false, error, code, details? }\` (the \`ErrorEnvelope\` schema)
with a stable \`code\`:

| code | HTTP status |
| --- | --- |
${Object.entries(ERROR_STATUS).map(([code, status]) => `| \`${code}\` | ${status} |`).join("\n")}`;

/**
 * Tags in the order swagger-ui shows them. Only tags some operation uses are emitted; a tag a
 * route uses that is missing here still appears (after these, without a description).
 */
const TAGS: Array<{ name: string; description: string }> = [
  { name: "otp", description: "SMS one-time codes (API.md §4.1)" },
  { name: "email-otp", description: "Email one-time codes (API.md §4.2)" },
  { name: "totp", description: "Authenticator apps and backup codes (API.md §4.3)" },
  { name: "webauthn", description: "Passkeys and security keys (API.md §4.4)" },
  { name: "push", description: "Push approval on a registered device (API.md §4.5)" },
  { name: "mfa", description: "MFA policies: which factors an action still needs (API.md §8)" },
  { name: "webhooks", description: "Signed, retried event deliveries to your endpoints (API.md §5)" },
  { name: "auth", description: "Ephemeral keys for browsers (API.md §7)" },
  { name: "apps", description: "The calling key's app" },
  { name: "admin", description: "Operator API (API.md §9)" },
  { name: "operations", description: "Health, readiness, metrics and this document" },
];

/** HTTP reason phrases Node does not know. */
const EXTRA_STATUS_TEXT: Record<string, string> = { "419": "Token Expired" };

/** Path Item fields in the order the OpenAPI specification lists them. */
const METHOD_ORDER = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "Latchkey API", version, description: DESCRIPTION },
      servers: [{ url: "http://localhost:3000", description: "Local Latchkey" }],
      components: {
        securitySchemes: {
          apiKey: { type: "apiKey", in: "header", name: "X-API-Key", description: "Secret key 2fa_…, ephemeral key ek_… or publishable key pk_… (API.md §1)" },
          bearer: { type: "http", scheme: "bearer", description: "The same key as a bearer token" },
          adminSession: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "Operator session from POST /api/v1/admin/login (API.md §9)" },
          deviceToken: { type: "apiKey", in: "header", name: "X-Device-Token", description: "A push device's own token, for answering push requests (API.md §4.5)" },
        },
        schemas: { ErrorEnvelope: plainJson(ErrorEnvelope) as Record<string, unknown> },
      },
      security: [{ apiKey: [] }, { bearer: [] }],
    },
    transform: ({ schema, url, route }) => ({ schema: documentRoute(schema, url, route), url }),
    transformObject: (document) => finishDocument(("openapiObject" in document ? document.openapiObject : document.swaggerObject) as Record<string, unknown>),
  });
}

/**
 * Per route, before @fastify/swagger converts it: failure responses become references to the
 * one ErrorEnvelope component (always JSON, even on routes that produce text), and the
 * operation gets a stable operationId unless the route names one. Only the document changes;
 * Fastify keeps serializing with the route's own schemas.
 */
function documentRoute(schema: FastifySchema | undefined, url: string, route: RouteOptions): FastifySchema {
  const documented: FastifySchema & { operationId?: string; hide?: boolean } = { ...schema };
  if (documented.hide) return documented;
  if (documented.operationId === undefined && typeof route.method === "string") documented.operationId = operationIdFor(route.method, url);
  if (schema?.response && typeof schema.response === "object") {
    const responses: Record<string, unknown> = {};
    for (const [status, response] of Object.entries(schema.response as Record<string, unknown>)) {
      responses[status] = response === ErrorEnvelope
        ? { description: statusText(status), content: { "application/json": { schema: { $ref: ERROR_ENVELOPE_REF } } } }
        : response;
    }
    documented.response = responses;
  }
  return documented;
}

/** `GET /api/v1/totp/status/:userId` → `getTotpStatusByUserId`. */
function operationIdFor(method: string, url: string): string {
  const words = url
    .replace(/^\/api\/v1(?=\/|$)/, "")
    .split("/")
    .filter(Boolean)
    .flatMap((segment) => (segment.startsWith(":") ? ["by", ...segment.slice(1).split(/[^A-Za-z0-9]+/)] : segment.split(/[^A-Za-z0-9]+/)))
    .filter(Boolean);
  return method.toLowerCase() + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join("");
}

function statusText(status: string): string {
  return EXTRA_STATUS_TEXT[status] ?? STATUS_CODES[status] ?? (status === "default" ? "Any other response" : `HTTP ${status}`);
}

/**
 * The whole document, made deterministic: plain JSON (TypeBox's non-enumerable `~kind` markers
 * and any symbols dropped), reason phrases instead of "Default Response", only the tags in
 * use, and a fixed key order — top-level fields, paths sorted, methods in specification order.
 */
function finishDocument(generated: Record<string, unknown>): Record<string, unknown> {
  const doc = plainJson(generated) as Record<string, any>;

  const paths: Record<string, Record<string, any>> = {};
  const usedTags = new Set<string>();
  for (const url of Object.keys(doc.paths ?? {}).sort(byCodePoint)) {
    const item = doc.paths[url] as Record<string, any>;
    const ordered: Record<string, any> = {};
    for (const key of [...METHOD_ORDER.filter((m) => m in item), ...Object.keys(item).filter((k) => !METHOD_ORDER.includes(k)).sort(byCodePoint)]) {
      const operation = item[key];
      ordered[key] = operation;
      if (!METHOD_ORDER.includes(key)) continue;
      for (const tag of operation.tags ?? []) usedTags.add(tag);
      for (const [status, response] of Object.entries<any>(operation.responses ?? {})) {
        if (response.description === "Default Response") response.description = statusText(status);
      }
    }
    paths[url] = ordered;
  }

  const tags = [
    ...TAGS.filter((tag) => usedTags.has(tag.name)),
    ...[...usedTags].filter((name) => !TAGS.some((tag) => tag.name === name)).sort(byCodePoint).map((name) => ({ name })),
  ];

  const components = { ...doc.components };
  if (components.schemas) {
    components.schemas = Object.fromEntries(Object.keys(components.schemas).sort(byCodePoint).map((name) => [name, components.schemas[name]]));
    if (components.schemas.ErrorEnvelope) {
      components.schemas.ErrorEnvelope = { description: "The body of every failure (API.md §2); `code` is one of the error codes listed in the API description", ...components.schemas.ErrorEnvelope };
    }
  }

  const first = ["openapi", "info", "jsonSchemaDialect", "servers", "security", "tags", "paths", "webhooks", "components", "externalDocs"];
  const finished: Record<string, unknown> = {};
  const fields: Record<string, unknown> = { ...doc, tags, paths, components };
  for (const key of [...first, ...Object.keys(fields).filter((k) => !first.includes(k)).sort(byCodePoint)]) {
    if (fields[key] !== undefined && fields[key] !== null) finished[key] = fields[key];
  }
  return finished;
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A deep copy holding only JSON: enumerable string keys, no `~` markers, no undefined. */
function plainJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plainJson);
  if (value && typeof value === "object") {
    const copy: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      if (key.startsWith("~") || inner === undefined || typeof inner === "function") continue;
      copy[key] = plainJson(inner);
    }
    return copy;
  }
  return value;
}

export async function registerDocs(app: FastifyInstance): Promise<void> {
  let committed: string | undefined;
  const readCommitted = () => (committed ??= readFileSync(OPENAPI_PATH, "utf8"));
  app.get("/openapi.yaml", {
    config: { rateLimit: false },
    schema: {
      tags: ["operations"],
      summary: "This OpenAPI document",
      security: [],
      produces: ["application/yaml"],
      response: { 200: { type: "string", description: "OpenAPI 3.1 document (YAML)" } },
    },
  }, async (_request, reply) => {
    reply.type("application/yaml; charset=utf-8");
    return readCommitted();
  });

  let committedObject: unknown;
  await app.register(swaggerUi, {
    routePrefix: "/docs",
    uiConfig: { docExpansion: "list", deepLinking: true },
    // swagger-ui renders the committed document, the one GET /openapi.yaml serves (API.md §10).
    transformSpecification: () => (committedObject ??= parseYaml(readCommitted())),
    transformSpecificationClone: false,
    staticCSP: true,
    // The default policy also allows any https: style and font source, the public validator and
    // upgrade-insecure-requests, which breaks the page on a plain-HTTP LAN address. Everything
    // /docs needs is served from here.
    transformStaticCSP: (header) =>
      header
        .replaceAll(" https:", "")
        .replaceAll(" validator.swagger.io", "")
        .replace(/\s*upgrade-insecure-requests;?/, "")
        .trim(),
  });
}

/** The OpenAPI document generated from the registered routes, as YAML (no anchors, no folding). */
export function generateOpenApiYaml(app: FastifyInstance): string {
  const document = (app as FastifyInstance & { swagger(): Record<string, unknown> }).swagger();
  return stringifyYaml(document, { aliasDuplicateObjects: false, lineWidth: 0 });
}

/**
 * Dependencies for building the app only to read its routes (`npm run openapi`, the contract
 * test): building registers routes and touches no database, so the database here refuses every
 * use, loudly, instead of paying for an embedded PostgreSQL.
 */
export function documentOnlyDeps(): { db: Database; keyring: Keyring; webhooks: { worker: false } } {
  const refuse = (what: string): never => {
    throw new Error(`${what}: the database is not available while only documenting the routes (buildApp must not query at build time)`);
  };
  const prisma = new Proxy({}, {
    get(_target, property) {
      // Let `await`, inspection and coercion look at it without throwing.
      if (typeof property === "symbol" || property === "then" || property === "toJSON") return undefined;
      return refuse(`prisma.${property}`);
    },
  }) as Database["prisma"];
  const db: Database = {
    kind: "pglite",
    prisma,
    exec: async () => refuse("db.exec"),
    query: async () => refuse("db.query"),
    queueQuery: async () => refuse("db.queueQuery"),
    withLock: async () => refuse("db.withLock"),
    ping: async () => refuse("db.ping"),
    schemaChanged: async () => undefined,
    close: async () => undefined,
  };
  // A throwaway key: nothing is sealed while documenting, and no key file is written.
  // No webhook delivery worker: it would poll the refusing database.
  return { db, keyring: new Keyring(randomBytes(32)), webhooks: { worker: false } };
}
