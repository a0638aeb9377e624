/**
 * The one adapter for libphonenumber-js: phone numbers as callers type them (`01012345678`,
 * `010-1234-5678`, `+82 10-1234-5678`) become E.164 (`+821012345678`), with the full ("max")
 * metadata so a number must match its country's real numbering plan, not only its length.
 */
import { parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js/max";

export interface ParsedPhone {
  /** E.164. */
  e164: string;
  /** ISO 3166 country, when the number belongs to one (non-geographic numbers have none). */
  country?: string;
  /** Digits of the country calling code (`82`). */
  callingCode: string;
}

/** Digits, spaces and the usual separators; anything else (letters, `;`, `tel:`) is refused. */
const PHONE_CHARACTERS = /^\+?[0-9 ().\-]{4,40}$/;

/**
 * Number types that cannot receive an SMS. Premium-rate, shared-cost and toll-free numbers are
 * also the classic targets of SMS pumping (traffic inflation fraud), so they are refused too.
 */
const NOT_SMS_CAPABLE = new Set(["FIXED_LINE", "PREMIUM_RATE", "TOLL_FREE", "SHARED_COST", "UAN", "VOICEMAIL", "PAGER"]);

export type PhoneProblem = "malformed" | "invalid" | "not_sms_capable";

/** The number in E.164, or why it is not one that can get an SMS. */
export function parsePhone(raw: string, defaultCountry: string): ParsedPhone | PhoneProblem {
  // NFKC folds full-width digits (０１０…) typed on CJK keyboards into ASCII.
  const input = raw.normalize("NFKC").trim();
  if (!PHONE_CHARACTERS.test(input)) return "malformed";
  const parsed = parsePhoneNumberFromString(input, defaultCountry as CountryCode);
  if (!parsed || parsed.ext || !parsed.isValid()) return "invalid";
  const type = parsed.getType();
  if (type && NOT_SMS_CAPABLE.has(type)) return "not_sms_capable";
  return { e164: parsed.number, callingCode: parsed.countryCallingCode, ...(parsed.country ? { country: parsed.country } : {}) };
}
