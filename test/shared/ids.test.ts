/**
 * Ids double as capability references (an event id, a delivery id), so they must be unguessable:
 * 24 base62 characters from the CSPRNG, each character uniform (rejection sampling, no modulo
 * bias), never repeated.
 */
import { describe, expect, it } from "vitest";
import { newId } from "../../src/shared/ids.ts";

describe("newId", () => {
  it("is the prefix, an underscore and 24 base62 characters", () => {
    for (let i = 0; i < 1000; i++) expect(newId("evt")).toMatch(/^evt_[0-9A-Za-z]{24}$/);
  });

  it("never repeats across 200,000 ids (the random pool is never reused)", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200_000; i++) seen.add(newId("x"));
    expect(seen.size).toBe(200_000);
  });

  it("uses every character about equally often (no modulo bias)", () => {
    const counts = new Map<string, number>();
    const ids = 50_000;
    for (let i = 0; i < ids; i++) for (const ch of newId("x").slice(2)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    expect(counts.size).toBe(62);
    const expected = (ids * 24) / 62;
    // Chi-square with 61 degrees of freedom: above 120 happens with probability < 1e-5.
    const chiSquare = [...counts.values()].reduce((sum, n) => sum + (n - expected) ** 2 / expected, 0);
    expect(chiSquare).toBeLessThan(120);
  });
});
