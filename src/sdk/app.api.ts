import type { HttpTransport } from "./transport.ts";
import type { RequestOptions } from "./types.ts";

/** The app (tenant) the API key belongs to. */
export interface AppInfo {
  /** Public id, `app_…`. */
  appId: string;
  name: string;
  /** Per-app overrides of deployment defaults (code length, TTLs, templates, …). */
  settings: Record<string, unknown>;
}

/** `client.app` — the calling key's app (API.md §1). */
export class AppApi {
  readonly #transport: HttpTransport;

  /** @internal Built by {@link TwoFactorClient}. */
  constructor(transport: HttpTransport) {
    this.#transport = transport;
  }

  /** `GET /app` — the app the API key belongs to; a cheap way to check a key. */
  async get(options: RequestOptions = {}): Promise<AppInfo> {
    return this.#transport.request({ method: "GET", path: "/app", signal: options.signal });
  }
}
