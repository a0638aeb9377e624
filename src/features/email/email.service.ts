/**
 * The email channel (API.md §4.2): addresses validated and lower-cased, the message rendered
 * per locale (subject, plain text, HTML) and handed to the configured Mailer.
 */
import { domainToASCII } from "node:url";
import { AppError } from "../../infra/errors.ts";
import type { Mailer } from "../../infra/mailer.ts";
import type { OtpChannelDriver, OtpDestination } from "../otp/otp.service.ts";
import { renderEmail } from "./email.templates.ts";

/** RFC 5321 §4.5.3.1: 64 octets of local part, 254 for the whole path a mailbox can use. */
const MAX_LOCAL_LENGTH = 64;
const MAX_ADDRESS_LENGTH = 254;
/** RFC 5322 dot-atom: atext runs separated by single dots. Quoted local parts are not accepted. */
const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
/** A top-level domain: letters, or an IDN's `xn--` form. */
const TOP_LEVEL = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

/** `alice@example.com` → `a***@example.com`: one character of the local part, the domain in full. */
export function maskEmail(address: string): string {
  const at = address.lastIndexOf("@");
  return `${address.slice(0, 1)}***${address.slice(at)}`;
}

/**
 * A deliverable-looking address, lower-cased (local part included, as the contract asks:
 * `Alice@Example.com` and `alice@example.com` are one destination), with an internationalized
 * domain in its ASCII (punycode) form. Throws INVALID_EMAIL.
 */
export function normalizeEmail(raw: string): OtpDestination {
  const invalid = () => new AppError("INVALID_EMAIL", { message: "not a valid email address" });
  const input = raw.normalize("NFC").trim().toLowerCase();
  const at = input.lastIndexOf("@");
  if (at <= 0 || at === input.length - 1) throw invalid();
  const local = input.slice(0, at);
  const domain = domainToASCII(input.slice(at + 1).replace(/\.$/, ""));
  if (!domain || local.length > MAX_LOCAL_LENGTH || !LOCAL_PART.test(local)) throw invalid();
  const labels = domain.split(".");
  if (labels.length < 2 || !labels.every((label) => DOMAIN_LABEL.test(label)) || !TOP_LEVEL.test(labels.at(-1)!)) throw invalid();
  const address = `${local}@${domain}`;
  if (address.length > MAX_ADDRESS_LENGTH) throw invalid();
  return { value: address, masked: maskEmail(address) };
}

export function emailDriver(mailer: Mailer): OtpChannelDriver {
  return {
    channel: "email",
    normalize: normalizeEmail,
    async deliver({ destination, code, settings, locale, ttlSeconds }) {
      const message = renderEmail(settings, locale, code, ttlSeconds);
      await mailer.send({ to: destination.value, ...message });
    },
  };
}
