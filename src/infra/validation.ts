/**
 * Request validation. Bodies are validated strictly: a JSON number where a string is expected
 * is a 400, never silently coerced (a phone number sent as 1012345678 would lose its leading
 * zero). Query strings, params and headers arrive as text, so there types are coerced.
 */
import { Ajv, type Options } from "ajv";
import addFormatsModule from "ajv-formats";
import type { FastifySchemaCompiler } from "fastify";

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const base: Options = { allErrors: true, removeAdditional: false, useDefaults: true, strict: false };

function createAjv(coerceTypes: Options["coerceTypes"]): Ajv {
  const ajv = new Ajv({ ...base, coerceTypes });
  addFormats(ajv);
  return ajv;
}

export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = createAjv(false);
  const lenient = createAjv("array");
  return ({ schema, httpPart }) => (httpPart === "body" ? strict : lenient).compile(schema as object);
}
