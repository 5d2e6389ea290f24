// Field access for the ESP32 on-flash structures (all little-endian).
export { u32le, putU32le } from "../le";

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
