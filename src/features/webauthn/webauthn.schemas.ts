/**
 * Route schemas for `/webauthn` (API.md §4.4): the OpenAPI source and the edge validation.
 * Credential bodies admit both shapes SecureKey's examples send (top level or nested under
 * `credential`) and both base64 alphabets; webauthn.encoding.ts then normalizes them.
 */
import { Type } from "typebox";
import { MfaProgress } from "../mfa/mfa.schemas.ts";
import { BASE64_EITHER_PATTERN } from "./webauthn.encoding.ts";

const UserId = Type.String({ minLength: 1, maxLength: 128, description: "Your own id for the end user (shown in webhooks as externalUserId)" });
const OptionalUserId = Type.Optional(Type.Union([UserId, Type.Null()]));
const DeviceName = Type.String({ maxLength: 128, description: "A name for the credential in lists (\"MacBook Touch ID\")" });

/** base64url or standard base64 (`btoa`) of some bytes. */
const binary = (description: string, maxLength: number) =>
  Type.String({ pattern: BASE64_EITHER_PATTERN, maxLength, description: `${description} (base64url or base64)` });

/** Credential ids are at most 1023 bytes (WebAuthn §4 "Credential ID"). */
const CredentialIdString = binary("Credential id", 1400);
const Transports = Type.Array(Type.String({ maxLength: 32 }), { maxItems: 16, description: "AuthenticatorTransport values; unknown ones are ignored" });
const ExtensionResults = Type.Object({}, { additionalProperties: true, description: "Ignored" });

const credentialFields = {
  id: Type.Optional(CredentialIdString),
  rawId: Type.Optional(CredentialIdString),
  type: Type.Optional(Type.Literal("public-key")),
  authenticatorAttachment: Type.Optional(Type.Union([Type.String({ maxLength: 32 }), Type.Null()])),
  clientExtensionResults: Type.Optional(ExtensionResults),
};

const AttestationResponse = Type.Object({
  clientDataJSON: binary("clientDataJSON", 8192),
  attestationObject: binary("attestationObject", 48_000),
  transports: Type.Optional(Transports),
}, { description: "AuthenticatorAttestationResponseJSON; further fields (publicKey, authenticatorData, …) are ignored" });

const AssertionResponse = Type.Object({
  clientDataJSON: binary("clientDataJSON", 8192),
  authenticatorData: binary("authenticatorData", 8192),
  signature: binary("signature", 8192),
  userHandle: Type.Optional(Type.Union([binary("userHandle", 128), Type.Null()])),
}, { description: "AuthenticatorAssertionResponseJSON" });

const RegistrationCredential = Type.Object({ ...credentialFields, response: AttestationResponse }, { description: "The browser's RegistrationResponseJSON" });
const AuthenticationCredential = Type.Object({ ...credentialFields, response: AssertionResponse }, { description: "The browser's AuthenticationResponseJSON" });

// ── bodies ──────────────────────────────────────────────────────────────────────────────────

export const RegisterOptionsBody = Type.Object({
  userId: UserId,
  userName: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: "Shown by the authenticator; defaults to userId" })),
  displayName: Type.Optional(Type.String({ maxLength: 256, description: "Defaults to userName" })),
  authenticatorAttachment: Type.Optional(Type.Union([Type.Literal("platform"), Type.Literal("cross-platform")])),
  residentKey: Type.Optional(Type.Union([Type.Literal("discouraged"), Type.Literal("preferred"), Type.Literal("required")], { description: "Default preferred (a passkey when the authenticator can)" })),
});

export const RegisterVerifyBody = Type.Object({
  userId: UserId,
  deviceName: Type.Optional(Type.Union([DeviceName, Type.Null()])),
  ...credentialFields,
  response: Type.Optional(AttestationResponse),
  credential: Type.Optional(RegistrationCredential),
}, { description: "The browser's credential at the top level ({ userId, id, rawId, type, response }) or nested as `credential`" });

export const AuthenticateOptionsBody = Type.Object({
  userId: OptionalUserId,
}, { description: "Without userId: options for a discoverable (passkey) login" });

export const AuthenticateVerifyBody = Type.Object({
  userId: OptionalUserId,
  purpose: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "Recorded with the verification (default login)" })),
  ...credentialFields,
  response: Type.Optional(AssertionResponse),
  credential: Type.Optional(AuthenticationCredential),
}, { description: "The browser's assertion at the top level ({ userId?, id, rawId, type, response }) or nested as `credential`" });

export const CredentialParams = Type.Object({ credentialId: binary("WebAuthn credential id, as returned in credentialId", 1400) });
export const CredentialsQuery = Type.Object({ userId: UserId });
export const OptionalUserQuery = Type.Object({ userId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "When given, the credential must be this user's" })) });
export const RenameBody = Type.Object({ deviceName: Type.Union([DeviceName, Type.Null()]) });

// ── responses ───────────────────────────────────────────────────────────────────────────────

const Descriptor = Type.Object({
  id: Type.String({ description: "base64url credential id" }),
  type: Type.String({ description: "Always public-key" }),
  transports: Type.Optional(Type.Array(Type.String())),
});

const CreationOptions = Type.Object({
  rp: Type.Object({ id: Type.Optional(Type.String()), name: Type.String() }),
  user: Type.Object({ id: Type.String({ description: "base64url user handle (opaque)" }), name: Type.String(), displayName: Type.String() }),
  challenge: Type.String({ description: "base64url" }),
  pubKeyCredParams: Type.Array(Type.Object({ type: Type.Literal("public-key"), alg: Type.Integer() })),
  timeout: Type.Optional(Type.Integer({ description: "Milliseconds" })),
  excludeCredentials: Type.Optional(Type.Array(Descriptor)),
  authenticatorSelection: Type.Optional(Type.Object({
    authenticatorAttachment: Type.Optional(Type.String()),
    residentKey: Type.Optional(Type.String()),
    requireResidentKey: Type.Optional(Type.Boolean()),
    userVerification: Type.Optional(Type.String()),
  })),
  attestation: Type.Optional(Type.String()),
  extensions: Type.Optional(Type.Object({}, { additionalProperties: true })),
  hints: Type.Optional(Type.Array(Type.String())),
}, { description: "PublicKeyCredentialCreationOptionsJSON: pass to navigator.credentials.create({ publicKey }) after decoding challenge, user.id and excludeCredentials[].id" });

const RequestOptions = Type.Object({
  challenge: Type.String({ description: "base64url" }),
  timeout: Type.Optional(Type.Integer({ description: "Milliseconds" })),
  rpId: Type.Optional(Type.String()),
  allowCredentials: Type.Optional(Type.Array(Descriptor, { description: "Empty for a discoverable (passkey) login" })),
  userVerification: Type.Optional(Type.String()),
  extensions: Type.Optional(Type.Object({}, { additionalProperties: true })),
  hints: Type.Optional(Type.Array(Type.String())),
}, { description: "PublicKeyCredentialRequestOptionsJSON: pass to navigator.credentials.get({ publicKey }) after decoding challenge and allowCredentials[].id" });

export const RegisterOptionsData = Type.Object({ publicKey: CreationOptions });
export const AuthenticateOptionsData = Type.Object({ publicKey: RequestOptions });

export const RegisterVerifyData = Type.Object({
  verified: Type.Literal(true),
  credentialId: Type.String({ description: "base64url WebAuthn credential id" }),
  deviceName: Type.Union([Type.String(), Type.Null()]),
});

export const AuthenticateVerifyData = Type.Object({
  verified: Type.Literal(true),
  userId: Type.String({ description: "The credential's user, also for a discoverable login that named nobody" }),
  credentialId: Type.String(),
  mfa: Type.Optional(MfaProgress),
});

export const CredentialView = Type.Object({
  credentialId: Type.String({ description: "base64url WebAuthn credential id" }),
  deviceName: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: "date-time" }),
  lastUsedAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  transports: Type.Array(Type.String()),
  aaguid: Type.Union([Type.String(), Type.Null()], { description: "Authenticator model (AAGUID); all zeros when the authenticator does not say" }),
  backupEligible: Type.Boolean({ description: "A synced passkey (BE flag)" }),
  backupState: Type.Boolean({ description: "Backed up as of its last use (BS flag)" }),
  counter: Type.Integer({ description: "Last signature counter; 0 for authenticators that keep none" }),
});

export const CredentialList = Type.Object({ credentials: Type.Array(CredentialView) });

export const DeletedData = Type.Object({
  deleted: Type.Literal(true),
  credentialId: Type.String(),
  userId: Type.String(),
});
