// HMAC-SHA256 (RFC 2104), used to sign the Tencent MQTT password.

import type { Sha256Fn } from "../ports";

const BLOCK = 64;

/**
 * HMAC-SHA256 of msg under key with `hash`: on a board the platform's one-shot native SHA-256
 * (Espruino's crypto.SHA256, far faster than JS), elsewhere sha256Bytes. The caller picks, so
 * code that has the native one never carries the JS one.
 */
export function hmacSha256(key: Uint8Array, msg: Uint8Array, hash: Sha256Fn): Uint8Array {
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
