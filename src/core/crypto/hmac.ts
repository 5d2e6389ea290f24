// HMAC-SHA256 (RFC 2104), used to sign the Tencent MQTT password.

import type { Sha256Fn } from "../ports";
import { sha256Bytes } from "./sha256";

const BLOCK = 64;

/**
 * HMAC-SHA256 of msg under key. Uses the platform's one-shot native SHA-256 when there is one
 * (Espruino's crypto.SHA256 is far faster than JS), else the JS implementation.
 */
export function hmacSha256(key: Uint8Array, msg: Uint8Array, nativeSha256: Sha256Fn | null): Uint8Array {
  const hash = nativeSha256 || sha256Bytes;
  if (key.length > BLOCK) key = hash(key);
  const inner = new Uint8Array(BLOCK + msg.length);
  const outer = new Uint8Array(BLOCK + 32);
  for (let i = 0; i < BLOCK; i++) {
    const k = i < key.length ? key[i] : 0;
    inner[i] = k ^ 0x36;
    outer[i] = k ^ 0x5c;
  }
  inner.set(msg, BLOCK);
  outer.set(hash(inner), BLOCK);
  return hash(outer);
}
