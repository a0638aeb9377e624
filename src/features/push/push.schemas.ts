/**
 * Route schemas for `/push` (API.md §4.5): the OpenAPI source and the edge validation.
 */
import { Type } from "typebox";
import { MfaProgress } from "../mfa/mfa.schemas.ts";

const UserId = Type.String({ minLength: 1, maxLength: 128, description: "Your own id for the end user (shown in webhooks as externalUserId)" });
const RequestId = Type.String({ minLength: 1, maxLength: 64, description: "The push request's id (push_…), from POST /push/send" });
const DeviceId = Type.String({ minLength: 1, maxLength: 64, description: "The device's id (pdv_…), from POST /push/devices" });
const Platform = Type.Union([Type.Literal("ios"), Type.Literal("android"), Type.Literal("web")]);
const Action = Type.Union([Type.Literal("approve"), Type.Literal("deny")]);
const DateTime = Type.String({ format: "date-time" });

// ── devices ──────────────────────────────────────────────────────────────────────────────────

export const RegisterDeviceBody = Type.Object({
  userId: UserId,
  fcmToken: Type.String({ minLength: 1, maxLength: 4096, description: "The app instance's Firebase Cloud Messaging registration token; registering it again updates that device" }),
  platform: Platform,
  deviceName: Type.Optional(Type.Union([Type.String({ maxLength: 128 }), Type.Null()], { description: "Shown in device lists (\"iPhone 15\")" })),
  publicKey: Type.Optional(Type.Union([
    Type.String({ minLength: 1, maxLength: 4096 }),
    Type.Object({}, { additionalProperties: true }),
    Type.Null(),
  ], { description: "P-256 public key as a JWK (object or JSON string), PEM, or base64 SPKI (DER). A device that registers one must sign every answer." })),
});

export const RegisterDeviceData = Type.Object({
  deviceId: Type.String(),
  deviceToken: Type.String({ description: "Secret shown once: the mobile app answers requests with it (X-Device-Token). Registering again issues a new one and revokes the old." }),
});

export const DevicesQuery = Type.Object({ userId: UserId });

export const DeviceView = Type.Object({
  deviceId: Type.String(),
  platform: Platform,
  deviceName: Type.Union([Type.String(), Type.Null()]),
  active: Type.Boolean({ description: "False once FCM reported the token unregistered or invalid; the device then gets no requests until registered again" }),
  signed: Type.Boolean({ description: "True when the device registered a public key and must sign its answers" }),
  createdAt: DateTime,
  lastSeenAt: Type.Union([DateTime, Type.Null()], { description: "Last registration or answer" }),
});

export const DeviceList = Type.Object({ devices: Type.Array(DeviceView) });
export const DeviceParams = Type.Object({ deviceId: DeviceId });
export const RemoveDeviceQuery = Type.Object({ userId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "When given, the device must be this user's" })) });
export const RemovedDeviceData = Type.Object({ deleted: Type.Literal(true), deviceId: Type.String() });

// ── requests ─────────────────────────────────────────────────────────────────────────────────

export const SendBody = Type.Object({
  userId: UserId,
  title: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: "Notification title; a localized \"sign-in request\" by default" })),
  body: Type.Optional(Type.String({ minLength: 1, maxLength: 1000, description: "Notification text" })),
  data: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 1024 }), {
    maxProperties: 32,
    description: "Extra string key/values delivered in the FCM data payload (keys must not be FCM-reserved or one of ours: requestId, title, body, expiresAt, numberMatching, context, type)",
  })),
  timeoutSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 600, description: "Seconds until the request expires (default 120, or the app's setting)" })),
  numberMatching: Type.Optional(Type.Boolean({ description: "Answer with matchNumber (2 digits) to show on your login screen; the device must send it back" })),
  context: Type.Optional(Type.Object({}, { additionalProperties: true, description: "What the phone shows about the attempt (IP, location, browser, …): delivered as JSON in data.context" })),
  purpose: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "Free label recorded with the verification (default login)" })),
});

export const SendData = Type.Object({
  requestId: Type.String(),
  status: Type.Literal("pending"),
  expiresAt: DateTime,
  matchNumber: Type.Optional(Type.String({ description: "With numberMatching: show this on your login screen (10–99)" })),
});

const respondFields = {
  action: Type.Optional(Action),
  response: Type.Optional(Action),
  matchNumber: Type.Optional(Type.Union([Type.String({ pattern: "^[0-9]{1,4}$" }), Type.Integer({ minimum: 0, maximum: 9999 })], { description: "With number matching: the number the user picked" })),
  signature: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: "Devices with a public key: base64 ECDSA-SHA256 (DER or raw r||s) over the UTF-8 string `${requestId}.${action}.${matchNumber}.${timestamp}` — action is approve or deny, matchNumber exactly as sent here (empty when none), timestamp the unix seconds below" })),
  timestamp: Type.Optional(Type.Integer({ minimum: 0, maximum: 99_999_999_999, description: "Unix seconds the answer was signed (within ±300 s of the server's clock)" })),
  deviceId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "With the secret key: the device whose answer is relayed (its signature is then required if it registered a public key)" })),
};

export const RespondBody = Type.Object({ requestId: RequestId, ...respondFields }, {
  description: "`action` (or its synonym `response`) is required",
});

export const RespondByIdBody = Type.Object({ requestId: Type.Optional(RequestId), ...respondFields }, {
  description: "`action` (or its synonym `response`) is required; requestId, when given, must equal the path's",
});

export const RespondData = Type.Object({
  requestId: Type.String(),
  status: Type.Union([Type.Literal("approved"), Type.Literal("denied")]),
  reason: Type.Optional(Type.String({ description: "For a denial: user_denied, or number_mismatch when a wrong matchNumber turned an approval into a denial" })),
  respondedAt: DateTime,
});

export const RequestParams = Type.Object({ requestId: RequestId });

const Wait = Type.Number({ minimum: 0, maximum: 30, description: "Seconds (≤ 30) to hold the answer until the status changes (long poll)" });

export const VerifyBody = Type.Object({
  requestId: RequestId,
  userId: Type.Optional(Type.Union([UserId, Type.Null()], { description: "When given, the request must be this user's" })),
  wait: Type.Optional(Wait),
});

export const StatusQuery = Type.Object({
  userId: Type.Optional(UserId),
  wait: Type.Optional(Wait),
});

export const VerifyData = Type.Object({
  verified: Type.Boolean({ description: "True only when status is approved" }),
  status: Type.Union([Type.Literal("pending"), Type.Literal("approved"), Type.Literal("denied"), Type.Literal("expired"), Type.Literal("failed")], {
    description: "failed: no device could be reached when it was sent",
  }),
  respondedAt: Type.Union([DateTime, Type.Null()]),
  requestId: Type.String(),
  expiresAt: DateTime,
  reason: Type.Optional(Type.String({ description: "Why it was denied or ended: user_denied, number_mismatch, expired, delivery_failed" })),
  mfa: Type.Optional(MfaProgress),
});
