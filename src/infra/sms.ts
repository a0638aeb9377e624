/**
 * How an SMS leaves (API.md §10, `SMS_PROVIDER`): `console` prints it (the default, for local
 * use), `http` posts JSON to a gateway of your own, `twilio` calls Twilio's Messages API.
 * Every provider call has a deadline (10 s unless told otherwise); any refusal, error or
 * timeout becomes `DELIVERY_FAILED` with a message that names the provider and never the text.
 */
import type { Logger } from "pino";
import type { Config } from "../config.ts";
import { AppError } from "./errors.ts";

/** One text message to one E.164 number. */
export interface SmsMessage {
  /** E.164, e.g. `+821012345678`. */
  to: string;
  /** The whole text, code included. */
  body: string;
  /** The code alone, for gateways that build their own text (http provider). */
  code: string;
  /** The app the message is sent for. */
  appId: string;
}

export interface SmsSender {
  /** Short name for logs and metrics (`console`, `http`, `twilio`, or a test double's). */
  readonly name: string;
  /** Resolves once the provider accepted the message; throws (`DELIVERY_FAILED`) otherwise. */
  send(message: SmsMessage): Promise<void>;
}

/** Longest a provider may take to accept one message. */
export const SMS_PROVIDER_TIMEOUT_MS = 10_000;

export interface SmsSenderOptions {
  /** The console provider prints here. */
  logger?: Pick<Logger, "info">;
  /** Overrides SMS_PROVIDER_TIMEOUT_MS (tests of the timeout path). */
  timeoutMs?: number;
  /** Overrides the global fetch (tests). */
  fetch?: typeof fetch;
}

/** The sender `SMS_PROVIDER` names, configured from `config`. */
export function createSmsSender(config: Config, options: SmsSenderOptions = {}): SmsSender {
  const timeoutMs = options.timeoutMs ?? SMS_PROVIDER_TIMEOUT_MS;
  const doFetch = options.fetch ?? fetch;
  switch (config.SMS_PROVIDER) {
    case "http":
      return httpSmsSender({ url: config.SMS_HTTP_URL!, token: config.SMS_HTTP_TOKEN, timeoutMs, fetch: doFetch });
    case "twilio":
      return twilioSmsSender({
        baseUrl: config.TWILIO_BASE_URL,
        accountSid: config.TWILIO_ACCOUNT_SID!,
        authToken: config.TWILIO_AUTH_TOKEN!,
        from: config.TWILIO_FROM!,
        timeoutMs,
        fetch: doFetch,
      });
    case "console":
      return consoleSmsSender(options.logger ?? { info: (_obj: unknown, msg?: string) => console.log(msg) });
  }
}

/** Prints the message instead of sending it: its "delivery" is the log line. */
export function consoleSmsSender(logger: Pick<Logger, "info">): SmsSender {
  return {
    name: "console",
    async send(message) {
      logger.info({ provider: "console", channel: "sms", to: message.to, appId: message.appId }, `SMS to ${message.to}: ${message.body}`);
    },
  };
}

/**
 * `SMS_PROVIDER=http`: `POST <url>` with `Content-Type: application/json` and the body
 * `{"to","body","code","appId"}`, plus `Authorization: Bearer <SMS_HTTP_TOKEN>` when set.
 * Any 2xx is acceptance.
 */
export function httpSmsSender(options: { url: string; token?: string; timeoutMs: number; fetch: typeof fetch }): SmsSender {
  return {
    name: "http",
    async send(message) {
      const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      const body = JSON.stringify({ to: message.to, body: message.body, code: message.code, appId: message.appId });
      await post("http", options, options.url, headers, body);
    },
  };
}

/**
 * `SMS_PROVIDER=twilio`: Twilio's Create Message call, `POST
 * {base}/2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP basic auth (SID, auth token)
 * and the form-encoded fields `To`, `From`, `Body`. Twilio answers 201 on acceptance.
 */
export function twilioSmsSender(options: { baseUrl: string; accountSid: string; authToken: string; from: string; timeoutMs: number; fetch: typeof fetch }): SmsSender {
  const url = `${options.baseUrl.replace(/\/+$/, "")}/2010-04-01/Accounts/${encodeURIComponent(options.accountSid)}/Messages.json`;
  const authorization = `Basic ${Buffer.from(`${options.accountSid}:${options.authToken}`, "utf8").toString("base64")}`;
  return {
    name: "twilio",
    async send(message) {
      const form = new URLSearchParams({ To: message.to, From: options.from, Body: message.body });
      const headers = { "content-type": "application/x-www-form-urlencoded", accept: "application/json", authorization };
      await post("twilio", options, url, headers, form.toString());
    },
  };
}

async function post(provider: string, options: { timeoutMs: number; fetch: typeof fetch }, url: string, headers: Record<string, string>, body: string): Promise<void> {
  let response: Response;
  try {
    response = await options.fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(options.timeoutMs), redirect: "error" });
  } catch (err) {
    const timedOut = (err as Error)?.name === "TimeoutError" || (err as Error)?.name === "AbortError";
    throw new AppError("DELIVERY_FAILED", {
      message: timedOut ? `the SMS provider did not answer within ${Number((options.timeoutMs / 1000).toFixed(1))} s` : "the SMS provider could not be reached",
      cause: new Error(`${provider}: ${timedOut ? "timeout" : ((err as { cause?: { code?: string } }).cause?.code ?? (err as Error)?.name ?? "network error")}`),
    });
  }
  // Read the answer to the end so the connection can be reused; its content is not needed
  // (and is never logged: a gateway may echo the text back).
  await response.arrayBuffer().catch(() => undefined);
  if (!response.ok) {
    throw new AppError("DELIVERY_FAILED", {
      message: `the SMS provider refused the message (HTTP ${response.status})`,
      cause: new Error(`${provider}: HTTP ${response.status}`),
    });
  }
}
