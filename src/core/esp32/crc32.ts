// Reflected CRC-32 (poly 0xEDB88320) with the ESP32 ROM / zlib calling convention:
// the argument is the previous *result*, so it is inverted on entry and on exit.
// crc32Update(0, data) is the standard CRC-32; chaining results continues a CRC.
// The otadata CRC passes 0xFFFFFFFF, i.e. a zero internal register (docs/esp32-formats.md#otadata-crc).
//
// Memory (Espruino): computed bit by bit, without the 256-entry table (a 1 KB Int32Array,
// ~76 JsVars for as long as the job is loaded). It only ever covers a 4-byte otadata seq or a
// 248-byte journal record: ~6 ms per record on the Linux interpreter (a table-free nibble
// variant is 2.5x faster but holds a 16-entry array, ~30 JsVars, during the call).
// (E.CRC32 is the standard CRC-32 and the otadata CRC of a seq equals E.CRC32 of its four
// bytes xor 0xDEBB20E3, but the portable core reaches no platform global.)

import { putU32le } from "../le";

export function crc32Update(crc: number, bytes: Uint8Array, off: number, len: number): number {
  let c = ~crc;
  const end = off + len;
  for (let i = off; i < end; i++) {
    c ^= bytes[i];
    // The eight bit steps written out: Espruino interprets, and the loop counter cost as much as the steps.
    c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/**
 * The CRC stored in an otadata entry: esp_rom_crc32_le(0xFFFFFFFF, &ota_seq, 4).
 * Not the standard CRC-32 of the four bytes (seq 1 gives 0x4743989A, not 0x99F8B879).
 * Host tools and tests; the device computes it inline in otadata.ts.
 */
export function otaSeqCrc(seq: number): number {
  const b = new Uint8Array(4);
  putU32le(b, 0, seq);
  return crc32Update(0xffffffff, b, 0, 4);
}
