/**
 * The API-key cache: no database round trip per request, and a revoked key dies within the TTL
 * (≤ 5 s) on every instance without any signal between them.
 */
import { describe, expect, it } from "vitest";
import type { KeysRepository, ApiKeyRecord } from "../../src/features/keys/keys.repository.ts";
import { hashApiKey } from "../../src/features/keys/keys.service.ts";
import { ApiKeyAuthenticator } from "../../src/infra/auth.ts";
import { ManualClock } from "../../src/infra/clock.ts";

const KEY = "2fa_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";

function countingRepo(record: ApiKeyRecord | null) {
  const calls = { lookups: 0, touches: 0 };
  let current = record;
  const repo = {
    findActiveByHash: async (hash: string) => {
      calls.lookups++;
      await new Promise((r) => setTimeout(r, 5));
      return current && current.hash === hash && !current.revokedAt ? current : null;
    },
    touch: async () => {
      calls.touches++;
    },
  } as unknown as KeysRepository;
  return { repo, calls, revoke: () => (current = current && { ...current, revokedAt: new Date() }) };
}

const record: ApiKeyRecord = { id: "key_1", appId: "app_1", kind: "secret", name: null, prefix: KEY.slice(0, 12), hash: hashApiKey(KEY), createdAt: new Date(), lastUsedAt: null, revokedAt: null };

describe("ApiKeyAuthenticator", () => {
  it("looks a key up once for many requests within the TTL, including concurrent ones", async () => {
    const { repo, calls } = countingRepo(record);
    const auth = new ApiKeyAuthenticator(repo, { ttlMs: 2000, clock: new ManualClock() });
    const results = await Promise.all(Array.from({ length: 50 }, () => auth.authenticate(KEY)));
    for (let i = 0; i < 50; i++) await auth.authenticate(KEY);
    expect(results.every((r) => r?.appId === "app_1")).toBe(true);
    expect(calls.lookups).toBe(1);
    expect(calls.touches).toBe(1);
  });

  it("a revoked key stops working once the TTL has passed", async () => {
    const clock = new ManualClock();
    const { repo, revoke } = countingRepo(record);
    const auth = new ApiKeyAuthenticator(repo, { ttlMs: 2000, clock });
    expect(await auth.authenticate(KEY)).not.toBeNull();
    revoke();
    clock.advance(2001);
    expect(await auth.authenticate(KEY)).toBeNull();
  });

  it("unknown and absurd keys are refused", async () => {
    const { repo } = countingRepo(record);
    const auth = new ApiKeyAuthenticator(repo, { ttlMs: 2000, clock: new ManualClock() });
    expect(await auth.authenticate(`${KEY}x`)).toBeNull();
    expect(await auth.authenticate("short")).toBeNull();
    expect(await auth.authenticate("x".repeat(10_000))).toBeNull();
  });
});
