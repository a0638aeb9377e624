/**
 * One source of truth for the contract: the route schemas. @fastify/swagger turns them into
 * OpenAPI 3.1; `npm run openapi` writes that to openapi.yaml, and a test fails when the
 * committed file is stale. `GET /openapi.yaml` serves the committed file, `GET /docs` renders
 * it with swagger-ui's bundled assets (no CDN).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";

export const OPENAPI_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../openapi.yaml");

const DESCRIPTION = `Self-hosted two-factor authentication that speaks the SecureKey API.

Every \`/api/v1\` call is authenticated with the app's secret key (\`X-API-Key: 2fa_…\`, or
\`Authorization: Bearer 2fa_…\`). Successes answer \`{ success: true, message?, data }\`;
failures answer \`{ success: false, error, code, details? }\` with a stable \`code\`.`;

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "Latchkey API", version, description: DESCRIPTION },
      servers: [{ url: "http://localhost:3000", description: "Local Latchkey" }],
      components: {
        securitySchemes: {
          apiKey: { type: "apiKey", in: "header", name: "X-API-Key", description: "Secret key 2fa_… (or publishable pk_… where allowed)" },
          bearer: { type: "http", scheme: "bearer", description: "The same key as a bearer token" },
        },
      },
      security: [{ apiKey: [] }, { bearer: [] }],
      tags: [
        { name: "apps", description: "The calling key's app" },
        { name: "operations", description: "Health, readiness, metrics and this document" },
      ],
    },
  });
}

export async function registerDocs(app: FastifyInstance): Promise<void> {
  let committed: string | undefined;
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
    committed ??= readFileSync(OPENAPI_PATH, "utf8");
    reply.type("application/yaml; charset=utf-8");
    return committed;
  });
  await app.register(swaggerUi, {
    routePrefix: "/docs",
    uiConfig: { docExpansion: "list", deepLinking: true },
    staticCSP: true,
  });
}

/** The OpenAPI document generated from the registered routes, as YAML. */
export function generateOpenApiYaml(app: FastifyInstance): string {
  return (app as FastifyInstance & { swagger(opts: { yaml: true }): string }).swagger({ yaml: true });
}
