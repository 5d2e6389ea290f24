// Host-side otadata encoding, written independently of src/core/esp32/otadata.ts so
// that tests compare two implementations (docs/esp32-formats.md#otadata, #otadata-crc).

import CRC32 from "crc-32";

export const OTA_NEW = 0;
export const OTA_PENDING_VERIFY = 1;
export const OTA_VALID = 2;
export const OTA_INVALID = 3;
export const OTA_ABORTED = 4;
export const OTA_UNDEFINED = 0xffffffff;

/**
 * esp_rom_crc32_le(0xFFFFFFFF, le32(seq), 4). The ROM function inverts the value passed in and
 * the result, like crc-32's seed, so this is the standard CRC-32 chained from 0xFFFFFFFF (not the
 * plain CRC-32 of the four bytes, which starts from 0).
 */
export function otaCrc(seq: number): number {
  const le = Uint8Array.of(seq & 0xff, (seq >>> 8) & 0xff, (seq >>> 16) & 0xff, (seq >>> 24) & 0xff);
  return CRC32.buf(le, 0xffffffff | 0) >>> 0;
}

export interface OtadataEntryInput {
  seq: number;
  state?: number;
  /** Override the CRC (to build corrupt entries); default: the correct one. */
  crc?: number;
}

export function encodeOtadataEntry(e: OtadataEntryInput): Uint8Array {
  const b = new Uint8Array(32).fill(0xff);
  const v = new DataView(b.buffer);
  v.setUint32(0, e.seq >>> 0, true);
  v.setUint32(24, (e.state ?? OTA_UNDEFINED) >>> 0, true);
  v.setUint32(28, (e.crc ?? otaCrc(e.seq)) >>> 0, true);
  return b;
}

/** Replaces otadata copy `copy` (0 or 1) in a flash image: the sector is erased, then the entry written. null leaves it erased. */
export function writeOtadataEntry(flash: Uint8Array, otadataOffset: number, copy: number, e: OtadataEntryInput | null): void {
  const at = otadataOffset + copy * 0x1000;
  flash.fill(0xff, at, at + 0x1000);
  if (e) flash.set(encodeOtadataEntry(e), at);
}
