/**
 * pino options: JSON logs with request ids; keys, codes, tokens, secrets and passwords redacted
 * wherever they appear in a logged object (API.md §10).
 */
import type { LoggerOptions } from "pino";

const SENSITIVE_FIELDS = ["code", "token", "secret", "password", "apiKey", "deviceToken", "key", "otp", "signature"];

export const REDACT_PATHS = [
  'req.headers["x-api-key"]',
  "req.headers.authorization",
  'req.headers["x-device-token"]',
  "req.headers.cookie",
  ...SENSITIVE_FIELDS,
  ...SENSITIVE_FIELDS.map((field) => `*.${field}`),
  ...SENSITIVE_FIELDS.map((field) => `*.*.${field}`),
];

/** The URL with every query value masked: `?phone=01012345678` is personal data. */
export function maskQuery(url: string | undefined): string | undefined {
  if (!url) return url;
  const index = url.indexOf("?");
  if (index === -1) return url;
  const masked = url
    .slice(index + 1)
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      return eq === -1 ? pair : `${pair.slice(0, eq)}=[redacted]`;
    })
    .join("&");
  return `${url.slice(0, index)}?${masked}`;
}

interface LoggedRequest {
  id?: string;
  method?: string;
  url?: string;
  ip?: string;
  socket?: { remoteAddress?: string };
}

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    serializers: {
      req: (req: LoggedRequest) => ({ method: req.method, url: maskQuery(req.url), remoteAddress: req.ip ?? req.socket?.remoteAddress }),
    },
    base: { service: "latchkey" },
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
  };
}
