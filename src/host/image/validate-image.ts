// What the bootloader's image verification checks before it jumps to an app
// (docs/esp32-formats.md#appended-sha-256): header, chip id, segment walk, XOR checksum, appended SHA-256, size.
// Host-only (node:crypto), independent of the device-side ImageVerifier.

import { createHash } from "node:crypto";

export type ImageCheck = { ok: true; length: number } | { ok: false; reason: string };

export function validateAppImage(flash: Uint8Array, offset: number, partSize: number, chipId = 0): ImageCheck {
  const end = Math.min(flash.length, offset + partSize);
  const v = new DataView(flash.buffer, flash.byteOffset, flash.byteLength);
  if (offset + 24 > end) return { ok: false, reason: "no room for a header" };
  if (flash[offset] !== 0xe9) return { ok: false, reason: "magic" };
  if (v.getUint16(offset + 12, true) !== chipId) return { ok: false, reason: "chip id" };
  const segments = flash[offset + 1];
  if (segments > 16) return { ok: false, reason: "segment count" };
  let pos = offset + 24;
  let sum = 0xef;
  for (let s = 0; s < segments; s++) {
    if (pos + 8 > end) return { ok: false, reason: "segment header beyond partition" };
    const len = v.getUint32(pos + 4, true);
    if (len % 4 !== 0 || len >= 0x1000000) return { ok: false, reason: "segment length" };
    pos += 8;
    if (pos + len > end) return { ok: false, reason: "segment beyond partition" };
    for (let i = pos; i < pos + len; i++) sum ^= flash[i];
    pos += len;
  }
  const checksumAt = offset + (((pos - offset + 16) & ~15) - 1);
  if (checksumAt >= end) return { ok: false, reason: "checksum beyond partition" };
  if (flash[checksumAt] !== sum) return { ok: false, reason: "checksum" };
  let length = checksumAt + 1 - offset;
  if (flash[offset + 23] === 1) {
    if (offset + length + 32 > end) return { ok: false, reason: "hash beyond partition" };
    const want = createHash("sha256").update(flash.subarray(offset, offset + length)).digest();
    if (!want.equals(flash.subarray(offset + length, offset + length + 32))) return { ok: false, reason: "sha256" };
    length += 32;
  }
  return { ok: true, length };
}
