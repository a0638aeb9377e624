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

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    base: { service: "latchkey" },
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
  };
}
