/**
 * The one adapter for firebase-admin: how push approval requests leave (API.md §10,
 * `PUSH_PROVIDER`). `fcm` sends through Firebase Cloud Messaging (HTTP v1) with the service
 * account in FIREBASE_SERVICE_ACCOUNT (a file path or the JSON itself); `console` (the default,
 * for local use) prints the message.
 *
 * A sender answers one outcome per device and never throws: an unregistered or invalid token is
 * reported as such (the caller deactivates that device), anything else (FCM down, a bad
 * credential) as a failure that leaves the device alone.
 *
 * The OAuth access token is obtained by our own small credential (RFC 7523 JWT bearer grant,
 * the flow of Google's "Using OAuth 2.0 for Server to Server Applications"), not by
 * `cert()`: google-auth-library posts to its built-in https://oauth2.googleapis.com/token and
 * ignores the service account's `token_uri`, and it ignores the `httpAgent` given to `cert()`
 * when the service account is an object (firebase/firebase-admin-node#2960). Ours honours both;
 * firebase-admin still caches and refreshes the token and does all of the FCM sending.
 */
import { createPrivateKey, createSign, randomUUID, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { deleteApp, initializeApp, type App, type Credential, type GoogleOAuthAccessToken } from "firebase-admin/app";
import { getMessaging, type Messaging, type TokenMessage } from "firebase-admin/messaging";
import type { Logger } from "pino";
import type { Config } from "../config.ts";

/** One notification to one device. */
export interface PushMessage {
  /** The device's FCM registration token. */
  token: string;
  title: string;
  body: string;
  /** FCM data payload: strings only (FCM rejects anything else). */
  data: Record<string, string>;
  /** After this, delivering is pointless: FCM and APNs drop the message instead. */
  expiresAt: Date;
}

/** Why a device was not reached. */
export type PushFailure =
  /** FCM says the token is no longer valid (app uninstalled, token rotated): deactivate the device. */
  | "unregistered"
  /** The token is not an FCM registration token at all: deactivate the device. */
  | "invalid_token"
  /** Anything else (FCM unavailable, quota, credential or configuration trouble): keep the device. */
  | "unavailable";

export type PushDelivery = { ok: true; messageId?: string } | { ok: false; failure: PushFailure; detail: string };

export interface PushSender {
  /** Short name for logs and metrics (`console`, `fcm`, or a test double's). */
  readonly name: string;
  /** One outcome per message, in order. Never throws. */
  send(messages: PushMessage[]): Promise<PushDelivery[]>;
  close(): Promise<void>;
}

/** FCM HTTP v1's own OAuth scope (firebase.google.com/docs/cloud-messaging/auth-server). */
export const FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging";
export const GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token";
const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/** Google accepts assertions valid for at most one hour. */
const ASSERTION_LIFETIME_SECONDS = 3600;
/** Longest the token endpoint may take. (FCM sends have firebase-admin's own 15 s deadline.) */
const TOKEN_TIMEOUT_MS = 10_000;
const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

export interface PushSenderOptions {
  /** The console sender prints here. */
  logger?: Pick<Logger, "info">;
  /**
   * Agent for every request to Google (token endpoint and FCM): a proxy in production, or, in
   * tests, an agent that connects to a local fake of Google's endpoints.
   */
  httpAgent?: http.Agent;
}

/** The sender PUSH_PROVIDER names. Throws at start when FIREBASE_SERVICE_ACCOUNT is unusable. */
export function createPushSender(config: Config, options: PushSenderOptions = {}): PushSender {
  if (config.PUSH_PROVIDER === "fcm") {
    return fcmPushSender({ serviceAccount: readServiceAccount(config.FIREBASE_SERVICE_ACCOUNT!), httpAgent: options.httpAgent });
  }
  return consolePushSender(options.logger ?? { info: (_obj: unknown, msg?: string) => console.log(msg) });
}

/** Prints each message instead of sending it: its "delivery" is the log line. */
export function consolePushSender(logger: Pick<Logger, "info">): PushSender {
  return {
    name: "console",
    async send(messages) {
      for (const message of messages) {
        logger.info(
          { provider: "console", channel: "push", token: `${message.token.slice(0, 8)}…`, data: message.data },
          `push to ${message.token.slice(0, 8)}…: ${message.title} — ${message.body}`,
        );
      }
      return messages.map(() => ({ ok: true }));
    },
    close: async () => undefined,
  };
}

// ── service account ─────────────────────────────────────────────────────────────────────────

export interface ServiceAccount {
  projectId: string;
  clientEmail: string;
  privateKey: KeyObject;
  privateKeyId?: string;
  tokenUri: string;
}

/** FIREBASE_SERVICE_ACCOUNT: the JSON itself (starts with `{`) or a path to the JSON file. */
export function readServiceAccount(value: string): ServiceAccount {
  const text = value.trim();
  let json: unknown;
  if (text.startsWith("{")) {
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error("FIREBASE_SERVICE_ACCOUNT is not valid JSON");
    }
  } else {
    let content: string;
    try {
      content = readFileSync(text, "utf8");
    } catch (err) {
      throw new Error(`FIREBASE_SERVICE_ACCOUNT: cannot read ${text} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
    try {
      json = JSON.parse(content);
    } catch {
      throw new Error(`FIREBASE_SERVICE_ACCOUNT: ${text} is not valid JSON`);
    }
  }
  return parseServiceAccount(json);
}

export function parseServiceAccount(json: unknown): ServiceAccount {
  const record = (json && typeof json === "object" ? json : {}) as Record<string, unknown>;
  const field = (name: string): string => {
    const value = record[name];
    if (typeof value !== "string" || value.trim() === "") throw new Error(`FIREBASE_SERVICE_ACCOUNT lacks "${name}" (download the key JSON from the Firebase console)`);
    return value;
  };
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(field("private_key"));
  } catch (err) {
    if ((err as Error).message.startsWith("FIREBASE_SERVICE_ACCOUNT")) throw err;
    throw new Error("FIREBASE_SERVICE_ACCOUNT: private_key is not a PEM private key");
  }
  if (privateKey.asymmetricKeyType !== "rsa") throw new Error("FIREBASE_SERVICE_ACCOUNT: private_key must be an RSA key");
  const tokenUri = typeof record.token_uri === "string" && record.token_uri ? record.token_uri : GOOGLE_TOKEN_URI;
  const protocol = safeProtocol(tokenUri);
  if (protocol !== "https:" && protocol !== "http:") throw new Error("FIREBASE_SERVICE_ACCOUNT: token_uri must be an http(s) URL");
  return {
    projectId: field("project_id"),
    clientEmail: field("client_email"),
    privateKey,
    privateKeyId: typeof record.private_key_id === "string" ? record.private_key_id : undefined,
    tokenUri,
  };
}

function safeProtocol(url: string): string | undefined {
  try {
    return new URL(url).protocol;
  } catch {
    return undefined;
  }
}

/**
 * firebase-admin's Credential for a service account: the RFC 7523 JWT bearer grant against the
 * account's `token_uri`. firebase-admin caches the token and asks again 5 minutes before expiry.
 */
export function serviceAccountCredential(account: ServiceAccount, httpAgent?: http.Agent): Credential {
  return {
    async getAccessToken(): Promise<GoogleOAuthAccessToken> {
      const issuedAt = Math.floor(Date.now() / 1000);
      const assertion = signJwtRs256(
        { alg: "RS256", typ: "JWT", ...(account.privateKeyId ? { kid: account.privateKeyId } : {}) },
        { iss: account.clientEmail, scope: FCM_SCOPE, aud: account.tokenUri, iat: issuedAt, exp: issuedAt + ASSERTION_LIFETIME_SECONDS },
        account.privateKey,
      );
      const form = new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }).toString();
      const { status, body } = await postForm(account.tokenUri, form, httpAgent);
      let answer: Record<string, unknown> = {};
      try {
        answer = JSON.parse(body) as Record<string, unknown>;
      } catch {
        // Reported below without the body, which may be anything.
      }
      if (status !== 200 || typeof answer.access_token !== "string" || typeof answer.expires_in !== "number") {
        const reason = typeof answer.error === "string" ? answer.error : "no access token";
        throw new Error(`the token endpoint refused the service account (HTTP ${status}: ${reason})`);
      }
      return { access_token: answer.access_token, expires_in: answer.expires_in };
    },
  };
}

function signJwtRs256(header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject): string {
  const encode = (part: Record<string, unknown>) => Buffer.from(JSON.stringify(part)).toString("base64url");
  const signingInput = `${encode(header)}.${encode(claims)}`;
  const signature = createSign("RSA-SHA256").update(signingInput).sign(key).toString("base64url");
  return `${signingInput}.${signature}`;
}

function postForm(url: string, form: string, agent: http.Agent | undefined): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  const transport = target.protocol === "https:" ? https : http;
  // An agent serves one protocol; one for https (the FCM side) is not used for an http token_uri.
  const agentProtocol = (agent as { protocol?: string } | undefined)?.protocol;
  const useAgent = agent && (agentProtocol === undefined || agentProtocol === target.protocol) ? agent : undefined;
  return new Promise((resolve, reject) => {
    const request = transport.request(target, {
      method: "POST",
      agent: useAgent,
      timeout: TOKEN_TIMEOUT_MS,
      headers: { "content-type": "application/x-www-form-urlencoded", "content-length": Buffer.byteLength(form), accept: "application/json" },
    }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_TOKEN_RESPONSE_BYTES) response.destroy(new Error("token endpoint answer too large"));
        else chunks.push(chunk);
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`token endpoint did not answer within ${TOKEN_TIMEOUT_MS} ms`)));
    request.on("error", reject);
    request.end(form);
  });
}

// ── FCM ─────────────────────────────────────────────────────────────────────────────────────

export interface FcmSenderOptions {
  serviceAccount: ServiceAccount;
  httpAgent?: http.Agent;
}

/** FCM HTTP v1 through firebase-admin: one `sendEach` per request, one message per device. */
export function fcmPushSender(options: FcmSenderOptions): PushSender {
  const { serviceAccount, httpAgent } = options;
  // Each sender owns its own named firebase app, so several Latchkey apps can live in one process.
  const app: App = initializeApp(
    { credential: serviceAccountCredential(serviceAccount, httpAgent), projectId: serviceAccount.projectId, ...(httpAgent ? { httpAgent } : {}) },
    `latchkey-${randomUUID()}`,
  );
  const messaging: Messaging = getMessaging(app);
  // sendEach defaults to HTTP/2 sessions, which bypass `httpAgent` (a proxy would be skipped);
  // HTTP/1.1 with keep-alive honours it, and a user has a handful of devices at most.
  messaging.enableLegacyHttpTransport();
  let closed = false;

  return {
    name: "fcm",
    async send(messages) {
      if (messages.length === 0) return [];
      try {
        const batch = await messaging.sendEach(messages.map(toFcmMessage));
        return batch.responses.map((response): PushDelivery =>
          response.success ? { ok: true, messageId: response.messageId } : classifyFcmError(response.error),
        );
      } catch (err) {
        // Thrown for the whole batch (local validation of one message, a closed app): nobody was
        // reached, and no single token is to blame, so no device is deactivated.
        const delivery = classifyFcmError(err);
        return messages.map(() => (delivery.ok ? delivery : { ...delivery, failure: "unavailable" as const }));
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await deleteApp(app);
    },
  };
}

/** FCM v1 message: notification for the tray, data for the app, expiry on every platform. */
export function toFcmMessage(message: PushMessage): TokenMessage {
  const ttlSeconds = Math.max(0, Math.floor((message.expiresAt.getTime() - Date.now()) / 1000));
  return {
    token: message.token,
    notification: { title: message.title, body: message.body },
    data: message.data,
    // An approval request is time-critical and worthless once expired.
    android: { priority: "high", ttl: ttlSeconds * 1000 },
    apns: {
      headers: { "apns-priority": "10", "apns-push-type": "alert", "apns-expiration": String(Math.floor(message.expiresAt.getTime() / 1000)) },
      payload: { aps: { sound: "default" } },
    },
    webpush: { headers: { TTL: String(ttlSeconds), Urgency: "high" } },
  };
}

/** firebase-admin's error codes (`messaging/…`, `app/…`) → what the caller should do. */
export function classifyFcmError(err: unknown): PushDelivery {
  const code = typeof (err as { code?: unknown })?.code === "string" ? (err as { code: string }).code : "unknown";
  const message = typeof (err as { message?: unknown })?.message === "string" ? (err as { message: string }).message : "";
  const detail = `${code}: ${message.split("Raw server response")[0]!.trim().slice(0, 200)}`;
  switch (code) {
    case "messaging/registration-token-not-registered":
      return { ok: false, failure: "unregistered", detail };
    case "messaging/invalid-registration-token":
      return { ok: false, failure: "invalid_token", detail };
    case "messaging/invalid-argument":
      // FCM v1 answers INVALID_ARGUMENT "The registration token is not a valid FCM registration
      // token" for a malformed token; other invalid arguments are our message's fault, not the device's.
      return /registration token/i.test(message) ? { ok: false, failure: "invalid_token", detail } : { ok: false, failure: "unavailable", detail };
    default:
      // Including messaging/mismatched-credential (SENDER_ID_MISMATCH): usually the wrong service
      // account, which must not deactivate every device of every user.
      return { ok: false, failure: "unavailable", detail };
  }
}
