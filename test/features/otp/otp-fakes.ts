/**
 * Providers for the code channels that keep what they were asked to send, so tests read the
 * code the way a user would: from the message.
 */
import type { Mailer, MailMessage } from "../../../src/infra/mailer.ts";
import type { SmsMessage, SmsSender } from "../../../src/infra/sms.ts";

export interface CapturingSms extends SmsSender {
  messages: SmsMessage[];
  /** The code in the newest message to `to` (read from the text, not the `code` field). */
  lastCode(to: string): string;
  /** Makes the next sends fail (a provider outage) until set back to undefined. */
  failWith: Error | undefined;
}

export function capturingSms(): CapturingSms {
  const sender: CapturingSms = {
    name: "capture",
    messages: [],
    failWith: undefined,
    async send(message) {
      if (sender.failWith) throw sender.failWith;
      sender.messages.push(message);
    },
    lastCode(to) {
      const message = sender.messages.filter((m) => m.to === to).at(-1);
      if (!message) throw new Error(`no SMS was sent to ${to}`);
      return codeIn(message.body);
    },
  };
  return sender;
}

export interface CapturingMailer extends Mailer {
  messages: Array<MailMessage>;
  lastCode(to: string): string;
}

export function capturingMailer(): CapturingMailer {
  const mailer: CapturingMailer = {
    name: "capture",
    messages: [],
    async send(message) {
      mailer.messages.push(message);
    },
    lastCode(to) {
      const message = mailer.messages.filter((m) => m.to === to).at(-1);
      if (!message) throw new Error(`no email was sent to ${to}`);
      return codeIn(message.text);
    },
  };
  return mailer;
}

/** The first run of 4 to 10 digits in a message. */
export function codeIn(text: string): string {
  const match = /(?<!\d)(\d{4,10})(?!\d)/.exec(text);
  if (!match) throw new Error(`no code in ${JSON.stringify(text)}`);
  return match[1]!;
}

/** A code of the same length that is certainly not `code`. */
export function wrongCode(code: string): string {
  return code.split("").map((d) => String((Number(d) + 1) % 10)).join("");
}
