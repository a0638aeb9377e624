import Fastify from "fastify";
import { ErrorEnvelope, failures } from "../src/shared/envelope.ts";
import swagger from "@fastify/swagger";
const app = Fastify();
await app.register(swagger, { openapi: { openapi: "3.1.0" }, transform: ({ schema, url }) => { console.log(url, Object.values((schema as any)?.response ?? {}).map((s) => s === ErrorEnvelope)); return { schema, url }; } });
app.get("/x", { schema: { response: { 200: { type: "string" }, ...failures("NOT_FOUND") } } }, async () => "x");
await app.ready();
(app as any).swagger();
const r = await app.inject("/nope"); console.log(r.statusCode);
