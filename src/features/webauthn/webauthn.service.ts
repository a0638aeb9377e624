/**
 * Passkeys and security keys (API.md §4.4): options with server-side challenges, registration
 * and authentication verification, credential management.
 *
 * Every ceremony is bound to one challenge row: issued with the options, found again from the
 * challenge the authenticator signed (inside clientDataJSON), and consumed by one conditional
 * UPDATE before any verification work, so a challenge verifies at most once even under
 * concurrency. A failure after that point is recorded (event `verification.failed`); a
 * challenge this app never issued changes nothing at all.
 */
import { randomBytes } from "node:crypto";
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import type { Clock } from "../../infra/clock.ts";
import type { AuthContext } from "../../infra/auth.ts";
import { AppError } from "../../infra/errors.ts";
import { recordEvent } from "../../infra/events.ts";
import type { Metrics } from "../../infra/metrics.ts";
import type { AppSettings } from "../apps/app-settings.ts";
import { webauthnFailure, credentialNotFound, noCredentialsForUser, type FailureReason } from "./webauthn.errors.ts";
import type { Ceremony, CredentialRecord, WebauthnRepository } from "./webauthn.repository.ts";
import {
  buildAuthenticationOptions,
  buildRegistrationOptions,
  readClientData,
  verifyAuthentication,
  verifyRegistration,
  type CreationOptions,
  type RelyingParty,
  type RequestOptions,
} from "./webauthn.verifier.ts";

type ApiKeyKind = AuthContext["keyKind"];

/** API.md §4.4: challenges are single use and live 5 minutes. */
export const CHALLENGE_TTL_SECONDS = 300;
/** WebAuthn §13.4.3: at least 16 random bytes; 32 as the library draws them. */
const CHALLENGE_BYTES = 32;
/** Expired challenges are kept this long (so a late answer still reads "expired"), then purged. */
const CHALLENGE_RETENTION_MS = 60 * 60 * 1000;
/** Every this many issued challenges, one bounded purge of old ones runs in the background. */
const PURGE_EVERY_CHALLENGES = 256;
const PURGE_BATCH = 1000;

export interface WebauthnServiceDeps {
  repo: WebauthnRepository;
  settings: { get(appId: string): Promise<AppSettings> };
  clock: Clock;
  metrics: Metrics;
  /** Where background failures (the challenge purge) are reported. */
  onBackgroundError?: (err: unknown) => void;
}

export interface CredentialView {
  credentialId: string;
  deviceName: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  transports: string[];
  aaguid: string | null;
  backupEligible: boolean;
  backupState: boolean;
  counter: number;
}

export function credentialView(record: CredentialRecord): CredentialView {
  return {
    credentialId: record.credentialId,
    deviceName: record.deviceName,
    createdAt: record.createdAt.toISOString(),
    lastUsedAt: record.lastUsedAt?.toISOString() ?? null,
    transports: record.transports,
    aaguid: record.aaguid,
    backupEligible: record.backupEligible,
    backupState: record.backupState,
    counter: record.counter,
  };
}

/** The WebAuthn user.id of an end user: their internal id's bytes, opaque to the authenticator. */
export function userHandleOf(endUserId: string): Uint8Array {
  return new Uint8Array(Buffer.from(endUserId, "utf8"));
}

function assertMayRegister(settings: AppSettings, keyKind: ApiKeyKind): void {
  if (keyKind === "publishable" && !settings.webauthn.publishableKeyRegistration) {
    throw new AppError("FORBIDDEN", { message: "this app registers WebAuthn credentials with its secret key only (settings.webauthn.publishableKeyRegistration is false)" });
  }
}

function relyingParty(settings: AppSettings): RelyingParty {
  return { id: settings.webauthn.rpId, name: settings.webauthn.rpName, origins: settings.webauthn.origins };
}

/** Thrown inside a transaction to roll it back; the failure is recorded after the rollback. */
class CeremonyFailure extends Error {
  constructor(readonly reason: FailureReason) {
    super(reason);
  }
}

interface FailureContext {
  appId: string;
  ceremony: Ceremony;
  externalUserId: string | null;
  credentialId?: string;
  origin?: string;
}

export class WebauthnService {
  private issuedChallenges = 0;

  constructor(private readonly deps: WebauthnServiceDeps) {}

  // ── registration ────────────────────────────────────────────────────────────────────────

  async registrationOptions(appId: string, input: {
    /** The calling key's kind: publishable keys may register only where the app allows it. */
    keyKind: ApiKeyKind;
    userId: string;
    userName?: string;
    displayName?: string;
    authenticatorAttachment?: "platform" | "cross-platform";
    residentKey?: "discouraged" | "preferred" | "required";
  }): Promise<{ publicKey: CreationOptions }> {
    const settings = await this.deps.settings.get(appId);
    assertMayRegister(settings, input.keyKind);
    const user = await this.deps.repo.ensureUser(appId, input.userId);
    const existing = await this.deps.repo.listDescriptors(appId, user.id);
    const userName = input.userName ?? input.userId;
    const publicKey = await buildRegistrationOptions({
      rp: relyingParty(settings),
      userHandle: userHandleOf(user.id),
      userName,
      displayName: input.displayName ?? userName,
      // WebAuthn §5.4 (excludeCredentials): the authenticator refuses to create a second credential for this user.
      excludeCredentials: existing.map((c) => ({ id: c.credentialId, ...(c.transports.length ? { transports: c.transports } : {}) })),
      authenticatorAttachment: input.authenticatorAttachment,
      residentKey: input.residentKey ?? "preferred",
      userVerification: settings.webauthn.userVerification,
      timeoutMs: CHALLENGE_TTL_SECONDS * 1000,
    });
    await this.storeChallenge(appId, "registration", publicKey.challenge, input.userId);
    return { publicKey };
  }

  async registrationVerify(appId: string, input: {
    keyKind: ApiKeyKind;
    userId: string;
    deviceName?: string | null;
    credential: RegistrationResponseJSON;
  }): Promise<{ verified: true; credentialId: string; deviceName: string | null }> {
    const { credential } = input;
    const settings = await this.deps.settings.get(appId);
    assertMayRegister(settings, input.keyKind);
    const context: FailureContext = { appId, ceremony: "registration", externalUserId: input.userId, credentialId: credential.id };
    const clientData = readClientData(credential.response.clientDataJSON);
    if (!clientData) throw webauthnFailure("malformed_response");
    const challenge = await this.claimChallenge(context, clientData.challenge);
    if (challenge.externalUserId !== input.userId) throw await this.fail(context, "user_mismatch");

    const user = await this.deps.repo.findUser(appId, input.userId);
    if (!user) throw await this.fail(context, "unknown_user");
    const verdict = await verifyRegistration({
      response: credential,
      expectedChallenge: clientData.challenge,
      rp: relyingParty(settings),
      requireUserVerification: settings.webauthn.userVerification === "required",
    });
    if (!verdict.ok) throw await this.fail({ ...context, origin: clientData.origin }, verdict.reason);
    // The id the browser reported must be the one the authenticator attested.
    if (verdict.credentialId !== credential.id) throw await this.fail(context, "credential_id_mismatch");

    const deviceName = input.deviceName?.trim() || null;
    const now = this.deps.clock.now();
    try {
      await this.deps.repo.transaction(async (tx) => {
        const inserted = await this.deps.repo.insertCredential(tx, {
          appId,
          endUserId: user.id,
          credentialId: verdict.credentialId,
          publicKey: verdict.publicKey,
          counter: verdict.counter,
          transports: credential.response.transports ?? [],
          aaguid: verdict.aaguid,
          backupEligible: verdict.backupEligible,
          backupState: verdict.backupState,
          deviceName,
          createdAt: now,
        });
        // A credential id belongs to one user of an app (unique index): never re-bound.
        if (!inserted) throw new CeremonyFailure("credential_already_registered");
        await recordEvent(tx, {
          appId,
          type: "webauthn.registered",
          channel: "webauthn",
          externalUserId: input.userId,
          data: { credentialId: verdict.credentialId, deviceName, aaguid: verdict.aaguid, backupEligible: verdict.backupEligible },
          at: now,
        });
      });
    } catch (err) {
      if (err instanceof CeremonyFailure) throw await this.fail(context, err.reason);
      throw err;
    }
    this.deps.metrics.channelOutcomes.inc({ channel: "webauthn", outcome: "registered" });
    return { verified: true, credentialId: verdict.credentialId, deviceName };
  }

  // ── authentication ──────────────────────────────────────────────────────────────────────

  /** Options naming the user's credentials, or, without `userId`, for a discoverable (passkey) login. */
  async authenticationOptions(appId: string, input: { userId?: string }): Promise<{ publicKey: RequestOptions }> {
    const settings = await this.deps.settings.get(appId);
    // The challenge is drawn here (32 bytes from the CSPRNG, as the library would) so that it
    // can be stored in the same statement that reads the user's credentials.
    const challengeBytes = randomBytes(CHALLENGE_BYTES);
    const challenge = challengeBytes.toString("base64url");
    let allowCredentials: Array<{ id: string; transports?: string[] }> = [];
    if (input.userId !== undefined) {
      const now = this.deps.clock.now();
      const descriptors = await this.deps.repo.issueAuthenticationChallenge({
        appId,
        externalUserId: input.userId,
        challenge,
        createdAt: now,
        expiresAt: new Date(now.getTime() + CHALLENGE_TTL_SECONDS * 1000),
      });
      if (descriptors.length === 0) throw noCredentialsForUser();
      allowCredentials = descriptors.map((c) => ({ id: c.credentialId, ...(c.transports.length ? { transports: c.transports } : {}) }));
      this.countIssuedChallenge(now);
    } else {
      await this.storeChallenge(appId, "authentication", challenge, null);
    }
    const publicKey = await buildAuthenticationOptions({
      rpId: settings.webauthn.rpId,
      challenge: challengeBytes,
      allowCredentials,
      userVerification: settings.webauthn.userVerification,
      timeoutMs: CHALLENGE_TTL_SECONDS * 1000,
    });
    return { publicKey };
  }

  async authenticationVerify(appId: string, input: {
    userId?: string;
    purpose: string;
    credential: AuthenticationResponseJSON;
  }): Promise<{ verified: true; userId: string; credentialId: string }> {
    const { credential } = input;
    const context: FailureContext = { appId, ceremony: "authentication", externalUserId: input.userId ?? null, credentialId: credential.id };
    const clientData = readClientData(credential.response.clientDataJSON);
    if (!clientData) throw webauthnFailure("malformed_response");
    const claimed = await this.deps.repo.claimAuthentication({ appId, challenge: clientData.challenge, credentialId: credential.id, now: this.deps.clock.now() });
    if (!claimed) throw await this.unclaimedChallenge(context, clientData.challenge);
    /** The user the options were for; null for a discoverable login. */
    const namedUser = claimed.challengeUserId;
    context.externalUserId = namedUser ?? input.userId ?? null;

    const stored = claimed.credential;
    if (!stored) throw await this.fail(context, "credential_not_found");
    // The credential must belong to whoever was named: the user the options were for (their
    // allowCredentials) and the user in this request.
    const owner = stored.externalUserId;
    if ((namedUser !== null && namedUser !== owner) || (input.userId !== undefined && input.userId !== owner)) {
      throw await this.fail(context, "user_mismatch");
    }
    context.externalUserId = owner;
    // WebAuthn §7.2 (identifying the user): the user handle, when returned, must name the credential's owner;
    // a login that named nobody beforehand has only the user handle to go on, so it is required.
    const userHandle = credential.response.userHandle;
    if (userHandle !== undefined) {
      if (Buffer.from(userHandle, "base64url").toString("utf8") !== stored.endUserId) throw await this.fail(context, "user_handle_mismatch");
    } else if (namedUser === null) {
      throw await this.fail(context, "user_handle_missing");
    }

    const settings = await this.deps.settings.get(appId);
    const verdict = await verifyAuthentication({
      response: credential,
      expectedChallenge: clientData.challenge,
      rp: relyingParty(settings),
      credential: { credentialId: stored.credentialId, publicKey: stored.publicKey },
      requireUserVerification: settings.webauthn.userVerification === "required",
    });
    if (!verdict.ok) throw await this.fail({ ...context, origin: clientData.origin }, verdict.reason);
    // WebAuthn §6.1.1, §7.2: a counter that did not increase (when either is non-zero) means
    // the authenticator may have been cloned. Checked here for a clear answer, and again in
    // the UPDATE for concurrent assertions.
    if ((verdict.newCounter > 0 || stored.counter > 0) && verdict.newCounter <= stored.counter) {
      throw await this.fail(context, "counter_regression");
    }

    const recorded = await this.deps.repo.completeAuthentication({
      credentialRowId: stored.id,
      newCounter: verdict.newCounter,
      backupState: verdict.backupState,
      at: this.deps.clock.now(),
      purpose: input.purpose,
      event: {
        appId,
        externalUserId: stored.externalUserId,
        data: { purpose: input.purpose, credentialId: stored.credentialId, discoverable: namedUser === null, userVerified: verdict.userVerified },
      },
    });
    // Another assertion with this counter value got there first (a clone racing the original).
    if (!recorded) throw await this.fail(context, "counter_regression");
    this.deps.metrics.channelOutcomes.inc({ channel: "webauthn", outcome: "succeeded" });
    return { verified: true, userId: stored.externalUserId, credentialId: stored.credentialId };
  }

  // ── credential management ───────────────────────────────────────────────────────────────

  async listCredentials(appId: string, userId: string): Promise<{ credentials: CredentialView[] }> {
    const records = await this.deps.repo.listForUser(appId, userId);
    return { credentials: records.map(credentialView) };
  }

  async renameCredential(appId: string, input: { credentialId: string; deviceName: string | null; userId?: string }): Promise<CredentialView> {
    const record = await this.deps.repo.renameCredential({ appId, credentialId: input.credentialId, externalUserId: input.userId, deviceName: input.deviceName?.trim() || null });
    if (!record) throw credentialNotFound();
    return credentialView(record);
  }

  async deleteCredential(appId: string, input: { credentialId: string; userId?: string }): Promise<{ deleted: true; credentialId: string; userId: string }> {
    const now = this.deps.clock.now();
    const removed = await this.deps.repo.transaction(async (tx) => {
      const record = await this.deps.repo.deleteCredential(tx, { appId, credentialId: input.credentialId, externalUserId: input.userId });
      if (!record) return null;
      await recordEvent(tx, {
        appId,
        type: "webauthn.removed",
        channel: "webauthn",
        externalUserId: record.externalUserId,
        data: { credentialId: record.credentialId, deviceName: record.deviceName },
        at: now,
      });
      return record;
    });
    if (!removed) throw credentialNotFound();
    return { deleted: true, credentialId: removed.credentialId, userId: removed.externalUserId };
  }

  // ── challenges and failures ─────────────────────────────────────────────────────────────

  private async storeChallenge(appId: string, ceremony: Ceremony, challenge: string, externalUserId: string | null): Promise<void> {
    const now = this.deps.clock.now();
    await this.deps.repo.createChallenge({
      appId,
      ceremony,
      challenge,
      externalUserId,
      createdAt: now,
      expiresAt: new Date(now.getTime() + CHALLENGE_TTL_SECONDS * 1000),
    });
    this.countIssuedChallenge(now);
  }

  /** Every PURGE_EVERY_CHALLENGES issued challenges, one bounded purge runs in the background. */
  private countIssuedChallenge(now: Date): void {
    if (++this.issuedChallenges % PURGE_EVERY_CHALLENGES !== 0) return;
    this.deps.repo
      .purgeChallenges(new Date(now.getTime() - CHALLENGE_RETENTION_MS), PURGE_BATCH)
      .catch((err) => this.deps.onBackgroundError?.(err));
  }

  /**
   * Consumes the challenge the authenticator signed, or fails: an unknown value (never issued
   * here, another app's) changes nothing; a known one that is used, expired or of the other
   * ceremony is recorded as a failed verification.
   */
  private async claimChallenge(context: FailureContext, challenge: string): Promise<{ externalUserId: string | null }> {
    const now = this.deps.clock.now();
    const claimed = await this.deps.repo.consumeChallenge({ appId: context.appId, ceremony: context.ceremony, challenge, now });
    if (claimed) return claimed;
    throw await this.unclaimedChallenge(context, challenge);
  }

  /** Why a challenge could not be claimed, recorded when it is this app's; the error to throw. */
  private async unclaimedChallenge(context: FailureContext, challenge: string): Promise<AppError> {
    const known = await this.deps.repo.findChallenge(context.appId, challenge);
    if (!known) {
      this.deps.metrics.channelOutcomes.inc({ channel: "webauthn", outcome: "failed" });
      return webauthnFailure("challenge_not_found");
    }
    const reason: FailureReason = known.ceremony !== context.ceremony
      ? "wrong_ceremony"
      : known.consumedAt !== null
        ? "challenge_already_used"
        : "challenge_expired";
    return this.fail({ ...context, externalUserId: context.externalUserId ?? known.externalUserId }, reason);
  }

  /** Records a failed ceremony (event + metric) and returns the error to throw. */
  private async fail(context: FailureContext, reason: FailureReason): Promise<AppError> {
    const now = this.deps.clock.now();
    await this.deps.repo.transaction((tx) =>
      recordEvent(tx, {
        appId: context.appId,
        type: "verification.failed",
        channel: "webauthn",
        externalUserId: context.externalUserId,
        data: {
          ceremony: context.ceremony,
          reason,
          credentialId: context.credentialId,
          ...(reason === "origin_mismatch" && context.origin ? { origin: context.origin.slice(0, 256) } : {}),
        },
        at: now,
      }),
    );
    this.deps.metrics.channelOutcomes.inc({ channel: "webauthn", outcome: reason === "counter_regression" ? "counter_regression" : "failed" });
    return webauthnFailure(reason);
  }
}
