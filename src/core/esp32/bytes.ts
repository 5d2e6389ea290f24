// Little-endian field access for the ESP32 on-flash structures (all of them are LE).
// Plain index arithmetic rather than DataView: works on any subarray offset and costs
// no allocation on Espruino.

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

/** A NUL-padded C char array (label, version, project name); stops at the first NUL or after `max` bytes. */
export function cString(b: Uint8Array, off: number, max: number): string {
  let s = "";
  for (let i = 0; i < max; i++) {
    const c = b[off + i];
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

export function hex32(v: number): string {
  return "0x" + (v >>> 0).toString(16);
}
