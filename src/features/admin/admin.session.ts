/**
 * Operator sessions (API.md §9): login with email and password, a JWT per session, refresh,
 * logout. Each token names its session row (`jti`) and every request checks that row, so a
 * logout or a refresh ends the old token at once on every instance; the operator's role and
 * app are read from the database on each request, never trusted from the token.
 */
import type { Clock } from "../../infra/clock.ts";
import { hashPassword, randomToken, verifyPassword, type Keyring } from "../../infra/crypto.ts";
import { newId } from "../../shared/ids.ts";
import type { AdminRole } from "../../generated/prisma/enums.ts";
import { ADMIN_ERRORS } from "./admin.errors.ts";
import type { AdminRepository, AdminUserRecord } from "./admin.repository.ts";
import { signSessionToken, verifySessionToken } from "./admin.tokens.ts";

/** The operator a request acts as, read from the database for this request. */
export interface Operator {
  id: string;
  email: string;
  role: AdminRole;
  appId: string | null;
  sessionId: string;
  sessionExpiresAt: Date;
}

export interface IssuedSession {
  token: string;
  sessionId: string;
  expiresAt: Date;
}

/** A refused login names the operator only when the email exists (for the audit log, never the answer). */
export type LoginResult = { ok: true; user: AdminUserRecord; session: IssuedSession } | { ok: false; operatorId?: string };

/** Why a request's credentials were refused (recorded in the audit log). */
export type SessionFailureReason = "missing" | "api_key" | "invalid" | "expired" | "revoked";

export type SessionCheck =
  | { ok: true; operator: Operator }
  | { ok: false; reason: SessionFailureReason; actorId?: string };

/** Credentials of the API-key kinds (API.md §1): never accepted as an operator token. */
const API_KEY_PATTERN = /^(2fa|pk|ek)_/;

export interface AdminSessionsDeps {
  repo: AdminRepository;
  keyring: Keyring;
  clock: Clock;
  /** TOKEN_EXPIRATION: session lifetime in seconds (API.md §9: default 7 days). */
  lifetimeSeconds: number;
}

export class AdminSessions {
  /** A hash of a random password, to verify against when the email is unknown. */
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly deps: AdminSessionsDeps) {}

  /**
   * Email and password → a new session. An unknown email costs one scrypt verification like a
   * known one (against a hash of a random password), and both failures answer the same 401,
   * so neither the answer nor its timing tells whether an operator exists.
   */
  async login(input: { email: string; password: string }): Promise<LoginResult> {
    // Started before the lookup so the first unknown-email login does not take two hashes' time.
    this.dummyHash ??= hashPassword(randomToken(24));
    const user = await this.deps.repo.findByEmail(normalizeOperatorEmail(input.email));
    const stored = user?.passwordHash ?? (await this.dummyHash);
    const passwordMatches = await verifyPassword(input.password, stored);
    if (!user || !passwordMatches) return { ok: false, ...(user ? { operatorId: user.id } : {}) };
    const session = await this.issue(user);
    await this.deps.repo.touchLogin(user.id, this.deps.clock.now());
    return { ok: true, user, session };
  }

  /** A new session for the operator, the current one revoked in the same transaction. */
  async refresh(operator: Operator): Promise<IssuedSession & { refreshedAt: Date }> {
    const next = this.nextSession(operator.id);
    if (!(await this.deps.repo.replaceSession(operator.sessionId, next.row))) throw ADMIN_ERRORS.invalidToken();
    return { ...(await this.sign(operator, next)), refreshedAt: next.row.createdAt };
  }

  /** Ends the session: its token is refused from the next request on. */
  async logout(operator: Operator): Promise<void> {
    await this.deps.repo.revokeSession(operator.sessionId, this.deps.clock.now());
  }

  /** The operator behind `Authorization: Bearer <token>`, or why there is none. */
  async authenticate(authorization: string | undefined): Promise<SessionCheck> {
    const match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
    if (!match) return { ok: false, reason: "missing" };
    const token = match[1]!;
    if (API_KEY_PATTERN.test(token)) return { ok: false, reason: "api_key" };
    const now = this.deps.clock.now();
    const checked = await verifySessionToken(this.deps.keyring, token, now);
    if (!checked.ok) return checked.reason === "expired" ? { ok: false, reason: "expired", actorId: checked.sub } : { ok: false, reason: "invalid" };
    const { claims } = checked;
    const session = await this.deps.repo.findSession(claims.jti);
    if (!session || session.adminUserId !== claims.sub) return { ok: false, reason: "invalid" };
    if (session.revokedAt) return { ok: false, reason: "revoked", actorId: claims.sub };
    // The row and the token expire together; the row is checked too in case a clock moved.
    if (session.expiresAt <= now) return { ok: false, reason: "expired", actorId: claims.sub };
    const user = session.adminUser;
    return { ok: true, operator: { id: user.id, email: user.email, role: user.role, appId: user.appId, sessionId: session.id, sessionExpiresAt: session.expiresAt } };
  }

  private async issue(user: AdminUserRecord): Promise<IssuedSession> {
    const next = this.nextSession(user.id);
    await this.deps.repo.insertSession(next.row);
    return this.sign(user, next);
  }

  private nextSession(adminUserId: string) {
    // Whole seconds: `iat`/`exp` are NumericDates (RFC 7519 §2), and the row must agree with them.
    const iat = Math.floor(this.deps.clock.now().getTime() / 1000);
    const exp = iat + this.deps.lifetimeSeconds;
    return { iat, exp, row: { id: newId("ses"), adminUserId, createdAt: new Date(iat * 1000), expiresAt: new Date(exp * 1000) } };
  }

  private async sign(user: { id: string; role: AdminRole; appId: string | null }, next: ReturnType<AdminSessions["nextSession"]>): Promise<IssuedSession> {
    const token = await signSessionToken(this.deps.keyring, { sub: user.id, jti: next.row.id, role: user.role, appId: user.appId, iat: next.iat, exp: next.exp });
    return { token, sessionId: next.row.id, expiresAt: next.row.expiresAt };
  }
}

/** Operator emails are compared lower-cased and trimmed, as bootstrap stores ADMIN_EMAIL. */
export function normalizeOperatorEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Minimum operator password length (as ADMIN_PASSWORD; NIST SP 800-63B §3.1.1.2 asks ≥ 8). */
export const MIN_OPERATOR_PASSWORD_LENGTH = 12;

/** Creates an operator (the CLI's `operators create`). Throws RangeError for bad input. */
export async function createOperator(
  repo: AdminRepository,
  input: { email: string; password: string; role: AdminRole; appId?: string | null },
): Promise<AdminUserRecord> {
  const email = normalizeOperatorEmail(input.email);
  if (!/^[^\s@]+@[^\s@]+$/.test(email) || email.length > 320) throw new RangeError("give an email address");
  if (input.password.length < MIN_OPERATOR_PASSWORD_LENGTH) throw new RangeError(`the password must have at least ${MIN_OPERATOR_PASSWORD_LENGTH} characters`);
  if (input.role === "admin" && !input.appId) throw new RangeError("an admin manages one app: name it with --app");
  if (input.role !== "admin" && input.appId) throw new RangeError(`an ${input.role} sees every app; --app is only for role admin`);
  if (await repo.findByEmail(email)) throw new RangeError(`an operator ${email} already exists`);
  return repo.insert({ id: newId("adm"), email, passwordHash: await hashPassword(input.password), role: input.role, appId: input.appId ?? null });
}
