/**
 * The response envelope and the error mapping through the real HTTP stack (API.md §2): every
 * failure — bad JSON, schema violations, oversize or non-JSON bodies, unknown routes, a bug, a
 * database outage — answers `{ success: false, error, code, details? }` with the contract's
 * status, and a 5xx never carries a stack, SQL, a file path or library text.
 *
 * Test-only routes are added to the root instance before `ready`, beside the real ones.
 */
import type { LightMyRequestResponse } from "fastify";
import { Type } from "typebox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BODY_LIMIT_BYTES } from "../../src/app.ts";
import { ERROR_STATUS, type ErrorCode } from "../../src/infra/errors.ts";
import { createTestApp, type TestApp } from "../helpers/build-app.ts";

const SECRET_SQL = "secret SQL text SELECT * FROM x";

const EchoBody = Type.Object(
  {
    phone: Type.String({ maxLength: 20 }),
    count: Type.Integer(),
    kind: Type.Union([Type.Literal("a"), Type.Literal("b")]),
  },
  { additionalProperties: false },
);

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  t.app.post("/__test/echo", { schema: { body: EchoBody } }, async (request) => ({ success: true, data: request.body }));
  t.app.get("/__test/bug", async () => {
    throw new Error(SECRET_SQL);
  });
  t.app.get("/__test/database-down", async () => {
    throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
  });
  await t.app.ready();
});
afterAll(async () => t?.close());

const echo = (payload: string, contentType = "application/json") =>
  t.app.inject({ method: "POST", url: "/__test/echo", headers: { "content-type": contentType }, payload });

/**
 * Asserts the failure envelope exactly: the status the code maps to, JSON, and no field
 * beyond `success`, `error`, `code` and `details` (each detail a `{ field, message }`).
 */
function expectFailure(res: LightMyRequestResponse, code: ErrorCode): { error: string; code: string; details?: Array<{ field: string; message: string }> } {
  expect(res.statusCode, res.body).toBe(ERROR_STATUS[code]);
  expect(res.headers["content-type"]).toMatch(/^application\/json/);
  const body = res.json() as Record<string, unknown>;
  expect(body).toMatchObject({ success: false, code, error: expect.any(String) });
  expect((body.error as string).length).toBeGreaterThan(0);
  expect(Object.keys(body).filter((key) => !["success", "error", "code", "details"].includes(key))).toEqual([]);
  if ("details" in body) {
    expect(Array.isArray(body.details)).toBe(true);
    for (const detail of body.details as unknown[]) {
      expect(detail).toEqual({ field: expect.any(String), message: expect.any(String) });
    }
  }
  return body as ReturnType<typeof expectFailure>;
}

const fieldsOf = (details: Array<{ field: string }> | undefined) => [...new Set((details ?? []).map((d) => d.field))];

describe("success envelope", () => {
  it("a valid body passes validation and comes back in { success, data }", async () => {
    const res = await echo(JSON.stringify({ phone: "01012345678", count: 2, kind: "a" }), "application/json; charset=utf-8");
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ success: true, data: { phone: "01012345678", count: 2, kind: "a" } });
  });
});

describe("400 VALIDATION_ERROR, never a 500", () => {
  it("malformed JSON", async () => {
    const body = expectFailure(await echo('{"phone": "0101234'), "VALIDATION_ERROR");
    expect(body.details).toEqual([{ field: "body", message: expect.any(String) }]);
  });

  it("an empty body declared as JSON", async () => {
    const body = expectFailure(await echo(""), "VALIDATION_ERROR");
    expect(fieldsOf(body.details)).toEqual(["body"]);
  });

  it("a JSON body that is not an object", async () => {
    const body = expectFailure(await echo("[1,2]"), "VALIDATION_ERROR");
    expect(fieldsOf(body.details)).toContain("body");
  });

  it.each([
    ["a missing field", { count: 1, kind: "a" }, "body.phone"],
    ["a wrong type", { phone: "01012345678", count: "many", kind: "a" }, "body.count"],
    ["a number where a string is expected (never coerced: it would lose a leading zero)", { phone: 1012345678, count: 1, kind: "a" }, "body.phone"],
    ["a numeric string where an integer is expected (bodies are not coerced)", { phone: "01012345678", count: "5", kind: "a" }, "body.count"],
    ["a fraction where an integer is expected", { phone: "01012345678", count: 1.5, kind: "a" }, "body.count"],
    ["an unknown enum value", { phone: "01012345678", count: 1, kind: "c" }, "body.kind"],
    ["an over-long string", { phone: "0".repeat(21), count: 1, kind: "a" }, "body.phone"],
    ["a field the schema does not know", { phone: "01012345678", count: 1, kind: "a", extra: true }, "body.extra"],
  ])("%s names the field in details", async (_name, payload, field) => {
    const body = expectFailure(await echo(JSON.stringify(payload)), "VALIDATION_ERROR");
    expect(fieldsOf(body.details)).toEqual([field]);
  });

  it("every problem is reported, field by field", async () => {
    // (An object, because Ajv's coerceTypes would turn a number into the string "5".)
    const body = expectFailure(await echo(JSON.stringify({ phone: { n: 5 }, kind: "z" })), "VALIDATION_ERROR");
    expect(fieldsOf(body.details).sort()).toEqual(["body.count", "body.kind", "body.phone"]);
  });
});

describe("body limits and content types", () => {
  it("a body over 64 KiB → 413 PAYLOAD_TOO_LARGE", async () => {
    const payload = JSON.stringify({ phone: "x".repeat(BODY_LIMIT_BYTES), count: 1, kind: "a" });
    expect(Buffer.byteLength(payload)).toBeGreaterThan(64 * 1024);
    expectFailure(await echo(payload), "PAYLOAD_TOO_LARGE");
  });

  it("a body of exactly 64 KiB is still read (and then validated)", async () => {
    const base = JSON.stringify({ phone: "", count: 1, kind: "a" });
    const payload = JSON.stringify({ phone: "x".repeat(64 * 1024 - base.length), count: 1, kind: "a" });
    expect(Buffer.byteLength(payload)).toBe(64 * 1024);
    const body = expectFailure(await echo(payload), "VALIDATION_ERROR");
    expect(fieldsOf(body.details)).toEqual(["body.phone"]);
  });

  it("Content-Type: text/plain → 415 UNSUPPORTED_MEDIA_TYPE", async () => {
    expectFailure(await echo(JSON.stringify({ phone: "01012345678", count: 1, kind: "a" }), "text/plain"), "UNSUPPORTED_MEDIA_TYPE");
  });

  it("an unknown content type → 415 UNSUPPORTED_MEDIA_TYPE", async () => {
    expectFailure(await echo("<phone/>", "application/xml"), "UNSUPPORTED_MEDIA_TYPE");
  });
});

describe("unknown routes", () => {
  it.each([
    ["GET", "/nope"],
    ["POST", "/nope/deeper?x=1"],
    ["DELETE", "/health"],
  ])("%s %s → 404 NOT_FOUND in the envelope", async (method, url) => {
    const body = expectFailure(await t.app.inject({ method: method as "GET", url }), "NOT_FOUND");
    expect(body.error).not.toContain("?x=1");
  });

  it("an unknown /api/v1 route, with a valid key → 404 NOT_FOUND in the envelope", async () => {
    expectFailure(await t.app.inject({ method: "GET", url: "/api/v1/nope", headers: { "x-api-key": t.apiKey } }), "NOT_FOUND");
  });
});

describe("5xx hide their cause", () => {
  it("a bug → 500 INTERNAL_ERROR without stack, SQL, message or file paths", async () => {
    const res = await t.app.inject({ method: "GET", url: "/__test/bug" });
    const body = expectFailure(res, "INTERNAL_ERROR");
    expect(body).toEqual({ success: false, error: "internal error", code: "INTERNAL_ERROR" });
    for (const leak of ["SELECT", "secret", "stack", "Error:", "    at ", ".ts", "/work", "node_modules"]) {
      expect(res.body, leak).not.toContain(leak);
    }
    expect(res.headers["x-request-id"]).toBeTruthy();
  });

  it("the database unreachable → 503 SERVICE_UNAVAILABLE without the driver's text", async () => {
    const res = await t.app.inject({ method: "GET", url: "/__test/database-down" });
    expectFailure(res, "SERVICE_UNAVAILABLE");
    for (const leak of ["ECONNREFUSED", "5432", "127.0.0.1", "stack"]) expect(res.body, leak).not.toContain(leak);
  });
});

describe("/api/v1 answers 401 before anything else", () => {
  it.each([
    ["no key", {}],
    ["an unknown key", { "x-api-key": "2fa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }],
    ["an unknown bearer key", { authorization: "Bearer 2fa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }],
    ["no key, with a non-JSON content type", { "content-type": "text/plain" }],
  ])("GET /api/v1/app with %s → 401 UNAUTHORIZED in the envelope", async (_name, headers) => {
    expectFailure(await t.app.inject({ method: "GET", url: "/api/v1/app", headers }), "UNAUTHORIZED");
  });

  it("the same call with the key succeeds in the success envelope", async () => {
    const res = await t.app.inject({ method: "GET", url: "/api/v1/app", headers: { "x-api-key": t.apiKey } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ success: true, data: { appId: t.appId } });
  });
});
