import Fastify from "fastify";
import { ErrorEnvelope, failures } from "../src/shared/envelope.ts";
import swagger from "@fastify/swagger";
const mode = process.argv[2];
const app = Fastify();
if (mode === "addSchema") app.addSchema({ ...ErrorEnvelope, $id: "ErrorEnvelope" });
await app.register(swagger, {
  openapi: { openapi: "3.1.0", components: mode === "direct" ? { schemas: { ErrorEnvelope: JSON.parse(JSON.stringify(ErrorEnvelope)) } } : {} },
  refResolver: { buildLocalReference: (json: any, _b: any, _f: any, i: number) => json.$id ?? `def-${i}` },
  transform: ({ schema, url }: any) => {
    const response: any = {};
    for (const [k, v] of Object.entries(schema?.response ?? {})) response[k] = v === ErrorEnvelope ? (mode === "direct" ? { $ref: "#/components/schemas/ErrorEnvelope" } : { $ref: "ErrorEnvelope#" }) : v;
    return { schema: { ...schema, response }, url };
  } } as any);
app.get("/x", { schema: { produces: ["text/plain"], response: { 200: { type: "string" }, ...failures("NOT_FOUND") } } as any }, async () => "x");
await app.ready();
console.log(JSON.stringify((app as any).swagger(), null, 1));
