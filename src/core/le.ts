// Little-endian field access for the on-flash structures (ESP32 formats and the journal).
// Plain index arithmetic rather than DataView: works on any subarray offset and costs no
// allocation on Espruino.

export function u16le(b: Uint8Array, off: number): number {
  return b[off] | (b[off + 1] << 8);
}

/** Unsigned: values >= 0x80000000 come back as positive numbers. */
export function u32le(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

export function putU32le(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 255;
  b[off + 1] = (v >>> 8) & 255;
  b[off + 2] = (v >>> 16) & 255;
  b[off + 3] = (v >>> 24) & 255;
}
