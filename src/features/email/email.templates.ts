/**
 * Email subject, plain text and HTML per locale (API.md §4.2), the app's name in each. An app
 * overrides any of them with settings.otp.templates.email.<locale>.{subject,text,html}.
 */
import type { AppSettings, Locale } from "../apps/app-settings.ts";
import { minutesOf, renderTemplate, usableTemplate } from "../otp/otp.templates.ts";

interface EmailTemplate {
  subject: string;
  text: string;
  html: string;
}

const html = (lang: Locale, heading: string, lead: string, expiry: string, ignore: string) => `<!doctype html>
<html lang="${lang}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${heading}</title></head>
<body style="margin:0;padding:24px;background:#f5f6f8;font-family:-apple-system,BlinkMacSystemFont,'Segoe UI','Apple SD Gothic Neo','Malgun Gothic',sans-serif;color:#1f2328">
  <div style="max-width:480px;margin:0 auto;background:#ffffff;border-radius:8px;padding:32px">
    <p style="margin:0 0 8px;font-size:14px;color:#57606a">{appName}</p>
    <h1 style="margin:0 0 16px;font-size:20px">${heading}</h1>
    <p style="margin:0 0 16px;font-size:15px">${lead}</p>
    <p style="margin:0 0 16px;font-size:32px;font-weight:700;letter-spacing:6px;font-family:'SFMono-Regular',Consolas,monospace">{code}</p>
    <p style="margin:0 0 8px;font-size:14px;color:#57606a">${expiry}</p>
    <p style="margin:0;font-size:13px;color:#8c959f">${ignore}</p>
  </div>
</body>
</html>`;

export const DEFAULT_EMAIL_TEMPLATES: Record<Locale, EmailTemplate> = {
  ko: {
    subject: "[{appName}] 인증번호 안내",
    text: "[{appName}] 인증번호는 {code} 입니다.\n{minutes}분 안에 입력해주세요.\n\n본인이 요청하지 않았다면 이 메일을 무시하세요.\n",
    html: html("ko", "인증번호 안내", "아래 인증번호를 입력해주세요.", "{minutes}분 안에 입력해주세요.", "본인이 요청하지 않았다면 이 메일을 무시하세요."),
  },
  en: {
    subject: "[{appName}] Your verification code",
    text: "[{appName}] Your verification code is {code}.\nIt expires in {minutes} minutes.\n\nIf you did not ask for it, ignore this email.\n",
    html: html("en", "Your verification code", "Enter this code to continue:", "It expires in {minutes} minutes.", "If you did not ask for it, ignore this email."),
  },
};

export function renderEmail(settings: AppSettings, locale: Locale, code: string, ttlSeconds: number): EmailTemplate {
  const override = settings.otp.templates.email[locale] ?? {};
  const defaults = DEFAULT_EMAIL_TEMPLATES[locale];
  const values = { appName: settings.appName, code, minutes: minutesOf(ttlSeconds) };
  const subject = usableTemplate(override.subject, { requireCode: false }) ? override.subject : defaults.subject;
  const text = usableTemplate(override.text, { requireCode: true }) ? override.text : defaults.text;
  const htmlBody = usableTemplate(override.html, { requireCode: true }) ? override.html : defaults.html;
  return {
    // One line: a line break in a header value is never passed on.
    subject: renderTemplate(subject, values).replace(/[\r\n]+/g, " ").trim(),
    text: renderTemplate(text, values),
    html: renderTemplate(htmlBody, values, { html: true }),
  };
}
