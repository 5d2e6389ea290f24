// Tencent IoT Hub / IoT Explorer "key authentication" for MQTT over plain TCP (port 1883):
//   clientId = productId + deviceName
//   username = clientId;sdkAppId;connId;expiry
//   password = hex(HMAC-SHA256(key = base64decode(deviceSecret), msg = username)) + ";hmacsha256"
// (docs/tencent-protocol.md#mqtt-key-authentication). The connId must be fresh per connection, so build credentials inside the
// MqttClient `credentials` callback rather than once at boot.

import { base64Decode } from "../crypto/base64";
import { bytesFromString } from "../crypto/bytes";
import { toHex } from "../crypto/hex";
import { hmacSha256 } from "../crypto/hmac";
import { otaError } from "../errors";
import { unitRandom } from "./random";

export interface TencentAuthOptions {
  productId: string;
  deviceName: string;
  deviceSecretBase64: string;
  /** 5 characters from [a-zA-Z0-9], new for every connection (see randomConnId). */
  connId: string;
  /** Unix seconds after which the platform refuses this signature (see tencentExpiry). */
  expiry: number;
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

/** Below this (2020-09-13) the device clock has evidently never been set. */
const CLOCK_SET_AFTER = 1600000000;

/** now + lifetime when the clock is set, else TENCENT_NO_CLOCK_EXPIRY; never beyond it. */
export function tencentExpiry(unixNowSec: number, lifetimeSec: number): number {
  if (!(unixNowSec > CLOCK_SET_AFTER) || !(lifetimeSec > 0)) return TENCENT_NO_CLOCK_EXPIRY;
  const e = Math.floor(unixNowSec + lifetimeSec);
  return e < TENCENT_NO_CLOCK_EXPIRY ? e : TENCENT_NO_CLOCK_EXPIRY;
}

/** The broker for region "china" (ap-guangzhou). */
export function tencentHost(productId: string): string {
  return productId + ".iotcloud.tencentdevices.com";
}

const CONN_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

function isAlnum(c: string): boolean {
  return c.length === 1 && CONN_ID_CHARS.indexOf(c) >= 0;
}

/** 5 random characters from [a-zA-Z0-9]; `random` yields a 32-bit integer or a number in [0, 1). */
export function randomConnId(random: () => number): string {
  let s = "";
  for (let i = 0; i < 5; i++) s += CONN_ID_CHARS.charAt(Math.floor(unitRandom(random()) * 62));
  return s;
}

function bad(detail: string): Error {
  return otaError("MQTT_CREDENTIALS", detail);
}

/**
 * Signs one connection. `sha256` is the platform's native one-shot SHA-256 (Espruino's
 * crypto.SHA256) or null for the JS fallback. Throws otaError("MQTT_CREDENTIALS") for input
 * the platform would reject anyway, so a typo shows up as a clear error instead of an
 * endless series of CONNACK 4 refusals.
 */
export function tencentCredentials(opts: TencentAuthOptions, sha256: ((d: Uint8Array) => Uint8Array) | null): TencentCredentials {
  const pid = opts.productId;
  const dev = opts.deviceName;
  const appId = opts.sdkAppId || TENCENT_DEFAULT_SDK_APPID;
  if (!pid || !dev) throw bad("productId and deviceName are required");
  if ((pid + dev + appId).indexOf(";") >= 0) throw bad("productId, deviceName and sdkAppId must not contain ';'");
  const cid = opts.connId;
  if (typeof cid !== "string" || cid.length !== 5) throw bad("connId must be 5 characters");
  for (let i = 0; i < 5; i++) if (!isAlnum(cid.charAt(i))) throw bad("connId must be [a-zA-Z0-9]");
  const exp = opts.expiry;
  if (!(exp > 0) || exp !== Math.floor(exp)) throw bad("expiry must be a positive whole number of seconds");
  let key: Uint8Array;
  try {
    key = base64Decode(opts.deviceSecretBase64 || "");
  } catch (e) {
    throw bad("deviceSecret is not valid base64 (" + (e as Error).message + ")");
  }
  if (!key.length) throw bad("deviceSecret is empty");
  const clientId = pid + dev;
  const username = clientId + ";" + appId + ";" + cid + ";" + exp;
  const mac = hmacSha256(key, bytesFromString(username), sha256);
  return { clientId: clientId, username: username, password: toHex(mac) + ";hmacsha256" };
}
