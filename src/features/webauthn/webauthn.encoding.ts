/**
 * The browser's credential, as SecureKey's examples send it, turned into the one shape the
 * verifier takes: fields at the top level or nested under `credential`, binary fields in
 * base64url (`toJSON()`, @simplewebauthn/browser) or standard base64 (`btoa(...)`, the Node
 * SDK's `rawId`), all normalized to unpadded base64url.
 */
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import { AppError, type ErrorDetail } from "../../infra/errors.ts";
import { KNOWN_TRANSPORTS } from "./webauthn.verifier.ts";

/** Either alphabet, optional padding; the schemas check this before anything else runs. */
export const BASE64_EITHER_PATTERN = "^[A-Za-z0-9+/_-]*={0,2}$";

/**
 * Unpadded base64url of a base64 or base64url string, or null when it is not canonical base64
 * of some bytes (bad length, stray bits) — decoding and re-encoding must give it back.
 */
export function toBase64Url(value: string): string | null {
  const url = value.replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_");
  if (!/^[A-Za-z0-9_-]*$/.test(url) || url.length % 4 === 1) return null;
  return Buffer.from(url, "base64url").toString("base64url") === url ? url : null;
}

/** The raw credential fields as the route schema admits them. */
export interface CredentialFields {
  id?: string;
  rawId?: string;
  type?: string;
  response?: Record<string, unknown>;
  authenticatorAttachment?: string | null;
}

export interface CredentialBody extends CredentialFields {
  credential?: CredentialFields;
}

class FieldErrors {
  readonly details: ErrorDetail[] = [];
  constructor(readonly prefix: string) {}

  /** The field normalized to base64url; records a detail and returns "" when absent or invalid. */
  binary(source: Record<string, unknown> | undefined, name: string, path: string, required = true): string | undefined {
    const value = source?.[name];
    if (value === undefined || value === null || value === "") {
      if (required) this.details.push({ field: `${this.prefix}${path}`, message: "is required" });
      return undefined;
    }
    if (typeof value !== "string") {
      this.details.push({ field: `${this.prefix}${path}`, message: "must be a base64url or base64 string" });
      return undefined;
    }
    const normalized = toBase64Url(value);
    if (normalized === null) this.details.push({ field: `${this.prefix}${path}`, message: "must be a base64url or base64 string" });
    return normalized ?? undefined;
  }

  throwIfAny(): void {
    if (this.details.length > 0) throw new AppError("VALIDATION_ERROR", { message: "the credential is incomplete or badly encoded", details: this.details });
  }
}

/** Picks the credential out of either body shape; `credential` wins when both are present. */
function pick(body: CredentialBody): { fields: CredentialFields; prefix: string } {
  if (body.credential) return { fields: body.credential, prefix: "body.credential." };
  if (body.response === undefined && body.id === undefined && body.rawId === undefined) {
    throw new AppError("VALIDATION_ERROR", {
      message: "send the browser's credential at the top level ({ id, rawId, type, response }) or as `credential`",
      details: [{ field: "body.credential", message: "is required (or id, rawId, type and response at the top level)" }],
    });
  }
  return { fields: body, prefix: "body." };
}

/** id and rawId, normalized; they must name the same credential (WebAuthn §5.1: id = base64url(rawId)). */
function credentialId(fields: CredentialFields, errors: FieldErrors): string | undefined {
  const source = fields as Record<string, unknown>;
  const id = errors.binary(source, "id", "id", fields.rawId === undefined);
  const rawId = errors.binary(source, "rawId", "rawId", fields.id === undefined);
  if (id !== undefined && rawId !== undefined && id !== rawId) {
    errors.details.push({ field: `${errors.prefix}rawId`, message: "must encode the same bytes as id" });
    return undefined;
  }
  return id ?? rawId;
}

function transportsOf(response: Record<string, unknown>): string[] | undefined {
  if (!Array.isArray(response.transports)) return undefined;
  const known = new Set<string>(KNOWN_TRANSPORTS);
  return [...new Set(response.transports.filter((t): t is string => typeof t === "string" && known.has(t)))].sort();
}

/** The registration credential in base64url, ready for the verifier; 400 VALIDATION_ERROR otherwise. */
export function normalizeRegistration(body: CredentialBody): RegistrationResponseJSON {
  const { fields, prefix } = pick(body);
  const errors = new FieldErrors(prefix);
  const id = credentialId(fields, errors);
  const response = fields.response;
  if (!response) errors.details.push({ field: `${prefix}response`, message: "is required" });
  const clientDataJSON = errors.binary(response, "clientDataJSON", "response.clientDataJSON");
  const attestationObject = errors.binary(response, "attestationObject", "response.attestationObject");
  errors.throwIfAny();
  const transports = transportsOf(response!);
  return {
    id: id!,
    rawId: id!,
    type: "public-key",
    response: { clientDataJSON: clientDataJSON!, attestationObject: attestationObject!, ...(transports ? { transports: transports as never } : {}) },
    clientExtensionResults: {},
  };
}

/** The assertion in base64url, ready for the verifier; 400 VALIDATION_ERROR otherwise. */
export function normalizeAuthentication(body: CredentialBody): AuthenticationResponseJSON {
  const { fields, prefix } = pick(body);
  const errors = new FieldErrors(prefix);
  const id = credentialId(fields, errors);
  const response = fields.response;
  if (!response) errors.details.push({ field: `${prefix}response`, message: "is required" });
  const clientDataJSON = errors.binary(response, "clientDataJSON", "response.clientDataJSON");
  const authenticatorData = errors.binary(response, "authenticatorData", "response.authenticatorData");
  const signature = errors.binary(response, "signature", "response.signature");
  // null and "" both mean "no user handle" (a non-discoverable credential may return either).
  const userHandle = errors.binary(response, "userHandle", "response.userHandle", false);
  errors.throwIfAny();
  return {
    id: id!,
    rawId: id!,
    type: "public-key",
    response: { clientDataJSON: clientDataJSON!, authenticatorData: authenticatorData!, signature: signature!, ...(userHandle ? { userHandle } : {}) },
    clientExtensionResults: {},
  };
}
