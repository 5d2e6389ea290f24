// Tencent IoT Hub / IoT Explorer "key authentication" for MQTT over plain TCP (port 1883):
//   clientId = productId + deviceName
//   username = clientId;sdkAppId;connId;expiry
//   password = hex(HMAC-SHA256(key = base64decode(deviceSecret), msg = username)) + ";hmacsha256"
// (docs/tencent-protocol.md#mqtt-key-authentication). The connId must be fresh per connection, so build credentials inside the
// MqttClient `credentials` callback rather than once at boot.

import { otaError } from "../errors";
import type { Sha256Fn } from "../ports";

export interface TencentAuthOptions {
  productId: string;
  deviceName: string;
  deviceSecretBase64: string;
  /** 5 characters from [a-zA-Z0-9], new for every connection; when absent, drawn from `random`. */
  connId?: string;
  /**
   * Unix seconds after which the platform refuses this signature; when absent, an hour after
   * `unixNowSec` if the clock is set, else TENCENT_NO_CLOCK_EXPIRY (see there), never beyond it.
   */
  expiry?: number;
  /** A random 32-bit integer or a number in [0, 1) (values in [0, 1) pass through); needed without `connId`. */
  random?: () => number;
  /** The wall clock in Unix seconds, 0 when unknown; read without `expiry`. */
  unixNowSec?: number;
  /** "12010126" is what Tencent's docs and Java SDK use; the C SDK sends "21010406". Both are accepted. */
  sdkAppId?: string;
}

export interface TencentCredentials {
  clientId: string;
  username: string;
  password: string;
}

export const TENCENT_DEFAULT_SDK_APPID = "12010126";

/**
 * Expiry for a device without a trustworthy wall clock: 2^31 - 1 (2038-01-19T03:14:07Z).
 * Tencent's own SDKs send exactly this then: the Java SDK uses Integer.MAX_VALUE when it
 * reconnects by itself, and the C SDK uses LONG_MAX, which is this value on 32-bit MCUs such
 * as the ESP8266/ESP32 (inference: `long` is 32 bits there). The platform only checks that the
 * expiry lies in the future, so a signature built before SNTP has run still works, while a
 * 64-bit-sized number might not parse on every broker front end. The 2038 limit is the
 * platform's own; a device with a set clock should use a short lifetime instead.
 */
export const TENCENT_NO_CLOCK_EXPIRY = 2147483647;

/** The broker for region "china" (ap-guangzhou). */
export function tencentHost(productId: string): string {
  return productId + ".iotcloud.tencentdevices.com";
}

/**
 * Signs one connection; on the device with a fresh connId and expiry each time, drawn here from
 * `random` and `unixNowSec` (one function rather than three: each costs RAM on Espruino).
 * `sha256` is the platform's native one-shot SHA-256 (Espruino's crypto.SHA256) or, off the
 * board, sha256Bytes. Throws otaError("MQTT_CREDENTIALS") for input
 * the platform would reject anyway, so a typo shows up as a clear error instead of an
 * endless series of CONNACK 4 refusals.
 */
export function tencentCredentials(opts: TencentAuthOptions, sha256: Sha256Fn): TencentCredentials {
  const pid = opts.productId;
  const dev = opts.deviceName;
  const appId = opts.sdkAppId || "12010126"; // TENCENT_DEFAULT_SDK_APPID
  let cid = opts.connId;
  let exp = opts.expiry;
  const bad = "MQTT_CREDENTIALS";
  if (cid === undefined) {
    cid = "";
    for (let i = 0; i < 5; i++) {
      const r = opts.random!();
      cid += "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".charAt(Math.floor((r >= 0 && r < 1 ? r : (r >>> 0) / 4294967296) * 62));
    }
  }
  if (exp === undefined) {
    // A clock below 1600000000 (2020-09-13) has evidently never been set. Literals rather than
    // the constant's name: no name on the device.
    const now = opts.unixNowSec!;
    exp = now > 1600000000 ? Math.floor(now + 3600) : 2147483647;
    if (exp > 2147483647) exp = 2147483647;
  }
  if (!pid || !dev) throw otaError(bad, "productId and deviceName are required");
  if ((pid + dev + appId).indexOf(";") >= 0) throw otaError(bad, "productId, deviceName and sdkAppId must not contain ';'");
  if (typeof cid !== "string" || cid.length !== 5) throw otaError(bad, "connId must be 5 characters");
  for (let i = 0; i < 5; i++) {
    const c = cid.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122))) throw otaError(bad, "connId must be [a-zA-Z0-9]");
  }
  if (!(exp > 0) || exp !== Math.floor(exp)) throw otaError(bad, "expiry must be a positive whole number of seconds");
  // The key (base64), HMAC-SHA256 (RFC 2104) and the hex digest, written out rather than
  // calling ../crypto's base64Decode, hmacSha256 and toHex: this runs in the resident, where
  // each function costs RAM for as long as the agent runs. Same rules as base64Decode.
  const b64 = opts.deviceSecretBase64 || "";
  let len = b64.length;
  if (len % 4 === 0 && len > 0 && b64.charAt(len - 1) === "=") {
    len--;
    if (b64.charAt(len - 1) === "=") len--;
  }
  if (len % 4 === 1) throw otaError(bad, "deviceSecret is not valid base64 (impossible length " + b64.length + ")");
  let key = new Uint8Array((len * 3) >> 2);
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < len; i++) {
    const c = b64.charCodeAt(i);
    const v = c >= 65 && c <= 90 ? c - 65 : c >= 97 && c <= 122 ? c - 71 : c >= 48 && c <= 57 ? c + 4 : c === 43 ? 62 : c === 47 ? 63 : -1;
    if (v < 0) throw otaError(bad, "deviceSecret is not valid base64 (bad character at " + i + ")");
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      key[o++] = acc >> bits;
    }
  }
  if (!key.length) throw otaError(bad, "deviceSecret is empty");
  const clientId = pid + dev;
  const username = clientId + ";" + appId + ";" + cid + ";" + exp;
  // HMAC over the username's bytes (Tencent's fields are ASCII): block size 64.
  if (key.length > 64) key = sha256(key);
  const inner = new Uint8Array(64 + username.length);
  const outer = new Uint8Array(64 + 32);
  for (let i = 0; i < 64; i++) {
    const k = i < key.length ? key[i] : 0;
    inner[i] = k ^ 0x36;
    outer[i] = k ^ 0x5c;
  }
  for (let i = 0; i < username.length; i++) inner[64 + i] = username.charCodeAt(i);
  outer.set(sha256(inner), 64);
  const mac = sha256(outer);
  let hex = "";
  for (let i = 0; i < mac.length; i++) hex += (mac[i] >> 4).toString(16) + (mac[i] & 15).toString(16);
  return { clientId: clientId, username: username, password: hex + ";hmacsha256" };
}
