/**
 * Authenticator-app codes (`client.totp`, API.md §4.3).
 *
 * @module
 */
import { pathSegment, postOptions, type HttpTransport } from "./transport.ts";
import type { IsoDateTime, MfaProgress, PostRequestOptions, RequestOptions } from "./types.ts";

/** Input of `client.totp.setup`. */
export interface TotpSetupInput {
  userId: string;
  /** Label shown in the authenticator app; defaults to `userId`. */
  accountName?: string;
  /** Issuer shown in the authenticator app (no colon); defaults to the app's `totp.issuer` setting, else `TOTP_ISSUER`. */
  issuer?: string;
  /** Replace an enabled factor instead of failing with `TOTP_ALREADY_ENABLED`. */
  force?: boolean;
}

/** `data` of `client.totp.setup`. The factor stays pending until its first successful verify. */
export interface TotpSetupResult {
  /** Base32 secret, for manual entry. */
  secret: string;
  /** `otpauth://totp/<Issuer>:<account>?secret=…&issuer=…&algorithm=…&digits=…&period=…` (Key Uri Format). */
  uri: string;
  /** `data:image/png;base64,…` QR code of `uri`. */
  qrCodeDataUrl: string;
}

/**
 * Input of `client.totp.verify`: the 6-digit code (or a backup code) as
 * `token`, or as its synonym `code`. The SDK always sends it as `token`.
 */
export type TotpVerifyInput = (
  | { userId: string; token: string; code?: undefined }
  | { userId: string; code: string; token?: undefined }
) & {
  /** What the verification is for (default `login`); with it the answer reports MFA progress (`data.mfa`). */
  purpose?: string;
};

/**
 * `data` of a successful `client.totp.verify`. A wrong code throws `INVALID_CODE`
 * (`data.attemptsRemaining`); a reused code `CODE_ALREADY_USED`; too many wrong
 * codes in a row `ACCOUNT_LOCKED` (with `retryAfter`).
 */
export interface TotpVerifyResult {
  verified: true;
  /** `true` on the verify that confirmed a pending factor. */
  activated?: boolean;
  /** `true` when a backup code was used. */
  backupCodeUsed?: boolean;
  /** Unused backup codes left, with `backupCodeUsed`. */
  backupCodesRemaining?: number;
  mfa?: MfaProgress;
}

/** `data` of `client.totp.status`. */
export interface TotpStatusResult {
  enabled: boolean;
  /** Set up but not yet confirmed by a verify. */
  pending: boolean;
  createdAt: IsoDateTime | null;
  lastUsedAt: IsoDateTime | null;
  /** Unused backup codes. */
  backupCodesRemaining: number;
}

/** `data` of `client.totp.disable`. */
export interface TotpDisableResult {
  disabled: true;
}

/**
 * `data` of `client.totp.backupCodes`: ten one-time codes, shown only this
 * once (the server keeps hashes). Generating them replaces earlier ones.
 */
export interface TotpBackupCodesResult {
  backupCodes: string[];
}

/** `client.totp` — authenticator-app codes (`/totp/*`). */
export class TotpApi {
  readonly #transport: HttpTransport;

  /** @internal Built by {@link TwoFactorClient}. */
  constructor(transport: HttpTransport) {
    this.#transport = transport;
  }

  /** `POST /totp/setup` — creates a pending factor and returns its secret and QR code. */
  async setup(input: TotpSetupInput, options: PostRequestOptions = {}): Promise<TotpSetupResult> {
    return this.#transport.request({ method: "POST", path: "/totp/setup", body: input, ...postOptions(options) });
  }

  /**
   * `POST /totp/verify` — checks a code or a backup code; the first success
   * activates a pending factor. A code whose time step was already used fails
   * with `CODE_ALREADY_USED`.
   */
  async verify(input: TotpVerifyInput, options: PostRequestOptions = {}): Promise<TotpVerifyResult> {
    const { code, token, ...rest } = input;
    return this.#transport.request({
      method: "POST",
      path: "/totp/verify",
      body: { ...rest, token: token ?? code },
      ...postOptions(options),
    });
  }

  /** `GET /totp/status/:userId` — whether the user has an enabled or pending factor. */
  async status(userId: string, options: RequestOptions = {}): Promise<TotpStatusResult> {
    return this.#transport.request({
      method: "GET",
      path: `/totp/status/${pathSegment("userId", userId)}`,
      signal: options.signal,
    });
  }

  /** `DELETE /totp/:userId` — disables the user's factor and deletes their backup codes. */
  async disable(userId: string, options: RequestOptions = {}): Promise<TotpDisableResult> {
    return this.#transport.request({
      method: "DELETE",
      path: `/totp/${pathSegment("userId", userId)}`,
      signal: options.signal,
    });
  }

  /** `POST /totp/backup-codes` — issues ten new one-time backup codes. */
  async backupCodes(userId: string, options: PostRequestOptions = {}): Promise<TotpBackupCodesResult> {
    return this.#transport.request({
      method: "POST",
      path: "/totp/backup-codes",
      body: { userId },
      ...postOptions(options),
    });
  }
}
