// One error type for the whole agent, with stable string codes (like undici's UND_ERR_*).
// Espruino loses `message` on Error subclasses, so this is a plain Error with a `code`.

export type OtaErrorCode =
  // board / configuration
  | "BOARD_INVALID"
  // partition table and otadata
  | "PT_MAGIC"
  | "PT_MD5"
  | "PT_NO_TERMINATOR"
  | "PT_NO_OTADATA"
  | "PT_OTA_GAP"
  | "PT_NO_TARGET"
  | "PT_OUT_OF_RANGE"
  // image checks
  | "IMG_TRUNCATED"
  | "IMG_MAGIC"
  | "IMG_CHIP"
  | "IMG_SEGMENTS"
  | "IMG_DESC_MAGIC"
  | "IMG_PROJECT"
  | "IMG_TOO_BIG"
  | "IMG_CHECKSUM"
  | "IMG_SHA256"
  // application packages (docs/app-ota.md)
  | "APP_PACKAGE"
  // flash
  | "FLASH_FORBIDDEN"
  | "FLASH_RANGE"
  // protocol / network
  | "MSG_INVALID"
  | "HTTP_PROTOCOL"
  | "MQTT_PROTOCOL"
  // crypto helpers
  | "ENCODING"
  | "MD5_STATE"
  | "CRYPTO_USAGE"
  // power-safe journal
  | "JOURNAL_WRITE"
  | "JOURNAL_STATE"
  // esp32 partition table / otadata
  | "PT_DUPLICATE"
  | "OTADATA_STATE"
  // MQTT key authentication input (product id, device name, secret, conn id, expiry)
  | "MQTT_CREDENTIALS";

export interface OtaError extends Error {
  code: OtaErrorCode;
}

export function otaError(code: OtaErrorCode, detail: string): OtaError {
  const e = new Error(code + ": " + detail) as OtaError;
  e.code = code;
  return e;
}

export function isOtaError(e: unknown): e is OtaError {
  return !!e && typeof (e as OtaError).code === "string";
}

/** The text of anything thrown: its message when it has one, else the value itself. */
export function errorText(e: unknown): string {
  return e && (e as Error).message ? (e as Error).message : String(e);
}
