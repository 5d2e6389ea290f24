// Standard base64 (RFC 4648 section 4, "+/" alphabet). Decoding is strict about the alphabet
// so that a mistyped device secret fails loudly instead of producing a wrong key.

import { otaError } from "../errors";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

export function base64Encode(data: Uint8Array): string {
  let s = "";
  const n = data.length;
  for (let i = 0; i < n; i += 3) {
    const b1 = i + 1 < n ? data[i + 1] : 0, b2 = i + 2 < n ? data[i + 2] : 0;
    const v = data[i] << 16 | b1 << 8 | b2;
    s += ALPHABET.charAt(v >> 18) + ALPHABET.charAt(v >> 12 & 63) +
      (i + 1 < n ? ALPHABET.charAt(v >> 6 & 63) : "=") + (i + 2 < n ? ALPHABET.charAt(v & 63) : "=");
  }
  return s;
}

/**
 * Decodes base64 with or without "=" padding. Throws ENCODING on any character outside the
 * alphabet (whitespace included), misplaced padding or an impossible length.
 */
export function base64Decode(s: string): Uint8Array {
  let len = s.length;
  if (len % 4 === 0 && len > 0 && s.charAt(len - 1) === "=") {
    len--;
    if (s.charAt(len - 1) === "=") len--;
  }
  if (len % 4 === 1) throw otaError("ENCODING", "base64 text has an impossible length " + s.length);
  const out = new Uint8Array((len * 3) >> 2);
  let acc = 0, bits = 0, o = 0;
  for (let i = 0; i < len; i++) {
    // The 6-bit value; range tests instead of a table (no RAM), inline (no function).
    const c = s.charCodeAt(i);
    const v = c >= 65 && c <= 90 ? c - 65 : c >= 97 && c <= 122 ? c - 71 : c >= 48 && c <= 57 ? c + 4 : c === 43 ? 62 : c === 47 ? 63 : -1;
    if (v < 0) throw otaError("ENCODING", "bad base64 character at " + i);
    acc = (acc << 6 | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = acc >> bits;
    }
  }
  return out;
}
