import { postOptions, type HttpTransport } from "./transport.ts";
import type { Channel, PostRequestOptions } from "./types.ts";

/** Input of `client.mfa.check`. */
export interface MfaCheckInput {
  userId: string;
  /** The action being attempted (`login`, `payment`, …); policies match on it. */
  purpose: string;
  /** Facts policies may match on. */
  context?: {
    ip?: string;
    amount?: number;
    deviceId?: string;
  };
}

/** `data` of `client.mfa.check` when nothing more is needed. */
export interface MfaCheckResult {
  allowed: true;
  /** Channels verified recently enough to count. */
  satisfiedChannels: Channel[];
}

/** `client.mfa` — MFA policy decisions (API.md §8). */
export class MfaApi {
  readonly #transport: HttpTransport;

  /** @internal Built by {@link TwoFactorClient}. */
  constructor(transport: HttpTransport) {
    this.#transport = transport;
  }

  /**
   * `POST /mfa/check` — asks whether the user may go ahead with `purpose`.
   *
   * @returns `{ allowed: true, satisfiedChannels }` when every matching policy is satisfied.
   * @throws TwoFactorError `MFA_REQUIRED` (403) otherwise, with `requiredChannels`
   *   (what to verify next) and `matchedPolicies`.
   */
  async check(input: MfaCheckInput, options: PostRequestOptions = {}): Promise<MfaCheckResult> {
    return this.#transport.request({ method: "POST", path: "/mfa/check", body: input, ...postOptions(options) });
  }
}
