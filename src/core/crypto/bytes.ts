// Conversions between byte arrays and strings with portable loops. Sockets deliver binary
// strings (one char per byte); the Espruino port has faster native conversions for bulk data,
// these are for the small things core code builds itself (topics, passwords, test vectors).

/** Binary string (chars 0..255) to bytes; higher char codes keep their low 8 bits. */
export function bytesFromString(s: string): Uint8Array {
  const u = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
  return u;
}

/** Bytes to a binary string (one char per byte). */
export function bytesToString(u: Uint8Array): string {
  let s = "";
  for (let i = 0; i < u.length; i++) s += String.fromCharCode(u[i]);
  return s;
}

/**
 * UTF-8 bytes of a string. HMAC inputs are ASCII in practice (product ids, device names), but a
 * non-ASCII name must still sign the same bytes a server computes.
 */
export function utf8Encode(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xe000) {
      const lo = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c < 0xdc00 && lo >= 0xdc00 && lo < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      } else {
        c = 0xfffd; // a lone surrogate has no UTF-8 form; encode the replacement character as Node does
      }
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | c >> 6, 0x80 | c & 63);
    else if (c < 0x10000) out.push(0xe0 | c >> 12, 0x80 | c >> 6 & 63, 0x80 | c & 63);
    else out.push(0xf0 | c >> 18, 0x80 | c >> 12 & 63, 0x80 | c >> 6 & 63, 0x80 | c & 63);
  }
  const u = new Uint8Array(out.length);
  for (let i = 0; i < out.length; i++) u[i] = out[i];
  return u;
}
