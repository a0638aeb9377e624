/**
 * Message templates of the code channels: `{appName}`, `{code}` and `{minutes}` placeholders,
 * per locale, with the app's own overrides (settings.otp.templates) over the built-in text.
 */

export interface TemplateValues {
  appName: string;
  code: string;
  /** Lifetime of the code in whole minutes (at least 1). */
  minutes: number;
}

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/**
 * Fills the placeholders in one pass (a value that itself contains `{code}` is not expanded
 * again). In HTML, values are escaped: an app name is data, never markup.
 */
export function renderTemplate(template: string, values: TemplateValues, options: { html?: boolean } = {}): string {
  return template.replace(/\{(appName|code|minutes)\}/g, (_match, name: keyof TemplateValues) => {
    const value = String(values[name]);
    return options.html ? escapeHtml(value) : value;
  });
}

/** A usable override: a non-empty string of sane size that (for message bodies) contains the code. */
export function usableTemplate(candidate: unknown, options: { requireCode: boolean }): candidate is string {
  return typeof candidate === "string" && candidate.trim() !== "" && candidate.length <= 10_000 && (!options.requireCode || candidate.includes("{code}"));
}

export function minutesOf(ttlSeconds: number): number {
  return Math.max(1, Math.round(ttlSeconds / 60));
}
