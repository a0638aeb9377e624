/**
 * The SMS channel (API.md §4.1): phone numbers normalized to E.164 with the deployment's
 * default region, the app's allowed countries enforced before anything is stored or sent
 * (SMS-pumping defence), the text rendered per locale and handed to the configured SmsSender.
 */
import type { Config } from "../../config.ts";
import { AppError } from "../../infra/errors.ts";
import type { SmsSender } from "../../infra/sms.ts";
import type { OtpChannelDriver, OtpDestination } from "../otp/otp.service.ts";
import { parsePhone } from "./sms.phone.ts";
import { renderSms } from "./sms.templates.ts";

/** `+821012345678` → `+82******5678`: the calling code and the last four digits stay visible. */
export function maskPhone(e164: string, callingCode: string): string {
  const national = e164.slice(1 + callingCode.length);
  const visible = national.length > 6 ? 4 : 2;
  return `+${callingCode}${"*".repeat(Math.max(0, national.length - visible))}${national.slice(-visible)}`;
}

export function normalizePhone(raw: string, defaultCountry: string): OtpDestination {
  const parsed = parsePhone(raw, defaultCountry);
  if (typeof parsed === "string") {
    const message = parsed === "not_sms_capable"
      ? "this number cannot receive SMS (fixed line, toll-free or premium rate)"
      : `not a valid phone number: use E.164 (+821012345678) or a national number of ${defaultCountry}`;
    throw new AppError("INVALID_PHONE", { message });
  }
  return { value: parsed.e164, masked: maskPhone(parsed.e164, parsed.callingCode), ...(parsed.country ? { country: parsed.country } : {}) };
}

export function smsDriver(config: Config, sender: SmsSender): OtpChannelDriver {
  return {
    channel: "sms",
    normalize: (raw) => normalizePhone(raw, config.DEFAULT_COUNTRY),
    assertAllowed(destination, settings) {
      const allowed = settings.otp.allowedCountries;
      if (!destination.country || !allowed.includes(destination.country)) {
        throw new AppError("COUNTRY_NOT_ALLOWED", {
          message: `this app may not send SMS to ${destination.country ?? "numbers without a country"}; allowed: ${allowed.join(", ") || "none"}`,
        });
      }
    },
    async deliver({ appId, destination, code, settings, locale, ttlSeconds }) {
      await sender.send({ to: destination.value, body: renderSms(settings, locale, code, ttlSeconds), code, appId });
    },
  };
}
