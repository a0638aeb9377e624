/**
 * Passkeys and security keys (`client.webauthn`, API.md §4.4).
 *
 * Your server asks for options, hands `publicKey` to the browser
 * (`navigator.credentials.create/get`, or `startRegistration` /
 * `startAuthentication` of @simplewebauthn/browser), and sends the browser's
 * JSON answer back through the matching `…Verify` call.
 *
 * @module
 */
import { pathSegment, postOptions, type HttpTransport } from "./transport.ts";
import type { IsoDateTime, MfaProgress, PostRequestOptions, RequestOptions } from "./types.ts";

/** A credential descriptor (WebAuthn `PublicKeyCredentialDescriptorJSON`). */
export interface CredentialDescriptorJSON {
  id: string;
  type: "public-key";
  transports?: string[];
}

/** WebAuthn `PublicKeyCredentialCreationOptionsJSON`, as the browser helpers take it. */
export interface CreationOptionsJSON {
  rp: { id?: string; name: string };
  user: { id: string; name: string; displayName: string };
  /** base64url */
  challenge: string;
  pubKeyCredParams: { type: "public-key"; alg: number }[];
  timeout?: number;
  excludeCredentials?: CredentialDescriptorJSON[];
  authenticatorSelection?: {
    authenticatorAttachment?: "platform" | "cross-platform";
    residentKey?: "discouraged" | "preferred" | "required";
    requireResidentKey?: boolean;
    userVerification?: "discouraged" | "preferred" | "required";
  };
  attestation?: string;
  extensions?: Record<string, unknown>;
  hints?: string[];
}

/** WebAuthn `PublicKeyCredentialRequestOptionsJSON`, as the browser helpers take it. */
export interface RequestOptionsJSON {
  /** base64url */
  challenge: string;
  timeout?: number;
  rpId?: string;
  /** Empty or absent for discoverable (passkey) login. */
  allowCredentials?: CredentialDescriptorJSON[];
  userVerification?: "discouraged" | "preferred" | "required";
  extensions?: Record<string, unknown>;
  hints?: string[];
}

/**
 * The browser's answer to `navigator.credentials.create()` in JSON form
 * (`RegistrationResponseJSON`). Binary fields are base64url or standard base64.
 */
export interface RegistrationCredentialJSON {
  id: string;
  rawId: string;
  type: "public-key";
  response: {
    clientDataJSON: string;
    attestationObject: string;
    transports?: string[];
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

/** The browser's answer to `navigator.credentials.get()` in JSON form (`AuthenticationResponseJSON`). */
export interface AuthenticationCredentialJSON {
  id: string;
  rawId: string;
  type: "public-key";
  response: {
    clientDataJSON: string;
    authenticatorData: string;
    signature: string;
    userHandle?: string | null;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

/**
 * A credential either nested as `credential` or with its fields at the top
 * level — the two shapes SecureKey's examples use. When both are given,
 * `credential` wins.
 */
export type CredentialInput<C extends { id: string; rawId: string; type: string; response: unknown }> =
  | { credential: C; id?: undefined; rawId?: undefined; type?: undefined; response?: undefined }
  | ({ credential?: undefined } & Pick<C, "id" | "rawId" | "type" | "response">);

/** Input of `client.webauthn.registerOptions`. */
export interface WebAuthnRegisterOptionsInput {
  userId: string;
  /** Defaults to `userId`. */
  userName?: string;
  displayName?: string;
  authenticatorAttachment?: "platform" | "cross-platform";
  residentKey?: "discouraged" | "preferred" | "required";
}

/** Input of `client.webauthn.registerVerify`. */
export type WebAuthnRegisterVerifyInput = {
  userId: string;
  /** A name for the credential in lists ("MacBook Touch ID"). */
  deviceName?: string;
} & CredentialInput<RegistrationCredentialJSON>;

/** Input of `client.webauthn.authenticateOptions`. */
export interface WebAuthnAuthenticateOptionsInput {
  /** Omit for discoverable (passkey) login: the credential names the user. */
  userId?: string;
}

/** Input of `client.webauthn.authenticateVerify`. */
export type WebAuthnAuthenticateVerifyInput = {
  userId?: string;
  /** Recorded with the verification, for MFA policies (default `login`). */
  purpose?: string;
} & CredentialInput<AuthenticationCredentialJSON>;

/** `data` of `client.webauthn.registerOptions`: pass `publicKey` to the browser. */
export interface WebAuthnRegisterOptionsResult {
  publicKey: CreationOptionsJSON;
}

/** `data` of `client.webauthn.authenticateOptions`: pass `publicKey` to the browser. */
export interface WebAuthnAuthenticateOptionsResult {
  publicKey: RequestOptionsJSON;
}

/** `data` of a successful `client.webauthn.registerVerify`. */
export interface WebAuthnRegisterVerifyResult {
  verified: true;
  /** base64url WebAuthn credential id: the id the credential calls take. */
  credentialId: string;
  deviceName: string | null;
}

/** `data` of a successful `client.webauthn.authenticateVerify`. */
export interface WebAuthnAuthenticateVerifyResult {
  verified: true;
  /** Your user id, also for discoverable logins that did not name one. */
  userId: string;
  credentialId: string;
  mfa?: MfaProgress;
}

/** A registered credential as `listCredentials` shows it. */
export interface WebAuthnCredential {
  credentialId: string;
  deviceName: string | null;
  createdAt: IsoDateTime;
  lastUsedAt: IsoDateTime | null;
  transports: string[];
  /** Authenticator model (AAGUID); all zeros when the authenticator does not say. */
  aaguid: string | null;
  /** A synced passkey (BE flag). */
  backupEligible: boolean;
  /** Backed up as of its last use (BS flag). */
  backupState: boolean;
  /** Last signature counter; 0 for authenticators that keep none. */
  counter: number;
  [field: string]: unknown;
}

/** `data` of `client.webauthn.deleteCredential`. */
export interface WebAuthnDeleteResult {
  deleted: true;
  credentialId: string;
  /** The user the credential belonged to. */
  userId: string;
}

/** `data` of `client.webauthn.listCredentials`. */
export interface WebAuthnCredentialList {
  credentials: WebAuthnCredential[];
}

/**
 * Sends a credential in the top-level shape `{ …extra, id, rawId, type, response }`
 * whichever shape the caller used; the browser's other fields (e.g.
 * `clientExtensionResults`) are left out, since the contract names only these.
 */
function flattenCredential(input: {
  credential?: { id: string; rawId: string; type: string; response: unknown } | undefined;
  id?: string | undefined;
  rawId?: string | undefined;
  type?: string | undefined;
  response?: unknown;
}): { id: string | undefined; rawId: string | undefined; type: string | undefined; response: unknown } {
  const source = input.credential ?? input;
  return { id: source.id, rawId: source.rawId, type: source.type, response: source.response };
}

/** `client.webauthn` — passkeys and security keys (`/webauthn/*`). */
export class WebAuthnApi {
  readonly #transport: HttpTransport;

  /** @internal Built by {@link TwoFactorClient}. */
  constructor(transport: HttpTransport) {
    this.#transport = transport;
  }

  /** `POST /webauthn/register/options` — creation options, excluding the user's existing credentials. */
  async registerOptions(
    input: WebAuthnRegisterOptionsInput,
    options: PostRequestOptions = {},
  ): Promise<WebAuthnRegisterOptionsResult> {
    return this.#transport.request({
      method: "POST",
      path: "/webauthn/register/options",
      body: input,
      ...postOptions(options),
    });
  }

  /**
   * `POST /webauthn/register/verify` — checks the browser's answer and stores
   * the credential. Accepts the credential nested as `credential` or with its
   * fields at the top level; always sends `{ userId, id, rawId, type, response, deviceName }`.
   */
  async registerVerify(
    input: WebAuthnRegisterVerifyInput,
    options: PostRequestOptions = {},
  ): Promise<WebAuthnRegisterVerifyResult> {
    return this.#transport.request({
      method: "POST",
      path: "/webauthn/register/verify",
      body: { userId: input.userId, ...flattenCredential(input), deviceName: input.deviceName },
      ...postOptions(options),
    });
  }

  /** `POST /webauthn/authenticate/options` — request options; without `userId`, for passkey login. */
  async authenticateOptions(
    input: WebAuthnAuthenticateOptionsInput = {},
    options: PostRequestOptions = {},
  ): Promise<WebAuthnAuthenticateOptionsResult> {
    return this.#transport.request({
      method: "POST",
      path: "/webauthn/authenticate/options",
      body: input,
      ...postOptions(options),
    });
  }

  /**
   * `POST /webauthn/authenticate/verify` — checks the browser's assertion.
   * Same two credential shapes as {@link WebAuthnApi.registerVerify}; sends the top-level one.
   */
  async authenticateVerify(
    input: WebAuthnAuthenticateVerifyInput,
    options: PostRequestOptions = {},
  ): Promise<WebAuthnAuthenticateVerifyResult> {
    return this.#transport.request({
      method: "POST",
      path: "/webauthn/authenticate/verify",
      body: { userId: input.userId, purpose: input.purpose, ...flattenCredential(input) },
      ...postOptions(options),
    });
  }

  /** `GET /webauthn/credentials?userId=…` — the user's registered credentials. */
  async listCredentials(userId: string, options: RequestOptions = {}): Promise<WebAuthnCredentialList> {
    return this.#transport.request({
      method: "GET",
      path: "/webauthn/credentials",
      query: { userId },
      signal: options.signal,
    });
  }

  /** `PATCH /webauthn/credentials/:credentialId` — renames a credential (`null` clears the name). */
  async renameCredential(credentialId: string, deviceName: string | null, options: RequestOptions = {}): Promise<WebAuthnCredential> {
    return this.#transport.request({
      method: "PATCH",
      path: `/webauthn/credentials/${pathSegment("credentialId", credentialId)}`,
      body: { deviceName },
      signal: options.signal,
    });
  }

  /** `DELETE /webauthn/credentials/:credentialId` — removes a credential; it can no longer sign in. */
  async deleteCredential(credentialId: string, options: RequestOptions = {}): Promise<WebAuthnDeleteResult> {
    return this.#transport.request({
      method: "DELETE",
      path: `/webauthn/credentials/${pathSegment("credentialId", credentialId)}`,
      signal: options.signal,
    });
  }
}
