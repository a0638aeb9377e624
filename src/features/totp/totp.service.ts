/**
 * TOTP authenticator apps and backup codes (API.md §4.3): the rules, with their dependencies
 * passed in. A factor is created pending by setup and enabled by its first successful verify;
 * each RFC 6238 time step is accepted at most once; wrong codes in a row lock the user.
 */
import type { AppSettingsProvider } from "../apps/app-settings.ts";
import type { Clock } from "../../infra/clock.ts";
import type { Keyring } from "../../infra/crypto.ts";
import type { Tx } from "../../infra/db.ts";
import { recordEvent } from "../../infra/events.ts";
import type { Metrics } from "../../infra/metrics.ts";
import { qrCodePngDataUrl } from "../../infra/qrcode.ts";
import { generateTotpSecret, matchTotpCode, totpKeyUri, type TotpAlgorithm } from "../../infra/totp.ts";
import { newId } from "../../shared/ids.ts";
import { ensureEndUser, findEndUser } from "../users/users.repository.ts";
import { backupCodeMatches, generateBackupCodes, hashBackupCode, normalizeBackupCode } from "./backup-codes.ts";
import { invalidTotpCode, totpAlreadyEnabled, totpCodeAlreadyUsed, totpLocked, totpNotEnabled } from "./totp.errors.ts";
import type { TotpFactorRecord, TotpRepository } from "./totp.repository.ts";

/** RFC 6238 §5.2: one step each way absorbs clock drift and the time it takes to type a code. */
export const TOTP_DRIFT_STEPS = 1;
export const DEFAULT_PURPOSE = "login";

export interface TotpServiceDeps {
  repo: TotpRepository;
  keyring: Keyring;
  clock: Clock;
  settings: Pick<AppSettingsProvider, "get">;
  metrics: Metrics;
}

export interface SetupInput {
  appId: string;
  userId: string;
  accountName?: string;
  issuer?: string;
  force?: boolean;
}

export interface SetupResult {
  secret: string;
  uri: string;
  qrCodeDataUrl: string;
}

export interface VerifyInput {
  appId: string;
  userId: string;
  token: string;
  purpose?: string;
}

export type VerifyResult =
  | { verified: true; activated?: true }
  | { verified: true; backupCodeUsed: true; backupCodesRemaining: number };

export interface StatusResult {
  enabled: boolean;
  pending: boolean;
  createdAt: Date | null;
  lastUsedAt: Date | null;
  backupCodesRemaining: number;
}

type Outcome = "succeeded" | "failed" | "replayed" | "locked" | "not_enabled";

/** Thrown inside a transaction to roll it back, then turned into the answer outside it. */
class RollBack extends Error {
  constructor(readonly reason: "used" | "locked_or_gone") {
    super(reason);
  }
}

/** The Key Uri Format forbids a colon in the issuer; one in a stored app setting is dropped. */
const issuerWithoutColon = (issuer: string) => issuer.replaceAll(":", "").trim() || "Latchkey";

export class TotpService {
  constructor(private readonly deps: TotpServiceDeps) {}

  /**
   * Creates a pending factor with a fresh secret (replacing a pending one, or an enabled one
   * when `force` is set) and returns what the user scans. Parameters come from the app's
   * settings and are stored with the factor, so a later settings change never breaks codes
   * from authenticators already enrolled.
   */
  async setup(input: SetupInput): Promise<SetupResult> {
    const { repo, keyring, clock } = this.deps;
    const totp = (await this.deps.settings.get(input.appId)).totp;
    const at = clock.now();
    const secret = generateTotpSecret();
    const factorId = newId("totp");
    // The factor id is the associated data: a sealed secret copied onto another row won't open.
    const secretSealed = keyring.seal(secret, factorId);

    await repo.transaction(async (tx) => {
      const endUser = await ensureEndUser(tx, input.appId, input.userId);
      const existing = await repo.lockFactor(tx, endUser.id);
      if (existing?.status === "enabled" && !input.force) throw totpAlreadyEnabled();
      await repo.putPendingFactor(tx, {
        id: factorId,
        endUserId: endUser.id,
        secretSealed,
        algorithm: totp.algorithm,
        digits: totp.digits,
        periodSeconds: totp.periodSeconds,
        at,
      });
      if (existing?.status === "enabled") {
        await recordEvent(tx, { appId: input.appId, type: "totp.disabled", channel: "totp", externalUserId: input.userId, data: { reason: "replaced" }, at });
      }
    });

    const uri = totpKeyUri({
      secret,
      issuer: input.issuer ?? issuerWithoutColon(totp.issuer),
      accountName: input.accountName ?? input.userId,
      algorithm: totp.algorithm,
      digits: totp.digits,
      periodSeconds: totp.periodSeconds,
    });
    return { secret, uri, qrCodeDataUrl: await qrCodePngDataUrl(uri) };
  }

  /**
   * Checks a code from the authenticator app, or a backup code. Order matters: a locked user
   * is refused before any code is looked at, so a lock cannot be used as an oracle.
   */
  async verify(input: VerifyInput): Promise<VerifyResult> {
    const at = this.deps.clock.now();
    const purpose = input.purpose ?? DEFAULT_PURPOSE;
    const factor = await this.deps.repo.findFactor(input.appId, input.userId);
    if (!factor) {
      this.count("not_enabled");
      throw totpNotEnabled({ verify: true });
    }
    if (factor.lockedUntil && factor.lockedUntil > at) {
      this.count("locked");
      throw totpLocked(factor.lockedUntil, at);
    }
    // Authenticator apps show "123 456"; people copy the space.
    const token = input.token.replace(/\s+/g, "");
    const context: VerifyContext = { input, factor, purpose, at };
    if (/^\d+$/.test(token) && token.length === factor.digits) return this.verifyCode(context, token);
    const backupCode = normalizeBackupCode(token);
    if (backupCode && factor.status === "enabled") return this.verifyBackupCode(context, backupCode);
    return this.fail(context);
  }

  private async verifyCode(context: VerifyContext, token: string): Promise<VerifyResult> {
    const { repo, keyring } = this.deps;
    const { input, factor, purpose, at } = context;
    const secret = keyring.open(factor.secretSealed, factor.id);
    const match = await matchTotpCode({
      secret,
      token,
      at,
      algorithm: factor.algorithm as TotpAlgorithm,
      digits: factor.digits,
      periodSeconds: factor.periodSeconds,
      driftSteps: TOTP_DRIFT_STEPS,
      lastUsedStep: factor.lastUsedStep,
    });
    if (match.outcome === "invalid") return this.fail(context);
    if (match.outcome === "replayed") return this.replayed(context, "code");

    // Rotation: a secret sealed under an older key is re-sealed under the current one.
    const resealed = keyring.needsRotation(factor.secretSealed) ? keyring.seal(secret, factor.id) : null;
    const claimed = await repo.claimStep({
      factorId: factor.id,
      step: match.step,
      resealed,
      records: { appId: input.appId, externalUserId: input.userId, purpose, data: { purpose, method: "totp" }, at },
    });
    if (!claimed) return this.explainLostRace(context);
    this.count("succeeded");
    return claimed.activated ? { verified: true, activated: true } : { verified: true };
  }

  private async verifyBackupCode(context: VerifyContext, code: string): Promise<VerifyResult> {
    const { repo, keyring } = this.deps;
    const { input, factor, purpose, at } = context;
    let outcome: { kind: "ok"; remaining: number } | { kind: "invalid" } | { kind: "used" };
    try {
      outcome = await repo.transaction(async (tx) => {
        const codes = await repo.listBackupCodes(tx, factor.endUserId);
        // Every stored hash is checked (no early exit), so timing says nothing about which matched.
        const matches = codes.filter((c) => backupCodeMatches(keyring, factor.endUserId, code, c.codeHash));
        const match = matches[0];
        if (!match) return { kind: "invalid" as const };
        if (match.usedAt) return { kind: "used" as const };
        if (!(await repo.consumeBackupCode(tx, match.id, at))) return { kind: "used" as const };
        if (!(await repo.recordBackupCodeSuccess(tx, { factorId: factor.id, at }))) throw new RollBack("locked_or_gone");
        const remaining = await repo.countUnusedBackupCodes(tx, factor.endUserId);
        await repo.insertVerification(tx, { id: newId("ver"), appId: input.appId, externalUserId: input.userId, purpose, reference: factor.id, at });
        await recordEvent(tx, {
          appId: input.appId,
          type: "verification.succeeded",
          channel: "totp",
          externalUserId: input.userId,
          data: { purpose, method: "backup_code", backupCodesRemaining: remaining },
          at,
        });
        return { kind: "ok" as const, remaining };
      });
    } catch (err) {
      if (err instanceof RollBack) return this.explainLostRace(context);
      throw err;
    }
    if (outcome.kind === "invalid") return this.fail(context);
    if (outcome.kind === "used") return this.replayed(context, "backup code");
    this.count("succeeded");
    return { verified: true, backupCodeUsed: true, backupCodesRemaining: outcome.remaining };
  }

  /** A wrong code: one attempt used, atomically; the attempt that reaches the limit locks. */
  private async fail(context: VerifyContext): Promise<never> {
    const { input, factor, purpose, at } = context;
    // The attempt budget is the app's current setting (the code parameters are the factor's).
    const totp = (await this.deps.settings.get(input.appId)).totp;
    const lockUntil = new Date(at.getTime() + totp.lockSeconds * 1000);
    const counted = await this.deps.repo.transaction(async (tx) => {
      const result = await this.deps.repo.recordFailure(tx, { factorId: factor.id, at, maxFailures: totp.maxFailures, lockUntil });
      if (!result) return null;
      const lockedUntil = result.lockedUntil && result.lockedUntil > at ? result.lockedUntil : null;
      const attemptsRemaining = lockedUntil ? 0 : Math.max(0, totp.maxFailures - result.failedAttempts);
      await this.recordFailed(tx, input, { purpose, reason: "invalid_code", attemptsRemaining, ...(lockedUntil ? { lockedUntil: lockedUntil.toISOString() } : {}) }, at);
      return { attemptsRemaining, lockedUntil };
    });
    if (!counted) return this.explainLostRace(context, "invalid");
    if (counted.lockedUntil) {
      this.count("locked");
      throw totpLocked(counted.lockedUntil, at);
    }
    this.count("failed");
    throw invalidTotpCode(counted.attemptsRemaining);
  }

  /** A right code for a step (or a backup code) already used: refused without using an attempt. */
  private async replayed(context: VerifyContext, what: "code" | "backup code"): Promise<never> {
    const { input, purpose, at } = context;
    await this.deps.repo.transaction((tx) => this.recordFailed(tx, input, { purpose, reason: "code_already_used" }, at));
    this.count("replayed");
    throw totpCodeAlreadyUsed(what);
  }

  /**
   * A conditional UPDATE matched no row: between our read and our write another request
   * claimed the step, locked the user, or the factor was replaced or removed. Says which.
   */
  private async explainLostRace(context: VerifyContext, otherwise: "replayed" | "invalid" = "replayed"): Promise<never> {
    const { input, factor, at } = context;
    const now = await this.deps.repo.findFactor(input.appId, input.userId);
    if (!now || now.id !== factor.id) {
      this.count("not_enabled");
      throw totpNotEnabled({ verify: true });
    }
    if (now.lockedUntil && now.lockedUntil > at) {
      this.count("locked");
      throw totpLocked(now.lockedUntil, at);
    }
    if (otherwise === "invalid") {
      this.count("failed");
      const { maxFailures } = (await this.deps.settings.get(input.appId)).totp;
      throw invalidTotpCode(Math.max(0, maxFailures - now.failedAttempts));
    }
    return this.replayed(context, "code");
  }

  private recordFailed(tx: Tx, input: VerifyInput, data: Record<string, unknown>, at: Date) {
    return recordEvent(tx, { appId: input.appId, type: "verification.failed", channel: "totp", externalUserId: input.userId, data, at });
  }

  private count(outcome: Outcome): void {
    this.deps.metrics.channelOutcomes.inc({ channel: "totp", outcome });
  }

  async status(input: { appId: string; userId: string }): Promise<StatusResult> {
    const found = await this.deps.repo.findStatus(input.appId, input.userId);
    if (!found) return { enabled: false, pending: false, createdAt: null, lastUsedAt: null, backupCodesRemaining: 0 };
    const { factor, backupCodesRemaining } = found;
    return {
      enabled: factor.status === "enabled",
      pending: factor.status === "pending",
      createdAt: factor.createdAt,
      lastUsedAt: factor.lastUsedAt,
      backupCodesRemaining,
    };
  }

  /** Removes the factor and its backup codes; `totp.disabled` when it was enabled. */
  async disable(input: { appId: string; userId: string }): Promise<void> {
    const at = this.deps.clock.now();
    await this.deps.repo.transaction(async (tx) => {
      const endUser = await findEndUser(tx, input.appId, input.userId);
      const removed = endUser ? await this.deps.repo.deleteFactor(tx, endUser.id) : null;
      if (!removed) throw totpNotEnabled();
      if (removed.status === "enabled") {
        await recordEvent(tx, { appId: input.appId, type: "totp.disabled", channel: "totp", externalUserId: input.userId, data: { reason: "removed" }, at });
      }
    });
  }

  /**
   * Ten new backup codes for a user with a factor (pending or enabled); the earlier set stops
   * working in the same transaction. The factor row lock serializes concurrent regenerations,
   * so exactly one set survives. Codes work only once the factor is enabled.
   */
  async regenerateBackupCodes(input: { appId: string; userId: string }): Promise<string[]> {
    const { repo, keyring } = this.deps;
    const at = this.deps.clock.now();
    const codes = generateBackupCodes();
    await repo.transaction(async (tx) => {
      const endUser = await findEndUser(tx, input.appId, input.userId);
      const factor = endUser ? await repo.lockFactor(tx, endUser.id) : null;
      if (!endUser || !factor) throw totpNotEnabled();
      const rows = codes.map((code) => ({ id: newId("bkc"), codeHash: hashBackupCode(keyring, endUser.id, normalizeBackupCode(code)!) }));
      await repo.replaceBackupCodes(tx, endUser.id, rows, at);
    });
    return codes;
  }
}

interface VerifyContext {
  input: VerifyInput;
  factor: TotpFactorRecord;
  purpose: string;
  at: Date;
}
