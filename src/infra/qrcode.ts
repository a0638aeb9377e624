/**
 * The one adapter for `qrcode`: a PNG data URL of a text (the otpauth:// URI at TOTP setup).
 */
import QRCode from "qrcode";

/**
 * `data:image/png;base64,…` of a QR code holding `text`. Error correction M (15 %) keeps the
 * symbol small enough for phone cameras at this size; the 4-module quiet zone is what the QR
 * specification (ISO/IEC 18004 §6.3.8) asks for and what scanners need to find the code.
 * PNG rows are filtered with "Up" (scaled modules repeat rows, which then compress to
 * nothing) in 8-bit grayscale instead of trying every filter on RGBA: about a third of the
 * CPU and half the bytes, the same pixels.
 */
export function qrCodePngDataUrl(text: string): Promise<string> {
  const options = {
    type: "image/png",
    errorCorrectionLevel: "M",
    margin: 4,
    scale: 6,
    // Handed to pngjs by qrcode's PNG renderer (qrcode/lib/renderer/png.js); @types/qrcode
    // declares rendererOpts for JPEG/WebP only, hence the widening below.
    rendererOpts: { filterType: 2, colorType: 0 },
  } as const;
  return QRCode.toDataURL(text, options as QRCode.QRCodeToDataURLOptions);
}
