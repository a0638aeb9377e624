/**
 * `/api/v1/admin` login, refresh-token, me, logout (API.md §9). `exp` is answered as an ISO
 * 8601 date-time, like every other time in the API; the token's own `exp` claim carries the
 * same instant in unix seconds.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Envelope, failures, ok } from "../../shared/envelope.ts";
import { ADMIN_ERRORS } from "./admin.errors.ts";
import { ADMIN_SECURITY, actorOf, adminRoute, noteOf, SESSION_FAILURES, TAGS } from "./admin.http.ts";
import { LoginBody, LoginData, LogoutData, MeData, RefreshData } from "./admin.schemas.ts";
import { normalizeOperatorEmail, type AdminSessions, type Operator } from "./admin.session.ts";

/** Login attempts per client IP per minute (OWASP Authentication Cheat Sheet: throttle guessing). */
export const LOGIN_ATTEMPTS_PER_MINUTE = 10;

const operatorView = (o: Pick<Operator, "id" | "email" | "role" | "appId">) => ({ id: o.id, email: o.email, role: o.role, appId: o.appId });

export const adminSessionRoutes: FastifyPluginAsyncTypebox<{ sessions: AdminSessions }> = async (app, { sessions }) => {
  app.post("/login", {
    config: {
      auth: "admin",
      admin: { action: "admin.login", public: true },
      rateLimit: { max: LOGIN_ATTEMPTS_PER_MINUTE, timeWindow: 60_000 },
    },
    schema: {
      tags: TAGS,
      summary: "Log in as an operator: a session token for Authorization: Bearer",
      description: `Wrong email and wrong password answer the same 401. At most ${LOGIN_ATTEMPTS_PER_MINUTE} attempts per minute per client IP; every attempt is audited.`,
      // No credential: the body is the credential (an empty requirement object means "none").
      security: [{}],
      body: LoginBody,
      response: { 200: Envelope(LoginData), ...failures("VALIDATION_ERROR", "UNAUTHORIZED", "RATE_LIMITED", "SERVICE_UNAVAILABLE") },
    },
  }, async (request) => {
    const note = noteOf(request);
    note.details = { email: normalizeOperatorEmail(request.body.email) };
    const result = await sessions.login(request.body);
    if (!result.ok) {
      note.actorId = result.operatorId;
      throw ADMIN_ERRORS.badCredentials();
    }
    const { user, session } = result;
    Object.assign(note, { actorId: user.id, appId: user.appId, target: session.sessionId });
    return ok({ token: session.token, user: operatorView(user), exp: session.expiresAt.toISOString() }, "logged in");
  });

  app.post("/refresh-token", {
    config: adminRoute("admin.refresh"),
    schema: {
      tags: TAGS,
      summary: "A new token for a new session; the token used for this call stops working",
      security: ADMIN_SECURITY,
      response: { 200: Envelope(RefreshData), ...failures(...SESSION_FAILURES) },
    },
  }, async (request) => {
    const actor = actorOf(request);
    actor.note.target = actor.operator.sessionId;
    const refreshed = await sessions.refresh(actor.operator);
    actor.note.details = { session: refreshed.sessionId };
    return ok({ token: refreshed.token, refreshedAt: refreshed.refreshedAt.toISOString(), exp: refreshed.expiresAt.toISOString() }, "token refreshed");
  });

  app.get("/me", {
    config: adminRoute("admin.me"),
    schema: {
      tags: TAGS,
      summary: "The operator of this session",
      security: ADMIN_SECURITY,
      response: { 200: Envelope(MeData), ...failures(...SESSION_FAILURES) },
    },
  }, async (request) => {
    const { operator } = actorOf(request);
    return ok({ user: operatorView(operator), exp: operator.sessionExpiresAt.toISOString() });
  });

  app.post("/logout", {
    config: adminRoute("admin.logout"),
    schema: {
      tags: TAGS,
      summary: "End this session: its token is refused from now on",
      security: ADMIN_SECURITY,
      response: { 200: Envelope(LogoutData), ...failures(...SESSION_FAILURES) },
    },
  }, async (request) => {
    const actor = actorOf(request);
    actor.note.target = actor.operator.sessionId;
    await sessions.logout(actor.operator);
    return ok({ loggedOut: true as const }, "logged out");
  });
};
