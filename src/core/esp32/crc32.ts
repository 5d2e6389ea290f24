// Reflected CRC-32 (poly 0xEDB88320) with the ESP32 ROM / zlib calling convention:
// the argument is the previous *result*, so it is inverted on entry and on exit.
// crc32Update(0, data) is the standard CRC-32; chaining results continues a CRC.
// The otadata CRC passes 0xFFFFFFFF, i.e. a zero internal register (docs/esp32-formats.md#otadata-crc).

let table: Int32Array | null = null;

/** Built on first use so that loading the module costs nothing on the device. */
function crcTable(): Int32Array {
  if (table) return table;
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    t[n] = c;
  }
  table = t;
  return t;
}

export function crc32Update(crc: number, bytes: Uint8Array, off: number, len: number): number {
  const t = crcTable();
  let c = ~crc;
  const end = off + len;
  for (let i = off; i < end; i++) c = t[(c ^ bytes[i]) & 255] ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * The CRC stored in an otadata entry: esp_rom_crc32_le(0xFFFFFFFF, &ota_seq, 4).
 * Not the standard CRC-32 of the four bytes (seq 1 gives 0x4743989A, not 0x99F8B879).
 */
export function otaSeqCrc(seq: number): number {
  const t = crcTable();
  let c = 0;
  for (let i = 0; i < 4; i++) c = t[(c ^ (seq >>> (8 * i))) & 255] ^ (c >>> 8);
  return ~c >>> 0;
}
