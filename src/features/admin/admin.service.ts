/**
 * The admin API's rules (API.md §9): who may see and change what, and the operations on apps,
 * keys, policies, webhook endpoints, end users' factors and the audit log. Channel and webhook
 * behaviour is not re-implemented here: removals go through the channels' own services (so
 * they emit the same events) and webhook management through WebhooksService.
 *
 * Roles: `owner` may do everything; `admin` only its own app (AdminUser.appId) — any other app,
 * or anything belonging to one, answers 404 exactly as if it did not exist; `viewer` may read
 * everything and change nothing (403).
 */
import { decodeCursor, encodeCursor } from "../../shared/cursor.ts";
import type { Config } from "../../config.ts";
import type { ApiKeyAuthenticator } from "../../infra/auth.ts";
import type { Clock } from "../../infra/clock.ts";
import { AppError } from "../../infra/errors.ts";
import { IpRangeError, parseIpRange } from "../../infra/ip-ranges.ts";
import { newId } from "../../shared/ids.ts";
import type { ApiKeyKind } from "../../generated/prisma/enums.ts";
import { resolveAppSettings, type AppSettingsProvider } from "../apps/app-settings.ts";
import type { AppsRepository } from "../apps/apps.repository.ts";
import { createApp } from "../apps/apps.service.ts";
import type { AuditLog } from "../audit/audit.service.ts";
import type { AuditEntry, AuditRepository } from "../audit/audit.repository.ts";
import { normalizeEmail } from "../email/email.service.ts";
import type { KeysRepository, ApiKeyRecord } from "../keys/keys.repository.ts";
import { createApiKey, displayPrefix, generateApiKey, hashApiKey, publicKeyView } from "../keys/keys.service.ts";
import { policyView, type PoliciesRepository } from "../mfa/policies.repository.ts";
import type { CreatePolicyBody, PolicyMatch, UpdatePolicyBody } from "../mfa/policies.schemas.ts";
import type { PushRepository } from "../push/push.repository.ts";
import { deviceView } from "../push/push.service.ts";
import { normalizePhone } from "../sms/sms.service.ts";
import type { TotpService } from "../totp/totp.service.ts";
import type { WebauthnService } from "../webauthn/webauthn.service.ts";
import type { WebhooksService } from "../webhooks/webhooks.service.ts";
import type { EventType } from "../../infra/events.ts";
import { ADMIN_ERRORS } from "./admin.errors.ts";
import type { AdminAppRecord, AdminRepository, PagePosition } from "./admin.repository.ts";
import { DEFAULT_PAGE_SIZE, FACTORS } from "./admin.schemas.ts";
import { normalizeOperatorEmail, type Operator } from "./admin.session.ts";

/**
 * What an admin request tells the audit log beyond the route's action: the app and the target
 * once the service has resolved them, and whether a refusal was a role decision ("denied").
 * The routes create one per request; the service fills it in as it goes.
 */
export interface AuditNote {
  appId?: string | null;
  target?: string | null;
  details?: Record<string, unknown>;
  denied?: boolean;
  /** The operator an anonymous request named (a refused login of an existing email). */
  actorId?: string;
}

/** The operator making a request, and the note its audit entry is written from. */
export interface Actor {
  operator: Operator;
  note: AuditNote;
}

export type Factor = (typeof FACTORS)[number];

export interface AdminServiceDeps {
  config: Config;
  clock: Clock;
  repo: AdminRepository;
  apps: AppsRepository;
  keys: KeysRepository;
  policies: PoliciesRepository;
  push: PushRepository;
  auditRepo: AuditRepository;
  audit: Pick<AuditLog, "flush">;
  settings: Pick<AppSettingsProvider, "invalidate">;
  authenticator: Pick<ApiKeyAuthenticator, "clear">;
  webhooks: WebhooksService;
  totp: TotpService;
  webauthn: WebauthnService;
}

const isObject = (v: unknown): v is Record<string, unknown> => Boolean(v) && typeof v === "object" && !Array.isArray(v);

/** RFC 7396 JSON Merge Patch: objects merge key by key, null removes a key, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** Opaque offset cursors for the short policy lists. */
function encodeOffsetCursor(value: { offset: number }): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function decodePosition(cursor: string | undefined): PagePosition | undefined {
  if (cursor === undefined) return undefined;
  const position = decodeCursor(cursor);
  if (!position) throw ADMIN_ERRORS.invalidCursor();
  return position;
}

/** Runs a keyset-paged query for one more row than shown, to know whether a next page exists. */
async function page<T extends { createdAt: Date; id: string }>(
  query: { cursor?: string; limit?: number },
  fetch: (position: PagePosition | undefined, take: number) => Promise<T[]>,
): Promise<{ rows: T[]; nextCursor: string | null }> {
  const limit = query.limit ?? DEFAULT_PAGE_SIZE;
  const rows = await fetch(decodePosition(query.cursor), limit + 1);
  const shown = rows.slice(0, limit);
  const last = shown[shown.length - 1];
  return { rows: shown, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}

export function keyView(record: ApiKeyRecord) {
  return { ...publicKeyView(record), appId: record.appId };
}

function auditEntryView(entry: AuditEntry) {
  return {
    id: entry.id,
    createdAt: entry.createdAt.toISOString(),
    actorType: entry.actorType,
    actorId: entry.actorId,
    appId: entry.appId,
    ip: entry.ip,
    action: entry.action,
    target: entry.target,
    outcome: entry.outcome,
    details: isObject(entry.details) ? entry.details : null,
  };
}

/** `https://example.com` or `android:apk-key-hash:…`, exactly as resolveAppSettings accepts origins. */
function isAcceptedOrigin(value: string): boolean {
  if (value.startsWith("android:apk-key-hash:")) return true;
  try {
    const url = new URL(value);
    return (url.protocol === "https:" || url.protocol === "http:") && url.pathname === "/" && !url.search && !url.hash && !url.username && !url.password;
  } catch {
    return false;
  }
}

export class AdminService {
  constructor(private readonly deps: AdminServiceDeps) {}

  // ── access ──────────────────────────────────────────────────────────────────────────────

  /** Viewers change nothing (API.md §9). Checked before anything is looked up. */
  assertMayWrite(actor: Actor): void {
    if (actor.operator.role === "viewer") {
      actor.note.denied = true;
      throw ADMIN_ERRORS.readOnly();
    }
  }

  /** Whether the operator may see `appId` at all (an admin: only its own app). */
  private maySee(operator: Operator, appId: string): boolean {
    return operator.role !== "admin" || operator.appId === appId;
  }

  /**
   * The app, when the operator may see it; otherwise 404 exactly like a missing app, so an
   * admin cannot learn that another app exists. Notes the app for the audit entry.
   */
  private async visibleApp(actor: Actor, appId: string): Promise<AdminAppRecord> {
    actor.note.appId ??= appId;
    if (!this.maySee(actor.operator, appId)) {
      actor.note.denied = true;
      throw ADMIN_ERRORS.appNotFound();
    }
    const app = await this.deps.repo.findApp(appId);
    if (!app) throw ADMIN_ERRORS.appNotFound();
    return app;
  }

  /** For things addressed by their own id: the owning app must be visible, else `notFound`. */
  private assertOwnerVisible(actor: Actor, appId: string | null, notFound: () => AppError): string {
    if (!appId) throw notFound();
    actor.note.appId = appId;
    if (!this.maySee(actor.operator, appId)) {
      actor.note.denied = true;
      throw notFound();
    }
    return appId;
  }

  // ── apps ────────────────────────────────────────────────────────────────────────────────

  appView(app: AdminAppRecord) {
    const { appId: _appId, appName: _appName, raw: _raw, ...effective } = resolveAppSettings(app, this.deps.config);
    return {
      appId: app.id,
      name: app.name,
      settings: isObject(app.settings) ? app.settings : {},
      effectiveSettings: effective as unknown as Record<string, unknown>,
      createdAt: app.createdAt.toISOString(),
      updatedAt: app.updatedAt.toISOString(),
    };
  }

  async listApps(actor: Actor, query: { cursor?: string; limit?: number }) {
    const { operator } = actor;
    const only = operator.role === "admin" ? (operator.appId ? [operator.appId] : []) : undefined;
    const { rows, nextCursor } = await page(query, (after, limit) => this.deps.repo.listApps({ after, limit, only }));
    return { apps: rows.map((app) => this.appView(app)), nextCursor };
  }

  async getApp(actor: Actor, appId: string) {
    return this.appView(await this.visibleApp(actor, appId));
  }

  async createApp(actor: Actor, input: { name: string; settings?: Record<string, unknown> }) {
    this.assertMayWrite(actor);
    if (actor.operator.role !== "owner") {
      actor.note.denied = true;
      throw ADMIN_ERRORS.ownerOnly("create apps");
    }
    const name = this.appName(input.name);
    const settings = input.settings ? (mergePatch({}, this.checkedSettingsPatch(input.settings)) as Record<string, unknown>) : {};
    const created = await createApp(this.deps.apps, { name, settings });
    actor.note.appId = created.id;
    actor.note.target = created.id;
    actor.note.details = { name };
    const app = await this.deps.repo.findApp(created.id);
    return this.appView(app!);
  }

  /** Renames the app and/or merges a settings patch into its stored settings (RFC 7396). */
  async updateApp(actor: Actor, appId: string, input: { name?: string; settings?: Record<string, unknown> }) {
    this.assertMayWrite(actor);
    await this.visibleApp(actor, appId);
    actor.note.target = appId;
    const name = input.name === undefined ? undefined : this.appName(input.name);
    const patch = input.settings ? this.checkedSettingsPatch(input.settings) : undefined;
    actor.note.details = { ...(name !== undefined ? { name } : {}), ...(patch ? { settings: redactedPatch(patch) } : {}) };
    const updated = await this.deps.repo.updateApp(appId, (current) => ({
      ...(name !== undefined ? { name } : {}),
      ...(patch ? { settings: mergePatch(isObject(current.settings) ? current.settings : {}, patch) as Record<string, unknown> } : {}),
    }));
    if (!updated) throw ADMIN_ERRORS.appNotFound();
    // This instance applies the change at once; the others within the settings cache's 2 s.
    this.deps.settings.invalidate(appId);
    return this.appView(updated);
  }

  private appName(raw: string): string {
    const name = raw.trim();
    if (!name) throw ADMIN_ERRORS.invalidSetting("body.name", "must not be blank");
    return name;
  }

  /**
   * The patch after the checks a schema cannot express: origins must parse as
   * resolveAppSettings parses them (or they would silently fall back to the defaults), and
   * test destinations must be phone numbers or emails the OTP channels accept. Country codes
   * are stored upper-case, as the channels compare them.
   */
  private checkedSettingsPatch(patch: Record<string, unknown>): Record<string, unknown> {
    const otp = isObject(patch.otp) ? patch.otp : undefined;
    if (otp && Array.isArray(otp.allowedCountries)) otp.allowedCountries = (otp.allowedCountries as string[]).map((c) => c.toUpperCase());
    if (otp && Array.isArray(otp.testDestinations)) {
      (otp.testDestinations as Array<{ destination: string }>).forEach((entry, index) => {
        try {
          normalizeDestination(entry.destination, this.deps.config.DEFAULT_COUNTRY);
        } catch {
          throw ADMIN_ERRORS.invalidSetting(`body.settings.otp.testDestinations.${index}.destination`, "must be a phone number or an email address");
        }
      });
    }
    const webauthn = isObject(patch.webauthn) ? patch.webauthn : undefined;
    if (webauthn && Array.isArray(webauthn.origins)) {
      (webauthn.origins as string[]).forEach((origin, index) => {
        if (!isAcceptedOrigin(origin)) throw ADMIN_ERRORS.invalidSetting(`body.settings.webauthn.origins.${index}`, "must be scheme://host[:port] without a path, or android:apk-key-hash:…");
      });
    }
    return patch;
  }

  // ── keys ────────────────────────────────────────────────────────────────────────────────

  async listKeys(actor: Actor, appId: string, query: { cursor?: string; limit?: number }) {
    await this.visibleApp(actor, appId);
    const { rows, nextCursor } = await page(query, (after, limit) => this.deps.repo.listKeys(appId, { after, limit }));
    return { keys: rows.map(keyView), nextCursor };
  }

  async createKey(actor: Actor, appId: string, input: { kind: ApiKeyKind; name?: string }) {
    this.assertMayWrite(actor);
    await this.visibleApp(actor, appId);
    const created = await createApiKey(this.deps.keys, { appId, kind: input.kind, name: input.name?.trim() || null });
    actor.note.target = created.id;
    actor.note.details = { kind: created.kind, prefix: created.prefix };
    const record = (await this.deps.repo.findKey(created.id))!;
    return { ...keyView(record), key: created.key };
  }

  /** Revokes a key; on this instance at once, on the others within API_KEY_CACHE_TTL_MS. */
  async revokeKey(actor: Actor, keyId: string) {
    this.assertMayWrite(actor);
    const key = await this.visibleKey(actor, keyId);
    await this.deps.keys.revoke(key.id, this.deps.clock.now());
    this.deps.authenticator.clear();
    return keyView((await this.deps.repo.findKey(key.id))!);
  }

  /** A new key of the same kind and name; the old one is revoked in the same transaction. */
  async rotateKey(actor: Actor, keyId: string) {
    this.assertMayWrite(actor);
    const old = await this.visibleKey(actor, keyId);
    if (old.revokedAt) throw ADMIN_ERRORS.keyRevoked();
    const key = generateApiKey(old.kind);
    const replacement = await this.deps.repo.rotateKey(old.id, {
      id: newId("key"),
      appId: old.appId,
      kind: old.kind,
      name: old.name,
      prefix: displayPrefix(key),
      hash: hashApiKey(key),
      createdAt: this.deps.clock.now(),
    });
    if (!replacement) throw ADMIN_ERRORS.keyRevoked();
    this.deps.authenticator.clear();
    actor.note.details = { kind: old.kind, replacedBy: replacement.id, prefix: replacement.prefix };
    return { ...keyView(replacement), key, replaces: old.id };
  }

  private async visibleKey(actor: Actor, keyId: string): Promise<ApiKeyRecord> {
    actor.note.target = keyId;
    const key = await this.deps.repo.findKey(keyId);
    this.assertOwnerVisible(actor, key?.appId ?? null, ADMIN_ERRORS.keyNotFound);
    return key!;
  }

  // ── policies ────────────────────────────────────────────────────────────────────────────

  /** Highest priority first; a page position is an offset (an app has few policies). */
  async listPolicies(actor: Actor, appId: string, query: { cursor?: string; limit?: number }) {
    await this.visibleApp(actor, appId);
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    let offset = 0;
    if (query.cursor !== undefined) {
      try {
        offset = (JSON.parse(Buffer.from(query.cursor, "base64url").toString("utf8")) as { offset: unknown }).offset as number;
      } catch {
        throw ADMIN_ERRORS.invalidCursor();
      }
      if (!Number.isInteger(offset) || offset < 0) throw ADMIN_ERRORS.invalidCursor();
    }
    const all = await this.deps.policies.listByApp(appId);
    const shown = all.slice(offset, offset + limit);
    return { policies: shown.map(policyView), nextCursor: offset + limit < all.length ? encodeOffsetCursor({ offset: offset + limit }) : null };
  }

  async createPolicy(actor: Actor, appId: string, input: CreatePolicyBody) {
    this.assertMayWrite(actor);
    await this.visibleApp(actor, appId);
    if (input.match) checkPolicyMatch(input.match);
    const created = await this.deps.policies.insert({
      id: newId("pol"),
      appId,
      name: policyName(input.name),
      enabled: input.enabled ?? true,
      priority: input.priority ?? 0,
      match: input.match ?? {},
      requiredChannels: input.requiredChannels,
      withinSeconds: input.withinSeconds ?? 300,
    });
    actor.note.target = created.id;
    actor.note.details = { name: created.name };
    return policyView(created);
  }

  async updatePolicy(actor: Actor, policyId: string, input: UpdatePolicyBody) {
    this.assertMayWrite(actor);
    const appId = await this.visiblePolicyApp(actor, policyId);
    if (input.match) checkPolicyMatch(input.match);
    actor.note.details = { changed: Object.keys(input) };
    const updated = await this.deps.policies.update(appId, policyId, input.name === undefined ? input : { ...input, name: policyName(input.name) });
    if (!updated) throw ADMIN_ERRORS.policyNotFound();
    return policyView(updated);
  }

  async deletePolicy(actor: Actor, policyId: string) {
    this.assertMayWrite(actor);
    const appId = await this.visiblePolicyApp(actor, policyId);
    if (!(await this.deps.policies.delete(appId, policyId))) throw ADMIN_ERRORS.policyNotFound();
    return { id: policyId, deleted: true as const };
  }

  private async visiblePolicyApp(actor: Actor, policyId: string): Promise<string> {
    actor.note.target = policyId;
    const policy = await this.deps.policies.findAnyById(policyId);
    return this.assertOwnerVisible(actor, policy?.appId ?? null, ADMIN_ERRORS.policyNotFound);
  }

  // ── webhooks (WebhooksService does the work) ────────────────────────────────────────────

  async listWebhooks(actor: Actor, appId: string, query: { cursor?: string; limit?: number }) {
    await this.visibleApp(actor, appId);
    return this.deps.webhooks.list(appId, query);
  }

  async createWebhook(actor: Actor, appId: string, input: Parameters<WebhooksService["create"]>[1]) {
    this.assertMayWrite(actor);
    await this.visibleApp(actor, appId);
    const created = await this.deps.webhooks.create(appId, input);
    actor.note.target = created.id;
    actor.note.details = { url: created.url };
    return created;
  }

  async updateWebhook(actor: Actor, webhookId: string, input: Parameters<WebhooksService["update"]>[2]) {
    this.assertMayWrite(actor);
    const appId = await this.visibleWebhookApp(actor, webhookId);
    actor.note.details = { changed: Object.keys(input) };
    return this.deps.webhooks.update(appId, webhookId, input);
  }

  async deleteWebhook(actor: Actor, webhookId: string) {
    this.assertMayWrite(actor);
    return this.deps.webhooks.remove(await this.visibleWebhookApp(actor, webhookId), webhookId);
  }

  async listDeliveries(actor: Actor, webhookId: string, query: Parameters<WebhooksService["listDeliveries"]>[2]) {
    return this.deps.webhooks.listDeliveries(await this.visibleWebhookApp(actor, webhookId), webhookId, query);
  }

  async sendTestEvent(actor: Actor, webhookId: string, input: { event?: EventType }) {
    this.assertMayWrite(actor);
    const result = await this.deps.webhooks.sendTest(await this.visibleWebhookApp(actor, webhookId), webhookId, input);
    actor.note.details = { event: result.event, deliveryId: result.deliveryId };
    return result;
  }

  async redeliver(actor: Actor, deliveryId: string) {
    this.assertMayWrite(actor);
    actor.note.target = deliveryId;
    const appId = this.assertOwnerVisible(actor, await this.deps.repo.appOfDelivery(deliveryId), ADMIN_ERRORS.deliveryNotFound);
    return this.deps.webhooks.redeliver(appId, deliveryId);
  }

  private async visibleWebhookApp(actor: Actor, webhookId: string): Promise<string> {
    actor.note.target = webhookId;
    return this.assertOwnerVisible(actor, await this.deps.repo.appOfWebhook(webhookId), ADMIN_ERRORS.webhookNotFound);
  }

  // ── end users' factors ──────────────────────────────────────────────────────────────────

  /** What the user has enrolled, never a secret: TOTP state, passkeys, push devices. */
  async listFactors(actor: Actor, appId: string, userId: string) {
    await this.visibleApp(actor, appId);
    const [totp, webauthn, devices] = await Promise.all([
      this.deps.totp.status({ appId, userId }),
      this.deps.webauthn.listCredentials(appId, userId),
      this.deps.push.listDevices(appId, userId),
    ]);
    return {
      userId,
      totp: {
        enabled: totp.enabled,
        pending: totp.pending,
        createdAt: totp.createdAt?.toISOString() ?? null,
        lastUsedAt: totp.lastUsedAt?.toISOString() ?? null,
        backupCodesRemaining: totp.backupCodesRemaining,
      },
      webauthn: { credentials: webauthn.credentials },
      push: { devices: devices.map(deviceView) },
    };
  }

  /**
   * Resets one factor. TOTP and passkeys are removed through their channels' services, so the
   * same `totp.disabled` / `webauthn.removed` events go out as when the app removes them.
   * For `destination-lock`, `userId` is the phone number or email (API.md §3's per-destination
   * lock), normalized as the OTP channels normalize it.
   */
  async removeFactor(actor: Actor, appId: string, userId: string, factor: Factor, options: { credentialId?: string; deviceId?: string } = {}) {
    this.assertMayWrite(actor);
    await this.visibleApp(actor, appId);
    actor.note.target = factor === "destination-lock" ? null : userId;
    actor.note.details = { factor };
    switch (factor) {
      case "totp": {
        await this.deps.totp.disable({ appId, userId });
        return { userId, factor, removed: 1 };
      }
      case "webauthn": {
        const targets = options.credentialId
          ? [options.credentialId]
          : (await this.deps.webauthn.listCredentials(appId, userId)).credentials.map((c) => c.credentialId);
        if (targets.length === 0) throw ADMIN_ERRORS.nothingToRemove("WebAuthn credential");
        for (const credentialId of targets) await this.deps.webauthn.deleteCredential(appId, { credentialId, userId });
        return { userId, factor, removed: targets.length };
      }
      case "push": {
        const devices = (await this.deps.push.listDevices(appId, userId)).filter((d) => !options.deviceId || d.id === options.deviceId);
        let removed = 0;
        for (const device of devices) if (await this.deps.push.deleteDevice(appId, device.id)) removed += 1;
        if (removed === 0) throw ADMIN_ERRORS.nothingToRemove("push device");
        return { userId, factor, removed };
      }
      case "backup_codes": {
        const { found, unused } = await this.deps.repo.deleteBackupCodes(appId, userId);
        if (!found) throw ADMIN_ERRORS.nothingToRemove("backup codes");
        return { userId, factor, removed: unused };
      }
      case "known-devices": {
        const removed = await this.deps.repo.deleteKnownDevices(appId, userId);
        if (removed === 0) throw ADMIN_ERRORS.nothingToRemove("known device");
        return { userId, factor, removed };
      }
      case "destination-lock": {
        const destination = normalizeDestination(userId, this.deps.config.DEFAULT_COUNTRY);
        actor.note.target = destination.masked;
        const lifted = await this.deps.repo.resetDestinationGuard({ appId, channel: destination.channel, destination: destination.value }, this.deps.clock.now());
        if (!lifted) throw ADMIN_ERRORS.nothingToRemove("a lock or failed attempts on this destination");
        return { userId: destination.masked, factor, removed: 1 };
      }
    }
  }

  // ── audit log ───────────────────────────────────────────────────────────────────────────

  /** Newest first. An admin sees its own app's entries only; asking for another app is a 404. */
  async listAudit(actor: Actor, query: { appId?: string; actor?: string; action?: string; from?: string; to?: string; cursor?: string; limit?: number }) {
    const { operator } = actor;
    let appIds: string[] | undefined;
    if (operator.role === "admin") {
      if (query.appId && query.appId !== operator.appId) throw ADMIN_ERRORS.appNotFound();
      appIds = operator.appId ? [operator.appId] : [];
    }
    let actorId = query.actor;
    if (actorId?.includes("@")) actorId = (await this.deps.repo.findByEmail(normalizeOperatorEmail(actorId)))?.id ?? actorId;
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const before = decodePosition(query.cursor);
    // Entries this instance queued a moment ago are written first, so an operator sees its own action.
    await this.deps.audit.flush();
    const rows = await this.deps.auditRepo.list({
      appId: query.appId,
      appIds,
      actor: actorId,
      action: query.action,
      from: query.from ? new Date(query.from) : undefined,
      to: query.to ? new Date(query.to) : undefined,
      before,
      limit: limit + 1,
    });
    const shown = rows.slice(0, limit);
    const last = shown[shown.length - 1];
    return { entries: shown.map(auditEntryView), nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
  }
}

/** A phone number (E.164 after normalization) or an email address (lower-cased), as the OTP channels store them. */
function normalizeDestination(raw: string, defaultCountry: string): { channel: "sms" | "email"; value: string; masked: string } {
  if (raw.includes("@")) {
    const email = normalizeEmail(raw);
    return { channel: "email", value: email.value, masked: email.masked };
  }
  const phone = normalizePhone(raw, defaultCountry);
  return { channel: "sms", value: phone.value, masked: phone.masked };
}

/** The patch as the audit log keeps it: test destinations' fixed codes are not copied there. */
function redactedPatch(patch: Record<string, unknown>): Record<string, unknown> {
  const otp = isObject(patch.otp) ? patch.otp : undefined;
  if (!otp || !Array.isArray(otp.testDestinations)) return patch;
  return { ...patch, otp: { ...otp, testDestinations: `${otp.testDestinations.length} entries` } };
}

/** A policy's name as matchedPolicies shows it: trimmed, never blank. */
function policyName(raw: string): string {
  const name = raw.trim();
  if (!name) throw ADMIN_ERRORS.invalidSetting("body.name", "must not be blank");
  return name;
}

/** ipCidrs must parse as the policy engine parses them (src/infra/ip-ranges.ts). */
function checkPolicyMatch(match: PolicyMatch): void {
  (match.ipCidrs ?? []).forEach((entry, index) => {
    try {
      parseIpRange(entry);
    } catch (err) {
      if (err instanceof IpRangeError) throw ADMIN_ERRORS.invalidSetting(`body.match.ipCidrs.${index}`, "must be an IPv4/IPv6 address or CIDR");
      throw err;
    }
  });
}
