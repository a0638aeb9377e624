/**
 * A software WebAuthn authenticator for tests and the benchmark: real key pairs from node:crypto
 * (P-256 / Ed25519), real authenticator data, CBOR attestation objects with fmt "none", and
 * real signatures over authenticatorData ‖ SHA-256(clientDataJSON) (WebAuthn §6.3.3).
 * It plays the browser too (clientDataJSON), so every field can be bent to exercise a failure.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";

// ── a minimal CBOR encoder (RFC 8949 §3): what attestation objects and COSE keys need ──────────

export type CborValue = number | string | Uint8Array | CborValue[] | Map<CborValue, CborValue> | { [key: string]: CborValue };

function head(major: number, length: number): Buffer {
  const type = major << 5;
  if (length < 24) return Buffer.from([type | length]);
  if (length < 0x100) return Buffer.from([type | 24, length]);
  if (length < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = type | 25;
    b.writeUInt16BE(length, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = type | 26;
  b.writeUInt32BE(length, 1);
  return b;
}

export function cborEncode(value: CborValue): Buffer {
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new Error("only integers are supported");
    return value >= 0 ? head(0, value) : head(1, -1 - value);
  }
  if (typeof value === "string") {
    const bytes = Buffer.from(value, "utf8");
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cborEncode)]);
  const entries: Array<[CborValue, CborValue]> = value instanceof Map ? [...value.entries()] : Object.entries(value);
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [cborEncode(k), cborEncode(v)])]);
}

// ── encodings ───────────────────────────────────────────────────────────────────────────────

export const b64url = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString("base64url");
/** Standard base64 with padding, as `btoa(String.fromCharCode(...bytes))` gives it. */
export const b64std = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString("base64");
/** base64url → standard base64 (the Node SDK example's `rawId`). */
export const urlToStd = (value: string): string => Buffer.from(value, "base64url").toString("base64");
const sha256 = (data: Uint8Array | string): Buffer => createHash("sha256").update(data).digest();

// ── JSON shapes (what the browser hands to the page) ─────────────────────────────────────────

export interface CreationOptionsLike {
  challenge: string;
  rp: { id?: string; name: string };
  user: { id: string; name: string; displayName: string };
  excludeCredentials?: Array<{ id: string }>;
}

export interface RequestOptionsLike {
  challenge: string;
  rpId?: string;
  allowCredentials?: Array<{ id: string }>;
}

export type RegistrationJSON = {
  id: string;
  rawId: string;
  type: "public-key";
  response: { clientDataJSON: string; attestationObject: string; transports: string[] };
  clientExtensionResults: Record<string, never>;
  authenticatorAttachment: string;
};

export type AuthenticationJSON = {
  id: string;
  rawId: string;
  type: "public-key";
  response: { clientDataJSON: string; authenticatorData: string; signature: string; userHandle?: string };
  clientExtensionResults: Record<string, never>;
  authenticatorAttachment: string;
};

export type Algorithm = "ES256" | "EdDSA";

export interface SoftCredential {
  /** base64url id */
  id: string;
  rawId: Buffer;
  rpId: string;
  userHandle: Buffer;
  privateKey: KeyObject;
  algorithm: Algorithm;
  /** The signature counter the next assertion will carry, when counting. */
  counter: number;
}

export interface SoftAuthenticatorOptions {
  /** The page's origin (clientDataJSON.origin). */
  origin: string;
  /** Default: options.rp.id / options.rpId. */
  rpId?: string;
  aaguid?: Buffer;
  /** Authenticators without a counter always send 0 (most passkey providers). Default true. */
  counting?: boolean;
  backupEligible?: boolean;
  backupState?: boolean;
  userVerified?: boolean;
  algorithm?: Algorithm;
  transports?: string[];
}

/** What a test may bend in one ceremony. */
export interface CeremonyOverrides {
  origin?: string;
  rpId?: string;
  challenge?: string;
  type?: string;
  userPresent?: boolean;
  userVerified?: boolean;
  /** Assertions: the exact counter to send. */
  counter?: number;
  /** Assertions: flip a bit of the signature. */
  corruptSignature?: boolean;
  /** Assertions: the user handle to return; null = none. Default: the credential's. */
  userHandle?: Buffer | null;
  /** Assertions: which credential signs (default: the first allowed, or the newest for rpId). */
  credential?: SoftCredential;
  /** Assertions: sign with this key instead of the credential's. */
  signingKey?: KeyObject;
  /** Registration: use this credential id (a malicious or buggy authenticator reusing one). */
  rawId?: Buffer;
}

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

export class SoftAuthenticator {
  readonly credentials: SoftCredential[] = [];
  readonly aaguid: Buffer;

  constructor(readonly options: SoftAuthenticatorOptions) {
    this.aaguid = options.aaguid ?? Buffer.from("5f5f5f5f-736f-6674-2d61-757468656e74".replaceAll("-", ""), "hex");
  }

  private flags(overrides: CeremonyOverrides, attested: boolean): number {
    let flags = 0;
    if (overrides.userPresent ?? true) flags |= FLAG_UP;
    if (overrides.userVerified ?? this.options.userVerified ?? true) flags |= FLAG_UV;
    if (this.options.backupEligible) flags |= FLAG_BE;
    if (this.options.backupEligible && this.options.backupState) flags |= FLAG_BS;
    if (attested) flags |= FLAG_AT;
    return flags;
  }

  private clientData(type: string, challenge: string, origin: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  /** navigator.credentials.create(): a new credential and the browser's JSON for it. */
  register(publicKey: CreationOptionsLike, overrides: CeremonyOverrides = {}): { credential: SoftCredential; response: RegistrationJSON } {
    const rpId = overrides.rpId ?? this.options.rpId ?? publicKey.rp.id ?? "localhost";
    const algorithm = this.options.algorithm ?? "ES256";
    const { privateKey, publicKey: pub } = algorithm === "ES256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("ed25519");
    const jwk = pub.export({ format: "jwk" });
    const cose = algorithm === "ES256"
      ? cborEncode(new Map<CborValue, CborValue>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, "base64url")], [-3, Buffer.from(jwk.y!, "base64url")]]))
      : cborEncode(new Map<CborValue, CborValue>([[1, 1], [3, -8], [-1, 6], [-2, Buffer.from(jwk.x!, "base64url")]]));
    const rawId = overrides.rawId ?? randomBytes(32);
    const counterBytes = Buffer.alloc(4); // a new credential's counter starts at 0
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(rawId.length);
    const authData = Buffer.concat([sha256(rpId), Buffer.from([this.flags(overrides, true)]), counterBytes, this.aaguid, idLength, rawId, cose]);
    const attestationObject = cborEncode({ fmt: "none", attStmt: {}, authData });
    const clientDataJSON = this.clientData(overrides.type ?? "webauthn.create", overrides.challenge ?? publicKey.challenge, overrides.origin ?? this.options.origin);
    const credential: SoftCredential = {
      id: b64url(rawId),
      rawId,
      rpId,
      userHandle: Buffer.from(publicKey.user.id, "base64url"),
      privateKey,
      algorithm,
      counter: this.options.counting === false ? 0 : 1,
    };
    this.credentials.push(credential);
    return {
      credential,
      response: {
        id: credential.id,
        rawId: credential.id,
        type: "public-key",
        response: { clientDataJSON: b64url(clientDataJSON), attestationObject: b64url(attestationObject), transports: this.options.transports ?? ["internal"] },
        clientExtensionResults: {},
        authenticatorAttachment: "platform",
      },
    };
  }

  /** navigator.credentials.get(): an assertion signed by one of this authenticator's credentials. */
  assert(publicKey: RequestOptionsLike, overrides: CeremonyOverrides = {}): AuthenticationJSON {
    const rpId = overrides.rpId ?? this.options.rpId ?? publicKey.rpId ?? "localhost";
    const allowed = new Set((publicKey.allowCredentials ?? []).map((c) => c.id));
    const credential = overrides.credential
      ?? (allowed.size > 0 ? this.credentials.find((c) => allowed.has(c.id)) : [...this.credentials].reverse().find((c) => c.rpId === (publicKey.rpId ?? rpId)));
    if (!credential) throw new Error("NotAllowedError: no credential of this authenticator is allowed");
    const counter = overrides.counter ?? credential.counter;
    if (overrides.counter === undefined && this.options.counting !== false) credential.counter++;
    const counterBytes = Buffer.alloc(4);
    counterBytes.writeUInt32BE(counter);
    const authData = Buffer.concat([sha256(rpId), Buffer.from([this.flags(overrides, false)]), counterBytes]);
    const clientDataJSON = this.clientData(overrides.type ?? "webauthn.get", overrides.challenge ?? publicKey.challenge, overrides.origin ?? this.options.origin);
    const signed = Buffer.concat([authData, sha256(clientDataJSON)]);
    const key = overrides.signingKey ?? credential.privateKey;
    const signature = credential.algorithm === "ES256" ? sign("sha256", signed, key) : sign(null, signed, key);
    if (overrides.corruptSignature) signature[signature.length - 1]! ^= 0x01;
    const userHandle = overrides.userHandle === undefined ? credential.userHandle : overrides.userHandle;
    return {
      id: credential.id,
      rawId: credential.id,
      type: "public-key",
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        ...(userHandle ? { userHandle: b64url(userHandle) } : {}),
      },
      clientExtensionResults: {},
      authenticatorAttachment: "platform",
    };
  }
}

/**
 * The credential as SecureKey's Node SDK example posts it: fields at the top level, `rawId` as
 * `btoa(...)` standard base64, and the response's binary fields in standard base64 too.
 */
export function nodeSdkShape(credential: { id: string; rawId: string; type: string; response: object }): { id: string; rawId: string; type: string; response: Record<string, unknown> } {
  const response: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(credential.response)) response[key] = typeof value === "string" ? urlToStd(value) : value;
  return { id: credential.id, rawId: urlToStd(credential.rawId), type: credential.type, response };
}
