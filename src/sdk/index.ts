/**
 * Latchkey SDK: a typed client for the SecureKey-compatible two-factor API,
 * and webhook signature checking. Node 20+ (uses the global `fetch` and `node:crypto`).
 *
 * @packageDocumentation
 */
import { TwoFactorClient } from "./client.ts";

export { TwoFactorClient };
export default TwoFactorClient;
export type { TwoFactorClientOptions } from "./client.ts";
export { TwoFactorError } from "./errors.ts";
export type {
  ErrorData,
  ServerErrorCode,
  TransportErrorCode,
  TwoFactorErrorCode,
  TwoFactorErrorInit,
} from "./errors.ts";
export { verifyWebhookSignature } from "./webhooks.ts";
export type { FetchFunction } from "./transport.ts";
export type {
  Channel,
  IsoDateTime,
  MfaProgress,
  PageInput,
  PostRequestOptions,
  RequestOptions,
  UnspecifiedData,
} from "./types.ts";

export type { AppApi, AppInfo } from "./app.api.ts";
export type { AuthApi, CreateEphemeralKeyParams, EphemeralKey, EphemeralKeyScope } from "./auth.api.ts";
export type {
  EmailApi,
  EmailSendInput,
  EmailSendResult,
  EmailStatusInput,
  EmailVerifyInput,
  OtpStatusResult,
  OtpVerifyResult,
  SmsApi,
  SmsSendInput,
  SmsSendResult,
  SmsStatusInput,
  SmsVerifyInput,
} from "./otp.api.ts";
export type {
  TotpApi,
  TotpBackupCodesResult,
  TotpDisableResult,
  TotpSetupInput,
  TotpSetupResult,
  TotpStatusResult,
  TotpVerifyInput,
  TotpVerifyResult,
} from "./totp.api.ts";
export type {
  AuthenticationCredentialJSON,
  CreationOptionsJSON,
  CredentialDescriptorJSON,
  CredentialInput,
  RegistrationCredentialJSON,
  RequestOptionsJSON,
  WebAuthnApi,
  WebAuthnAuthenticateOptionsInput,
  WebAuthnAuthenticateOptionsResult,
  WebAuthnAuthenticateVerifyInput,
  WebAuthnAuthenticateVerifyResult,
  WebAuthnCredential,
  WebAuthnCredentialList,
  WebAuthnDeleteResult,
  WebAuthnRegisterOptionsInput,
  WebAuthnRegisterOptionsResult,
  WebAuthnRegisterVerifyInput,
  WebAuthnRegisterVerifyResult,
} from "./webauthn.api.ts";
export type {
  PushAction,
  PushApi,
  PushDevice,
  PushDeviceList,
  PushPlatform,
  PushRegisterDeviceInput,
  PushRegisterDeviceResult,
  PushRespondInput,
  PushRespondResult,
  PushSendInput,
  PushSendResult,
  PushStatus,
  PushVerifyInput,
  PushVerifyResult,
  WaitForApprovalOptions,
} from "./push.api.ts";
export type { MfaApi, MfaCheckInput, MfaCheckResult } from "./mfa.api.ts";
export type {
  WebhookAttempt,
  WebhookCreateInput,
  WebhookDeliveriesPage,
  WebhookDelivery,
  WebhookDeliveryList,
  WebhookEndpoint,
  WebhookEndpointList,
  WebhookEndpointWithSecret,
  WebhookEventType,
  WebhookRotateSecretInput,
  WebhooksApi,
  WebhookSecretRotation,
  WebhookTestInput,
  WebhookTestResult,
  WebhookUpdateInput,
} from "./webhooks.api.ts";
