// Little-endian field access for the on-flash structures (ESP32 formats and the journal).
// Plain index arithmetic rather than DataView: works on any subarray offset and costs no
// allocation on Espruino.
//
// Memory (Espruino): reading and writing a u32 is one function (le32), because every function
// costs JsVars on the board whatever its length; u32le and putU32le are the same function under
// the names that say which way a call goes. u16 fields are read inline where they are used.

/** The unsigned u32 at b[off] (values >= 0x80000000 come back positive); given `v`, writes v there instead. */
export function le32(b: Uint8Array, off: number): number;
export function le32(b: Uint8Array, off: number, v: number): void;
export function le32(b: Uint8Array, off: number, v?: number): number | void {
  if (v === undefined) return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
  b[off] = v & 255;
  b[off + 1] = (v >>> 8) & 255;
  b[off + 2] = (v >>> 16) & 255;
  b[off + 3] = (v >>> 24) & 255;
}

export { le32 as u32le, le32 as putU32le };
