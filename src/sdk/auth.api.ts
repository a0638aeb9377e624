import type { HttpTransport } from "./transport.ts";
import type { RequestOptions } from "./types.ts";

/** Channels an ephemeral key may be scoped to (API.md §7). */
export type EphemeralKeyScope = "webauthn" | "totp" | "push_verify" | "push" | "sms" | "email";

export interface CreateEphemeralKeyParams {
  /** Lifetime in milliseconds (default 30000, at most 3600000). */
  epi?: number;
  /** IPs and CIDRs the key may be used from; absent: any. */
  ipa?: string[];
  /** The only end user the key may act for. */
  userId?: string;
  /** Default: webauthn, totp, push_verify. */
  scopes?: EphemeralKeyScope[];
}

export interface EphemeralKey {
  /** `ek_…`: hand it to the browser. */
  ephemeralKey: string;
  expiresAt: string;
  scopes: string[];
  userId: string | null;
  allowedIps: string[];
}

/** `client.auth` — short-lived keys for browsers (API.md §7); needs the secret key. */
export class AuthApi {
  readonly #transport: HttpTransport;

  /** @internal Built by {@link TwoFactorClient}. */
  constructor(transport: HttpTransport) {
    this.#transport = transport;
  }

  /** `POST /auth/ephemeral` — a new ephemeral key for one browser session. */
  async createEphemeralKey(params: CreateEphemeralKeyParams = {}, options: RequestOptions = {}): Promise<EphemeralKey> {
    const body = {
      ...(params.epi !== undefined ? { epi: params.epi } : {}),
      ...(params.ipa !== undefined ? { ipa: params.ipa.join(",") } : {}),
      ...(params.userId !== undefined ? { userId: params.userId } : {}),
      ...(params.scopes !== undefined ? { scopes: params.scopes.join(",") } : {}),
    };
    return this.#transport.request({ method: "POST", path: "/auth/ephemeral", body, signal: options.signal });
  }
}
