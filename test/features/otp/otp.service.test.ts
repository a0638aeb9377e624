/**
 * The pieces of the code channels that need no database: code generation, locale choice,
 * masking, email validation and templates.
 */
import { describe, expect, it } from "vitest";
import { resolveAppSettings } from "../../../src/features/apps/app-settings.ts";
import { maskEmail, normalizeEmail } from "../../../src/features/email/email.service.ts";
import { renderEmail } from "../../../src/features/email/email.templates.ts";
import { generateCode, resolveLocale } from "../../../src/features/otp/otp.service.ts";
import { renderTemplate } from "../../../src/features/otp/otp.templates.ts";
import { maskPhone, normalizePhone } from "../../../src/features/sms/sms.service.ts";
import { renderSms } from "../../../src/features/sms/sms.templates.ts";
import { AppError } from "../../../src/infra/errors.ts";
import { testConfig } from "../../helpers/build-app.ts";

const settingsWith = (otp: Record<string, unknown> = {}, name = "Shop") =>
  resolveAppSettings({ id: "app_1", name, settings: { otp } }, testConfig());

describe("generateCode", () => {
  it.each([4, 6, 8, 10])("gives %i decimal digits, leading zeros kept", (length) => {
    for (let i = 0; i < 200; i++) expect(generateCode(length)).toMatch(new RegExp(`^\\d{${length}}$`));
  });

  it("is spread over the whole range (each digit position takes all ten values)", () => {
    const codes = Array.from({ length: 4000 }, () => generateCode(6));
    for (let position = 0; position < 6; position++) {
      const seen = new Set(codes.map((c) => c[position]));
      expect(seen.size).toBe(10);
    }
    expect(new Set(codes).size).toBeGreaterThan(3900);
    // A first digit of 0 is as likely as any other (no padding bias): about 400 of 4000.
    const zeros = codes.filter((c) => c.startsWith("0")).length;
    expect(zeros).toBeGreaterThan(250);
    expect(zeros).toBeLessThan(550);
  });
});

describe("resolveLocale", () => {
  it.each([
    [undefined, "ko", "ko"],
    ["en", "ko", "en"],
    ["en-US", "ko", "en"],
    ["KO_kr", "en", "ko"],
    ["fr", "en", "en"],
  ] as const)("%s with fallback %s → %s", (requested, fallback, expected) => {
    expect(resolveLocale(requested, fallback)).toBe(expected);
  });
});

describe("masking", () => {
  it("phones keep the calling code and the last four digits", () => {
    expect(maskPhone("+821012345678", "82")).toBe("+82******5678");
    expect(maskPhone("+14155552671", "1")).toBe("+1******2671");
    expect(normalizePhone("010-1234-5678", "KR")).toEqual({ value: "+821012345678", masked: "+82******5678", country: "KR" });
  });

  it("emails keep one character and the domain", () => {
    expect(maskEmail("alice@example.com")).toBe("a***@example.com");
    expect(maskEmail("a@example.com")).toBe("a***@example.com");
  });

  it("normalizePhone uses the default region for national numbers", () => {
    expect(normalizePhone("(415) 555-2671", "US").value).toBe("+14155552671");
    expect(() => normalizePhone("(415) 555-2671", "KR")).toThrow(AppError);
  });
});

describe("normalizeEmail", () => {
  it.each([
    ["Alice@Example.COM", "alice@example.com"],
    ["  bob.smith+otp@mail.example.co.kr ", "bob.smith+otp@mail.example.co.kr"],
    ["user@bücher.example", "user@xn--bcher-kva.example"],
    ["x@example.com.", "x@example.com"],
  ])("%s → %s", (input, expected) => {
    expect(normalizeEmail(input).value).toBe(expected);
  });

  it.each(["plain", "a@b", "a@localhost", "@example.com", "a@", ".a@example.com", "a.@example.com", "a..b@example.com", "\"quoted\"@example.com", "a@ex_ample.com", "a@-x.com", "a@x-.com", "a@1.2.3.4", `${"l".repeat(65)}@example.com`, `a@${"d".repeat(250)}.com`, "a@example.com\nBcc: b@example.com"])(
    "%s → INVALID_EMAIL",
    (input) => {
      expect(() => normalizeEmail(input)).toThrow(expect.objectContaining({ code: "INVALID_EMAIL" }));
    },
  );
});

describe("templates", () => {
  it("fills placeholders once; a value containing {code} is not expanded again", () => {
    expect(renderTemplate("{appName}: {code} ({minutes})", { appName: "{code}", code: "123456", minutes: 3 })).toBe("{code}: 123456 (3)");
  });

  it("escapes values in HTML", () => {
    expect(renderTemplate("<b>{appName}</b>", { appName: `<script>"x"&'y'</script>`, code: "1", minutes: 1 }, { html: true })).toBe(
      "<b>&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;</b>",
    );
  });

  it("SMS: ko by default; an override without {code} is ignored (the user could never get the code)", () => {
    expect(renderSms(settingsWith(), "ko", "123456", 180)).toBe("[Shop] 인증번호 123456 를 입력해주세요.");
    expect(renderSms(settingsWith({ templates: { sms: { ko: { text: "no code here" } } } }), "ko", "123456", 180)).toBe("[Shop] 인증번호 123456 를 입력해주세요.");
    expect(renderSms(settingsWith({ templates: { sms: { en: { text: "{appName} {code} {minutes}m" } } } }), "en", "123456", 300)).toBe("Shop 123456 5m");
  });

  it("email: subject, text and HTML per locale with the app's name", () => {
    const ko = renderEmail(settingsWith({}, "A&B"), "ko", "654321", 180);
    expect(ko.subject).toBe("[A&B] 인증번호 안내");
    expect(ko.text).toContain("654321");
    expect(ko.html).toContain("A&amp;B");
    expect(ko.html).toContain("654321");
    const en = renderEmail(settingsWith({}, "A&B"), "en", "654321", 600);
    expect(en.subject).toBe("[A&B] Your verification code");
    expect(en.text).toContain("It expires in 10 minutes.");
  });
});
