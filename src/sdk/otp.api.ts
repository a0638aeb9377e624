/**
 * One-time codes sent by SMS (`client.sms`, API.md §4.1) and email
 * (`client.email`, §4.2). Both channels have the same three calls.
 *
 * @module
 */
import { postOptions, type HttpTransport } from "./transport.ts";
import type { IsoDateTime, MfaProgress, PostRequestOptions, RequestOptions } from "./types.ts";

/** Fields shared by both channels' send inputs. */
interface OtpSendFields {
  /** Free label (`login`, `signup`, `payment`, …), ≤ 64 chars; default `login`. */
  purpose?: string;
  /** Your own id for the end user, ≤ 128 chars (webhooks show it as `externalUserId`). */
  userId?: string;
  /** Message template locale: `ko` (default) or `en`. */
  locale?: string;
}

/** Fields shared by both channels' verify inputs. */
interface OtpVerifyFields {
  /** The code the user typed (digits; spaces and dashes are ignored). */
  code: string;
  /** Must match the send's purpose; default `login`. */
  purpose?: string;
  /** With `purpose`, lets the answer report MFA progress (`data.mfa`). */
  userId?: string;
}

/** Input of `client.sms.send`. */
export interface SmsSendInput extends OtpSendFields {
  /** Korean domestic (`01012345678`) or E.164 (`+821012345678`). */
  phone: string;
}

/** Input of `client.sms.verify`. */
export interface SmsVerifyInput extends OtpVerifyFields {
  phone: string;
}

/** Input of `client.sms.status`. */
export interface SmsStatusInput {
  phone: string;
  purpose?: string;
}

/** Input of `client.email.send`. */
export interface EmailSendInput extends OtpSendFields {
  email: string;
}

/** Input of `client.email.verify`. */
export interface EmailVerifyInput extends OtpVerifyFields {
  email: string;
}

/** Input of `client.email.status`. */
export interface EmailStatusInput {
  email: string;
  purpose?: string;
}

/** Fields shared by both channels' send results. */
interface OtpSendResultFields {
  requestId: string;
  expiresAt: IsoDateTime;
  /** Seconds until the code expires. */
  expiresIn: number;
  /** `true` for the app's test destinations (fixed code, nothing sent). */
  test?: boolean;
}

/** `data` of `client.sms.send`. */
export interface SmsSendResult extends OtpSendResultFields {
  /** The destination, masked (`+82******5678`). */
  phone: string;
}

/** `data` of `client.email.send`. */
export interface EmailSendResult extends OtpSendResultFields {
  /** The destination, masked. */
  email: string;
}

/**
 * `data` of a successful OTP verify. A wrong code is not a result but a
 * {@link TwoFactorError} (`INVALID_CODE`, with `data.attemptsRemaining`).
 */
export interface OtpVerifyResult {
  verified: true;
  verificationId: string;
  /** Present when the verify named `userId` and `purpose`. */
  mfa?: MfaProgress;
  test?: boolean;
}

/** `data` of an OTP status call. */
export interface OtpStatusResult {
  /** Whether a live code is waiting to be verified. */
  pending: boolean;
  /** Expiry of the newest code for this destination and purpose; null when none was ever sent. */
  expiresAt: IsoDateTime | null;
  /** Wrong codes the pending code still tolerates; 0 when nothing is pending. */
  attemptsRemaining: number;
  /** When the newest code was verified; null while it is not. */
  verifiedAt: IsoDateTime | null;
}

/** `client.sms` — one-time codes by SMS (`/otp/*`). */
export class SmsApi {
  readonly #transport: HttpTransport;

  /** @internal Built by {@link TwoFactorClient}. */
  constructor(transport: HttpTransport) {
    this.#transport = transport;
  }

  /** `POST /otp/send` — sends a code, replacing any pending one for the same phone and purpose. */
  async send(input: SmsSendInput, options: PostRequestOptions = {}): Promise<SmsSendResult> {
    return this.#transport.request({ method: "POST", path: "/otp/send", body: input, ...postOptions(options) });
  }

  /** `POST /otp/verify` — checks a code; each wrong one uses up an attempt (5 per code). */
  async verify(input: SmsVerifyInput, options: PostRequestOptions = {}): Promise<OtpVerifyResult> {
    return this.#transport.request({ method: "POST", path: "/otp/verify", body: input, ...postOptions(options) });
  }

  /** `GET /otp/status?phone=…&purpose=…` — the state of the pending code. */
  async status(input: SmsStatusInput, options: RequestOptions = {}): Promise<OtpStatusResult> {
    return this.#transport.request({
      method: "GET",
      path: "/otp/status",
      query: { phone: input.phone, purpose: input.purpose },
      signal: options.signal,
    });
  }
}

/** `client.email` — one-time codes by email (`/email-otp/*`). */
export class EmailApi {
  readonly #transport: HttpTransport;

  /** @internal Built by {@link TwoFactorClient}. */
  constructor(transport: HttpTransport) {
    this.#transport = transport;
  }

  /** `POST /email-otp/send` — sends a code, replacing any pending one for the same address and purpose. */
  async send(input: EmailSendInput, options: PostRequestOptions = {}): Promise<EmailSendResult> {
    return this.#transport.request({ method: "POST", path: "/email-otp/send", body: input, ...postOptions(options) });
  }

  /** `POST /email-otp/verify` — checks a code; each wrong one uses up an attempt (5 per code). */
  async verify(input: EmailVerifyInput, options: PostRequestOptions = {}): Promise<OtpVerifyResult> {
    return this.#transport.request({ method: "POST", path: "/email-otp/verify", body: input, ...postOptions(options) });
  }

  /** `GET /email-otp/status?email=…&purpose=…` — the state of the pending code. */
  async status(input: EmailStatusInput, options: RequestOptions = {}): Promise<OtpStatusResult> {
    return this.#transport.request({
      method: "GET",
      path: "/email-otp/status",
      query: { email: input.email, purpose: input.purpose },
      signal: options.signal,
    });
  }
}
