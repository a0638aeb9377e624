/**
 * Secrets handling in one place: random tokens, hashes of things we only compare, and an
 * AES-256-GCM keyring for things we must recover (TOTP and webhook secrets).
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

/** base64url of `bytes` random bytes from the CSPRNG. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}

export function sha256Hex(value: string | Buffer): string {
  return createHash("sha256").update(value).digest("hex");
}

export function hmacSha256Hex(key: string | Buffer, value: string | Buffer): string {
  return createHmac("sha256", key).update(value).digest("hex");
}

/** Constant-time equality of two strings (length leaks, content does not). */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  if (left.length !== right.length) {
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}

const IV_BYTES = 12;
const KEY_FILE = "encryption.key";

/**
 * AES-256-GCM with key ids. Sealed values look like `v1.<keyId>.<iv>.<ciphertext>.<tag>`
 * (base64url parts); the key id lets old keys keep decrypting after ENCRYPTION_KEY rotates.
 */
export class Keyring {
  private readonly keys = new Map<string, Buffer>();
  readonly currentKeyId: string;

  constructor(current: Buffer, old: Buffer[] = []) {
    if (current.length !== 32) throw new Error("encryption key must be 32 bytes");
    this.currentKeyId = Keyring.keyId(current);
    this.keys.set(this.currentKeyId, current);
    for (const key of old) this.keys.set(Keyring.keyId(key), key);
  }

  /** A short public fingerprint of a key, stored beside each sealed value. */
  static keyId(key: Buffer): string {
    return createHash("sha256").update("latchkey-key-id").update(key).digest("base64url").slice(0, 8);
  }

  /** `associatedData` binds a ciphertext to its row (e.g. the factor id) so it cannot be moved. */
  seal(plaintext: string, associatedData = ""): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.keys.get(this.currentKeyId)!, iv);
    cipher.setAAD(Buffer.from(associatedData));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return ["v1", this.currentKeyId, iv.toString("base64url"), body.toString("base64url"), cipher.getAuthTag().toString("base64url")].join(".");
  }

  open(sealed: string, associatedData = ""): string {
    const [version, keyId, iv, body, tag] = sealed.split(".");
    if (version !== "v1" || !keyId || !iv || body === undefined || !tag) throw new Error("sealed value is malformed");
    const key = this.keys.get(keyId);
    if (!key) throw new Error(`no encryption key with id ${keyId}; add the old key to ENCRYPTION_KEYS_OLD`);
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
    decipher.setAAD(Buffer.from(associatedData));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8");
  }

  /** True when `sealed` was made with an older key and should be re-sealed. */
  needsRotation(sealed: string): boolean {
    return sealed.split(".")[1] !== this.currentKeyId;
  }

  /**
   * A 32-byte key for one purpose (`label`), derived with HKDF-SHA256 (RFC 5869) from the key
   * `keyId` (default: the current key), for HMACs over values we only compare. Values hashed
   * under an older key stay checkable while that key is in ENCRYPTION_KEYS_OLD.
   */
  deriveKey(label: string, keyId: string = this.currentKeyId): Buffer {
    const key = this.keys.get(keyId);
    if (!key) throw new Error(`no encryption key with id ${keyId}; add the old key to ENCRYPTION_KEYS_OLD`);
    return Buffer.from(hkdfSync("sha256", key, "latchkey-derived-key", label, 32));
  }
}

export interface KeyringSource {
  ENCRYPTION_KEY?: Buffer;
  ENCRYPTION_KEYS_OLD: Buffer[];
  dataDir: string;
}

/**
 * The keyring from ENCRYPTION_KEY, or from a key generated once into DATA_DIR (mode 0600).
 * `warn` is told when the generated key is used: every instance must share one key.
 */
export function loadKeyring(source: KeyringSource, warn: (message: string) => void): Keyring {
  if (source.ENCRYPTION_KEY) return new Keyring(source.ENCRYPTION_KEY, source.ENCRYPTION_KEYS_OLD);
  const file = path.join(source.dataDir, KEY_FILE);
  let key: Buffer;
  if (existsSync(file)) {
    key = Buffer.from(readFileSync(file, "utf8").trim(), "base64");
    if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key`);
  } else {
    mkdirSync(source.dataDir, { recursive: true });
    key = randomBytes(32);
    writeFileSync(file, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
    chmodSync(file, 0o600);
    warn(`ENCRYPTION_KEY is not set: generated one into ${file}. Set ENCRYPTION_KEY (the same on every instance) for production.`);
  }
  return new Keyring(key, source.ENCRYPTION_KEYS_OLD);
}

// Passwords: scrypt (OWASP Password Storage Cheat Sheet: N=2^17, r=8, p=1).
const SCRYPT = { N: 2 ** 17, r: 8, p: 1, keyLength: 32, maxmem: 256 * 1024 * 1024 };

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, SCRYPT.keyLength, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: SCRYPT.maxmem });
  return ["scrypt", SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString("base64url"), hash.toString("base64url")].join("$");
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split("$");
  if (scheme !== "scrypt" || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64url");
  const actual = await scryptAsync(password, Buffer.from(salt, "base64url"), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return timingSafeEqual(actual, expected);
}

function scryptAsync(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key))));
}
