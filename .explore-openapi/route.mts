import Fastify from "fastify";
import { Type } from "typebox";
import { registerOpenApi, registerDocs } from "../src/infra/openapi.ts";
const app = Fastify();
await registerOpenApi(app as any, "0");
app.post("/x/:userId", { schema: {
  params: Type.Object({ userId: Type.String({ maxLength: 10 }) }),
  querystring: Type.Object({ q: Type.Optional(Type.String()), n: Type.Integer() }),
  headers: Type.Object({ "idempotency-key": Type.Optional(Type.String()) }),
  body: Type.Object({ a: Type.Optional(Type.String()), b: Type.Union([Type.Literal("x"), Type.Literal("y")]), c: Type.Record(Type.String(), Type.Number()) }),
  response: { 201: Type.Object({ ok: Type.Boolean() }, { description: "Created" }) },
} }, async () => ({ ok: true }));
await registerDocs(app as any);
await app.ready();
console.log(JSON.stringify((app as any).swagger().paths, null, 1));
const seen: string[] = [];
(function walk(v: any, p: string) { if (v && typeof v === "object") for (const k of Reflect.ownKeys(v)) { if (typeof k === "symbol" || k.startsWith("~")) seen.push(p + "/" + String(k)); walk(v[k], p + "/" + String(k)); } })((app as any).swagger(), "");
console.log("odd keys", seen);
const res = await app.inject("/docs/");
console.log(res.statusCode, res.headers["content-type"], res.body);
console.log(app.printRoutes());
