/**
 * What every admin route file shares: the route config (audit action, public or not), the
 * security requirement documented in openapi.yaml, the failure sets, and the accessors for the
 * request's operator and audit note that admin.routes.ts's hooks put on the request.
 */
import type { FastifyRequest } from "fastify";
import type { ErrorCode } from "../../infra/errors.ts";
import { ADMIN_ERRORS } from "./admin.errors.ts";
import type { Actor, AuditNote } from "./admin.service.ts";
import type { Operator } from "./admin.session.ts";

/** How an admin route is audited and authenticated. */
export interface AdminRouteConfig {
  /** The audit log's action for this route (`admin.keys.revoke`). */
  action: string;
  /** Reachable without a session (login only). */
  public?: boolean;
}

declare module "fastify" {
  interface FastifyContextConfig {
    admin?: AdminRouteConfig;
  }
  interface FastifyRequest {
    /** On /api/v1/admin routes: the operator (null before login) and this request's audit note. */
    adminContext: { operator: Operator | null; note: AuditNote; recorded: boolean } | null;
  }
}

export const TAGS = ["admin"];

/** An operator session (the `adminSession` bearer scheme declared in src/infra/openapi.ts). */
export const ADMIN_SECURITY: Array<Record<string, string[]>> = [{ adminSession: [] }];

/** Route config of an admin route: skipped by the API-key hook, audited under `action`. */
export const adminRoute = (action: string) => ({ auth: "admin" as const, admin: { action } });

/** Every session route can answer these (a missing/invalid session 401, an expired one 419). */
export const SESSION_FAILURES: ErrorCode[] = ["VALIDATION_ERROR", "UNAUTHORIZED", "TOKEN_EXPIRED", "RATE_LIMITED", "SERVICE_UNAVAILABLE"];
export const READ_FAILURES: ErrorCode[] = [...SESSION_FAILURES, "NOT_FOUND"];
/** Writes add a viewer's (or a non-owner's) 403 and state conflicts. */
export const WRITE_FAILURES: ErrorCode[] = [...READ_FAILURES, "FORBIDDEN", "CONFLICT"];

/** The operator behind a route that requires a session, with its audit note. */
export function actorOf(request: FastifyRequest): Actor {
  const context = request.adminContext;
  if (!context?.operator) throw ADMIN_ERRORS.missingToken();
  return { operator: context.operator, note: context.note };
}

/** The audit note of an admin request (the public login route has one too). */
export function noteOf(request: FastifyRequest): AuditNote {
  if (!request.adminContext) throw ADMIN_ERRORS.missingToken();
  return request.adminContext.note;
}
