/**
 * SMS text per locale (API.md §4.1). Short on purpose: one GSM/UCS-2 segment where possible.
 * An app overrides it with settings.otp.templates.sms.<locale>.text.
 */
import type { AppSettings, Locale } from "../apps/app-settings.ts";
import { minutesOf, renderTemplate, usableTemplate } from "../otp/otp.templates.ts";

export const DEFAULT_SMS_TEMPLATES: Record<Locale, string> = {
  ko: "[{appName}] 인증번호 {code} 를 입력해주세요.",
  en: "[{appName}] Your verification code is {code}. It expires in {minutes} min.",
};

export function renderSms(settings: AppSettings, locale: Locale, code: string, ttlSeconds: number): string {
  const override = settings.otp.templates.sms[locale]?.text;
  const template = usableTemplate(override, { requireCode: true }) ? override : DEFAULT_SMS_TEMPLATES[locale];
  return renderTemplate(template, { appName: settings.appName, code, minutes: minutesOf(ttlSeconds) });
}
