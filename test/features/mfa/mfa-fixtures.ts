/**
 * Shared pieces of the MFA tests: tenants with policies written straight through the policies
 * repository (the admin API is tested on its own), requests, TOTP enrolment through the real
 * HTTP routes, and the outbox rows.
 */
import type { LightMyRequestResponse } from "fastify";
import { expect } from "vitest";
import { policiesRepository } from "../../../src/features/mfa/policies.repository.ts";
import type { PolicyMatch } from "../../../src/features/mfa/policies.schemas.ts";
import type { ManualClock } from "../../../src/infra/clock.ts";
import { newId } from "../../../src/shared/ids.ts";
import type { TestApp } from "../../helpers/build-app.ts";
import { referenceTotp, tenantWithSettings } from "../totp/reference-totp.ts";

export interface PolicyInput {
  name: string;
  enabled?: boolean;
  priority?: number;
  match?: PolicyMatch;
  requiredChannels: string[];
  withinSeconds?: number;
}

export interface Tenant {
  appId: string;
  apiKey: string;
}

export async function addPolicies(t: TestApp, appId: string, policies: PolicyInput[]): Promise<void> {
  const repo = policiesRepository(t.database.db.prisma);
  for (const p of policies) {
    await repo.insert({
      id: newId("pol"),
      appId,
      name: p.name,
      enabled: p.enabled ?? true,
      priority: p.priority ?? 0,
      match: p.match ?? {},
      requiredChannels: p.requiredChannels,
      withinSeconds: p.withinSeconds ?? 300,
    });
  }
}

/** A fresh app (so policies never leak between tests) with these policies and settings. */
export async function tenantWithPolicies(t: TestApp, policies: PolicyInput[], settings: Record<string, unknown> = {}): Promise<Tenant> {
  const tenant = await tenantWithSettings(t, settings, "MFA App");
  await addPolicies(t, tenant.appId, policies);
  return tenant;
}

export function post(t: TestApp, key: string, url: string, payload: unknown): Promise<LightMyRequestResponse> {
  return t.app.inject({ method: "POST", url: `/api/v1${url}`, headers: { "x-api-key": key }, payload: payload as object });
}

export function check(t: TestApp, key: string, payload: unknown): Promise<LightMyRequestResponse> {
  return post(t, key, "/mfa/check", payload);
}

/** The contract's 403 body, exactly (API.md §2). */
export function mfaRequiredBody(requiredChannels: string[], matchedPolicies: string[]) {
  return { success: false, code: "MFA_REQUIRED", error: "additional verification required", requiredChannels, matchedPolicies };
}

/** Sets up TOTP for the user through the HTTP routes; returns the secret (the factor is still pending). */
export async function setupTotp(t: TestApp, key: string, userId: string): Promise<string> {
  const res = await post(t, key, "/totp/setup", { userId });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data.secret as string;
}

/** A TOTP verify through HTTP at the next 30 s step (every call gets a fresh step). */
export async function verifyTotp(t: TestApp, clock: ManualClock, key: string, input: { userId: string; secret: string; purpose?: string }): Promise<LightMyRequestResponse> {
  clock.advance(30_000);
  return post(t, key, "/totp/verify", { userId: input.userId, token: referenceTotp(input.secret, clock.now()), ...(input.purpose ? { purpose: input.purpose } : {}) });
}

export async function eventsOf(t: TestApp, appId: string, type: string): Promise<Array<{ event: string; channel?: string; data: Record<string, unknown> }>> {
  const rows = await t.database.db.query<{ payload: string }>("SELECT payload FROM events WHERE app_id = $1 AND type = $2 ORDER BY created_at, id", [appId, type]);
  return rows.map((r) => JSON.parse(r.payload));
}

export async function verificationsOf(t: TestApp, appId: string, userId: string): Promise<Array<{ channel: string; purpose: string }>> {
  return t.database.db.query("SELECT channel, purpose FROM verifications WHERE app_id = $1 AND external_user_id = $2 ORDER BY created_at, id", [appId, userId]);
}
