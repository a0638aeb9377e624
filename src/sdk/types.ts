/**
 * Types shared by every namespace of the SDK.
 *
 * @module
 */

/** Options every method accepts. */
export interface RequestOptions {
  /** Aborts the call; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of methods that POST (API.md §6). */
export interface PostRequestOptions extends RequestOptions {
  /**
   * `Idempotency-Key` (≤ 255 chars): repeating the call with the same key and
   * body within 24 h replays the first answer instead of doing the work again
   * (e.g. sending a second SMS after a lost response).
   */
  idempotencyKey?: string;
}

/** A verification channel, as policies and `MFA_REQUIRED` name them. */
export type Channel = "sms" | "email" | "totp" | "webauthn" | "push" | (string & {});

/** `data.mfa` of a successful verify that named `userId` and `purpose` (API.md §8). */
export interface MfaProgress {
  /** Whether every channel the matching policies require is now verified. */
  satisfied: boolean;
  remainingChannels: Channel[];
}

/** Cursor pagination of list calls. */
export interface PageInput {
  /** `nextCursor` of the previous page. */
  cursor?: string;
  limit?: number;
}

/**
 * `data` of calls whose answer the contract does not describe (deletes,
 * renames): whatever object the server sent, or `undefined` when it sent none.
 */
export type UnspecifiedData = Record<string, unknown> | undefined;

/** An ISO 8601 timestamp, e.g. `2026-11-22T07:00:00.000Z`. */
export type IsoDateTime = string;
