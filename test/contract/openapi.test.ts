/**
 * One contract, enforced (STYLE.md §3): the committed openapi.yaml is exactly what the route
 * schemas generate, it is valid OpenAPI 3.1, it documents every registered route and nothing
 * else, and the server serves it (GET /openapi.yaml) and renders it (GET /docs) from its own
 * assets, never a CDN (API.md §10).
 *
 * The app is built with `documentOnlyDeps()` (no database), as `npm run openapi` builds it:
 * building only registers routes, and none of these requests touches the database.
 */
import diagnostics from "node:diagnostics_channel";
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import type { FastifyInstance, RouteOptions } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { buildApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { documentOnlyDeps, generateOpenApiYaml, OPENAPI_PATH } from "../../src/infra/openapi.ts";

interface Operation {
  operationId?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  responses?: Record<string, unknown>;
}
interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components?: Record<string, Record<string, unknown>>;
  [field: string]: unknown;
}

const OPERATION_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const OPS_ROUTES = ["/health", "/ready", "/metrics", "/openapi.yaml"];
const STALE = "openapi.yaml is stale: run npm run openapi and commit the result";

/** Builds the app the way `npm run openapi` does, recording every route it registers. */
async function buildRecordingRoutes(): Promise<{ app: FastifyInstance; routes: RouteOptions[] }> {
  const routes: RouteOptions[] = [];
  // buildApp registers every route before it returns, so the onRoute hook must be on the root
  // instance before any plugin runs: Fastify announces each new instance on this channel.
  const onInit = (message: unknown) => {
    (message as { fastify: FastifyInstance }).fastify.addHook("onRoute", (route) => {
      routes.push(route);
    });
  };
  diagnostics.subscribe("fastify.initialization", onInit);
  try {
    const app = await buildApp(loadConfig({ LOG_LEVEL: "silent" }), documentOnlyDeps());
    await app.ready();
    return { app, routes };
  } finally {
    diagnostics.unsubscribe("fastify.initialization", onInit);
  }
}

/** `/apps/:appId/keys` → `/apps/{appId}/keys` (a `:param(regex)` loses its regex). */
function toOpenApiPath(fastifyPath: string): string {
  return fastifyPath.replace(/:([A-Za-z0-9_]+)(\([^)]*\))?/g, "{$1}");
}

function methodsOf(route: RouteOptions): string[] {
  return (Array.isArray(route.method) ? route.method : [route.method]).map((m) => m.toUpperCase());
}

function isHidden(route: RouteOptions): boolean {
  return Boolean((route.schema as { hide?: boolean } | undefined)?.hide);
}

let app: FastifyInstance;
let routes: RouteOptions[];
let committedText: string;
let committed: OpenApiDocument;

beforeAll(async () => {
  ({ app, routes } = await buildRecordingRoutes());
  committedText = readFileSync(OPENAPI_PATH, "utf8");
  committed = parseYaml(committedText) as OpenApiDocument;
});
afterAll(async () => app?.close());

function operations(doc: OpenApiDocument): Array<{ method: string; path: string; operation: Operation }> {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item).filter((key) => OPERATION_METHODS.includes(key)).map((method) => ({ method: method.toUpperCase(), path, operation: item[method]! })),
  );
}

describe("openapi.yaml is generated from the route schemas", () => {
  it("the committed file equals the document the routes generate", () => {
    expect(committedText, STALE).toBe(generateOpenApiYaml(app));
  });

  it("generation is deterministic: a second build yields the same bytes", async () => {
    const second = await buildApp(loadConfig({ LOG_LEVEL: "silent" }), documentOnlyDeps());
    await second.ready();
    try {
      expect(generateOpenApiYaml(second)).toBe(generateOpenApiYaml(app));
    } finally {
      await second.close();
    }
  });

  it("holds plain JSON Schema: no TypeBox markers, symbols or YAML anchors", () => {
    const odd: string[] = [];
    const walk = (value: unknown, at: string): void => {
      if (!value || typeof value !== "object") return;
      for (const key of Reflect.ownKeys(value)) {
        if (typeof key === "symbol" || key.startsWith("~")) odd.push(`${at}/${String(key)}`);
        walk((value as Record<PropertyKey, unknown>)[key], `${at}/${String(key)}`);
      }
    };
    walk((app as FastifyInstance & { swagger(): unknown }).swagger(), "");
    expect(odd).toEqual([]);
    expect(committedText).not.toMatch(/^\s*(?:- )?[\w"]+:\s*[&*]\w+/m);
  });
});

describe("openapi.yaml is valid OpenAPI 3.1", () => {
  it("passes @seriousme/openapi-schema-validator", async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(committed));
    expect(result.errors ?? [], `invalid OpenAPI:\n${JSON.stringify(result.errors, null, 2)}`).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
    expect(committed.openapi).toBe("3.1.0");
  });

  it("declares servers, default security and tags, and every $ref resolves", () => {
    expect(committed.servers).toEqual(expect.arrayContaining([expect.objectContaining({ url: expect.any(String) })]));
    expect(committed.security).toEqual([{ apiKey: [] }, { bearer: [] }]);
    const declaredTags = (committed.tags as Array<{ name: string }>).map((tag) => tag.name);
    for (const { method, path, operation } of operations(committed)) {
      expect(operation.tags?.length, `${method} ${path} has no tag`).toBeGreaterThan(0);
      for (const tag of operation.tags ?? []) expect(declaredTags, `${method} ${path}`).toContain(tag);
    }

    const refs = new Set<string>();
    JSON.stringify(committed, (key, value: unknown) => {
      if (key === "$ref" && typeof value === "string") refs.add(value);
      return value;
    });
    expect(refs).toContain("#/components/schemas/ErrorEnvelope");
    for (const ref of refs) {
      expect(ref, "only local references").toMatch(/^#\//);
      const target = ref.slice(2).split("/").reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part.replaceAll("~1", "/").replaceAll("~0", "~")], committed);
      expect(target, `${ref} does not resolve`).toBeTypeOf("object");
    }
  });

  it("operationIds are unique", () => {
    const ids = operations(committed).map(({ operation }) => operation.operationId);
    expect(ids.every((id) => typeof id === "string" && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe("openapi.yaml ↔ registered routes, both directions", () => {
  it("only swagger-ui's own /docs routes and the CORS preflight are hidden from the document", () => {
    const hidden = routes.filter(isHidden).map((route) => `${methodsOf(route).join(",")} ${route.url}`);
    expect(hidden.length).toBeGreaterThan(0);
    expect(hidden.filter((route) => !/ \/docs(\/|$)/.test(route) && route !== "OPTIONS *")).toEqual([]);
  });

  it("every registered route is documented with the same method and path, and every documented one is registered", () => {
    const registered = new Set(
      routes.filter((route) => !isHidden(route)).flatMap((route) => methodsOf(route).filter((m) => m !== "HEAD").map((m) => `${m} ${toOpenApiPath(route.url)}`)),
    );
    const documented = new Set(operations(committed).map(({ method, path }) => `${method} ${path}`));

    expect([...registered].filter((op) => !documented.has(op)), `registered but not in openapi.yaml — ${STALE}`).toEqual([]);
    expect([...documented].filter((op) => !registered.has(op)), "in openapi.yaml but no such route is registered").toEqual([]);
    expect(documented).toContain("GET /api/v1/app");
    for (const path of OPS_ROUTES) expect(documented).toContain(`GET ${path}`);
  });
});

describe("responses and security", () => {
  it("every operation documents a 2xx response", () => {
    const without = operations(committed).filter(({ operation }) => !Object.keys(operation.responses ?? {}).some((status) => /^2\d\d$/.test(status)));
    expect(without.map(({ method, path }) => `${method} ${path}`)).toEqual([]);
  });

  it("every /api/v1 operation documents 401 and requires a key", () => {
    const api = operations(committed).filter(({ path }) => path.startsWith("/api/v1/"));
    expect(api.length).toBeGreaterThan(0);
    expect(api.filter(({ operation }) => !operation.responses?.["401"]).map(({ method, path }) => `${method} ${path}`)).toEqual([]);
    expect(api.filter(({ operation }) => operation.security?.length === 0).map(({ method, path }) => `${method} ${path}`)).toEqual([]);
  });

  it("every failure response is the shared ErrorEnvelope, as JSON", () => {
    for (const { method, path, operation } of operations(committed)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const content = (response as { content?: Record<string, { schema?: { $ref?: string } }> }).content;
        if (Number(status) < 400 || path === "/ready") continue;
        expect(content, `${method} ${path} ${status}`).toEqual({ "application/json": { schema: { $ref: "#/components/schemas/ErrorEnvelope" } } });
      }
    }
  });

  it("operations endpoints are public: security: []", () => {
    for (const path of OPS_ROUTES) expect(committed.paths[path]?.get?.security, path).toEqual([]);
  });
});

describe("GET /openapi.yaml and GET /docs", () => {
  it("GET /openapi.yaml serves exactly the committed file as YAML", async () => {
    const res = await app.inject({ method: "GET", url: "/openapi.yaml" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/yaml/);
    expect(res.body).toBe(committedText);
  });

  it.each(["/docs", "/docs/"])("GET %s renders swagger-ui from local assets only", async (url) => {
    const res = await app.inject({ method: "GET", url });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);

    const assets = [...res.body.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(3);
    expect(assets.filter((asset) => /^(?:[a-z]+:)?\/\//i.test(asset)), "assets from another host").toEqual([]);
    expect(res.body).not.toMatch(/(?:src|href)="(?:https?:)?\/\//i);
    for (const asset of assets) {
      const { pathname } = new URL(asset, `http://latchkey.test${url}`);
      expect(pathname.startsWith("/docs/static/"), asset).toBe(true);
      const served = await app.inject({ method: "GET", url: pathname });
      expect(served.statusCode, pathname).toBe(200);
      if (pathname.endsWith(".css")) expect(served.headers["content-type"]).toMatch(/^text\/css/);
      if (pathname.endsWith(".js")) expect(served.headers["content-type"]).toMatch(/javascript/);
    }
    expect(assets.some((asset) => asset.endsWith("swagger-ui.css"))).toBe(true);
    expect(assets.some((asset) => asset.endsWith("swagger-ui-bundle.js"))).toBe(true);

    // The page may load nothing from elsewhere, and must work on a plain-HTTP LAN address.
    const csp = String(res.headers["content-security-policy"]);
    expect(csp).toContain("default-src 'self'");
    expect(csp).not.toMatch(/https:|http:|upgrade-insecure-requests|validator\.swagger\.io/);
  });

  it("swagger-ui is pointed at the committed document", async () => {
    const init = await app.inject({ method: "GET", url: "/docs/static/swagger-initializer.js" });
    expect(init.statusCode).toBe(200);
    expect(init.body).toContain("resolveUrl('./json')");
    expect(init.body).toMatch(/validatorUrl: null/);
    const json = await app.inject({ method: "GET", url: "/docs/json" });
    expect(json.statusCode).toBe(200);
    expect(json.json()).toEqual(committed);
  });
});
