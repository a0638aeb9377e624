/**
 * The one adapter for nodemailer: email leaves over SMTP (`SMTP_URL`, `SMTP_FROM`) as a
 * multipart/alternative message with a plain-text and an HTML part, or, with no SMTP_URL, is
 * printed (local use). Every send has a deadline (10 s unless told otherwise) covering the
 * connection, the greeting and the whole SMTP dialogue; a refusal, an error or the deadline
 * becomes `DELIVERY_FAILED` with a message that never carries the mail's content.
 */
import nodemailer from "nodemailer";
import type { Logger } from "pino";
import type { Config } from "../config.ts";
import { AppError } from "./errors.ts";

/** One message to one address. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  /** Short name for logs (`smtp`, `console`, or a test double's). */
  readonly name: string;
  /** Resolves once the server accepted the message; throws (`DELIVERY_FAILED`) otherwise. */
  send(message: MailMessage): Promise<void>;
}

/** Longest one SMTP delivery may take. */
export const MAIL_PROVIDER_TIMEOUT_MS = 10_000;

export interface MailerOptions {
  /** The console mailer prints here. */
  logger?: Pick<Logger, "info">;
  /** Overrides MAIL_PROVIDER_TIMEOUT_MS (tests of the timeout path). */
  timeoutMs?: number;
}

/** SMTP when SMTP_URL is set, else the console mailer. */
export function createMailer(config: Config, options: MailerOptions = {}): Mailer {
  if (!config.SMTP_URL) return consoleMailer(options.logger ?? { info: (_obj: unknown, msg?: string) => console.log(msg) });
  return smtpMailer({ url: config.SMTP_URL, from: config.SMTP_FROM, timeoutMs: options.timeoutMs ?? MAIL_PROVIDER_TIMEOUT_MS });
}

export function consoleMailer(logger: Pick<Logger, "info">): Mailer {
  return {
    name: "console",
    async send(message) {
      logger.info({ provider: "console", channel: "email", to: message.to }, `Email to ${message.to} — ${message.subject}\n${message.text}`);
    },
  };
}

export function smtpMailer(options: { url: string; from: string; timeoutMs: number }): Mailer {
  // One connection per message (no pool): nothing to close on shutdown, and a broken
  // connection never outlives the message that found it broken.
  const transport = nodemailer.createTransport({
    url: options.url,
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
  });
  return {
    name: "smtp",
    async send(message) {
      try {
        await transport.sendMail({
          from: options.from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          html: message.html,
          // RFC 3834: an automatic message; auto-responders should not answer it.
          headers: { "Auto-Submitted": "auto-generated" },
          signal: AbortSignal.timeout(options.timeoutMs),
        });
      } catch (err) {
        const e = err as { name?: string; code?: string; responseCode?: number };
        const timedOut = e.name === "TimeoutError" || e.name === "AbortError" || e.code === "ETIMEDOUT" || e.code === "EABORT";
        const message = timedOut
          ? `the mail server did not accept the message within ${Number((options.timeoutMs / 1000).toFixed(1))} s`
          : e.responseCode
            ? `the mail server refused the message (SMTP ${e.responseCode})`
            : "the mail server could not be reached";
        // Only the codes travel on: library messages may quote the server's reply or the address.
        throw new AppError("DELIVERY_FAILED", { message, cause: new Error(`smtp: ${e.code ?? e.name ?? "error"}${e.responseCode ? ` ${e.responseCode}` : ""}`) });
      }
    },
  };
}
