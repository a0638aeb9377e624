/**
 * `TwoFactorClient`: the SDK's entry point.
 *
 * @module
 */
import { AuthApi } from "./auth.api.ts";
import { AppApi } from "./app.api.ts";
import { MfaApi } from "./mfa.api.ts";
import { EmailApi, SmsApi } from "./otp.api.ts";
import { PushApi } from "./push.api.ts";
import { TotpApi } from "./totp.api.ts";
import { HttpTransport, type FetchFunction } from "./transport.ts";
import { WebAuthnApi } from "./webauthn.api.ts";
import { WebhooksApi } from "./webhooks.api.ts";

/** Settings of a {@link TwoFactorClient}. */
export interface TwoFactorClientOptions {
  /**
   * Secret (`2fa_…`), ephemeral (`ek_…`) or publishable (`pk_…`) key, sent as
   * `X-API-Key`. Needed for every call except `push.respond` with a
   * `deviceToken`, so a mobile app that only answers push requests may leave it out.
   */
  apiKey?: string;
  /**
   * Where the server is: `https://2fa.example.com`, with or without a
   * trailing slash and with or without `/api/v1`.
   */
  baseUrl: string;
  /** Time allowed for one call, connection to last byte; default 30 000 ms. Long polls get more. */
  timeoutMs?: number;
  /** A `fetch` to use instead of the global one (proxies, custom agents, tests). */
  fetch?: FetchFunction;
  /** Headers added to every call (the SDK's own headers take precedence). */
  headers?: Record<string, string>;
}

/**
 * Client of a Latchkey (or SecureKey-compatible) server.
 *
 * Every method resolves to the response envelope's `data` and rejects with a
 * {@link TwoFactorError} when the server answers `success: false` or a
 * non-2xx status, when the answer is not JSON (`INVALID_RESPONSE`), when the
 * connection fails (`NETWORK_ERROR`) or on timeout (`TIMEOUT`).
 *
 * @example
 * ```ts
 * const client = new TwoFactorClient({ apiKey: process.env.LATCHKEY_API_KEY, baseUrl: "http://localhost:3000" });
 * const { requestId } = await client.sms.send({ phone: "01012345678", userId: "user_123" });
 * const { verified } = await client.sms.verify({ phone: "01012345678", code: "123456" });
 * ```
 */
export class TwoFactorClient {
  /** The normalized base URL, ending in `/api/v1`. */
  readonly baseUrl: string;
  /** The calling key's app. */
  readonly app: AppApi;
  /** Ephemeral keys for browsers. */
  readonly auth: AuthApi;
  /** One-time codes by SMS. */
  readonly sms: SmsApi;
  /** One-time codes by email. */
  readonly email: EmailApi;
  /** Authenticator-app codes and backup codes. */
  readonly totp: TotpApi;
  /** Passkeys and security keys. */
  readonly webauthn: WebAuthnApi;
  /** Push approval on registered devices. */
  readonly push: PushApi;
  /** MFA policy checks. */
  readonly mfa: MfaApi;
  /** The app's webhook endpoints and their deliveries. */
  readonly webhooks: WebhooksApi;

  /** @throws TypeError for a `baseUrl` that is not an absolute http(s) URL, or a non-positive `timeoutMs`. */
  constructor(options: TwoFactorClientOptions) {
    const transport = new HttpTransport(options);
    this.baseUrl = transport.baseUrl;
    this.app = new AppApi(transport);
    this.auth = new AuthApi(transport);
    this.sms = new SmsApi(transport);
    this.email = new EmailApi(transport);
    this.totp = new TotpApi(transport);
    this.webauthn = new WebAuthnApi(transport);
    this.push = new PushApi(transport);
    this.mfa = new MfaApi(transport);
    this.webhooks = new WebhooksApi(transport);
  }
}
