// Lowercase hex, as MD5 digests appear in OTA messages.

export function toHex(bytes: Uint8Array): string {
  // Number's toString(16) rather than a digit table: a module-level table costs memory on the board.
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += (bytes[i] >> 4).toString(16) + (bytes[i] & 15).toString(16);
  return s;
}

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parses hex (either case). Returns null for odd length or any non-hex character. */
export function fromHex(s: string): Uint8Array | null {
  if (s.length % 2) return null;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = nibble(s.charCodeAt(2 * i)), lo = nibble(s.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) return null;
    out[i] = hi << 4 | lo;
  }
  return out;
}
