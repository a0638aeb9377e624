/**
 * The one adapter for `qrcode`: a PNG data URL of a text (the otpauth:// URI at TOTP setup).
 */
import QRCode from "qrcode";

/**
 * `data:image/png;base64,…` of a QR code holding `text`. Error correction M (15 %) keeps the
 * symbol small enough for phone cameras at this size; the 4-module quiet zone is what the QR
 * specification (ISO/IEC 18004 §6.3.8) asks for and what scanners need to find the code.
 */
export function qrCodePngDataUrl(text: string): Promise<string> {
  return QRCode.toDataURL(text, { type: "image/png", errorCorrectionLevel: "M", margin: 4, scale: 6 });
}
