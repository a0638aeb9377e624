/**
 * Operators for admin API tests: created straight in the database with one shared password
 * hash (scrypt is slow on purpose; hashing once keeps the suite fast), logged in through the
 * real POST /api/v1/admin/login from an IP of their own so the login rate limit never bites a
 * test that is not about it.
 */
import type { AuditEntry } from "../../../src/features/audit/audit.repository.ts";
import type { LightMyRequestResponse } from "fastify";
import { vi } from "vitest";
import { adminRepository } from "../../../src/features/admin/admin.repository.ts";
import { hashPassword } from "../../../src/infra/crypto.ts";
import { newId } from "../../../src/shared/ids.ts";
import type { TestApp } from "../../helpers/build-app.ts";

export const PASSWORD = "correct horse battery staple";
let passwordHash: Promise<string> | undefined;

let ipCounter = 0;
/** A fresh client IP (TEST-NET-2/3 ranges), so each caller has its own login budget. */
export function freshIp(): string {
  ipCounter += 1;
  return `198.51.${Math.floor(ipCounter / 250) % 250}.${(ipCounter % 250) + 1}`;
}

export type Role = "owner" | "admin" | "viewer";

export interface TestOperator {
  id: string;
  email: string;
  role: Role;
  appId: string | null;
  token: string;
  headers: { authorization: string };
}

export async function createOperator(t: TestApp, role: Role, appId: string | null = null): Promise<Omit<TestOperator, "token" | "headers">> {
  passwordHash ??= hashPassword(PASSWORD);
  const email = `${role}-${newId("x").slice(2, 12).toLowerCase()}@example.com`;
  const row = await adminRepository(t.database.db.prisma).insert({ id: newId("adm"), email, passwordHash: await passwordHash, role, appId });
  return { id: row.id, email, role, appId };
}

export async function login(t: TestApp, email: string, password = PASSWORD, ip = freshIp()): Promise<LightMyRequestResponse> {
  return t.app.inject({ method: "POST", url: "/api/v1/admin/login", payload: { email, password }, remoteAddress: ip });
}

/** An operator of `role`, logged in. */
export async function operator(t: TestApp, role: Role, appId: string | null = null): Promise<TestOperator> {
  const created = await createOperator(t, role, appId);
  const res = await login(t, created.email);
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  const token = res.json().data.token as string;
  return { ...created, token, headers: { authorization: `Bearer ${token}` } };
}

/** An admin API call as `who` (a bearer token or an operator). */
export function call(
  t: TestApp,
  who: { headers: Record<string, string> } | Record<string, string>,
  method: "GET" | "POST" | "PATCH" | "DELETE",
  url: string,
  payload?: unknown,
): Promise<LightMyRequestResponse> {
  const headers = "headers" in who && typeof who.headers === "object" ? (who.headers as Record<string, string>) : (who as Record<string, string>);
  return t.app.inject({ method, url: `/api/v1/admin${url}`, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
}

/** An audit row as stored, without its id and time. */
export type AuditRow = Omit<AuditEntry, "id" | "createdAt">;

/** Audit rows matching `where`, waiting for the batched writer (it flushes within ~50 ms). */
export async function auditRows(t: TestApp, where: Record<string, unknown>, atLeast = 1): Promise<AuditRow[]> {
  let rows: AuditRow[] = [];
  await vi.waitFor(async () => {
    rows = (await t.database.db.prisma.auditLog.findMany({ where, orderBy: { createdAt: "asc" } })) as AuditRow[];
    if (rows.length < atLeast) throw new Error(`expected ${atLeast} audit rows for ${JSON.stringify(where)}, found ${rows.length}`);
  }, { timeout: 3000, interval: 25 });
  return rows;
}
