// Incremental SHA-256 in plain ES5 JavaScript (FIPS 180-4). Espruino's crypto.SHA256 is native
// but one-shot, so anything that arrives in pieces (the SHA-256 appended to an app image) or a
// build without the crypto module needs this one.

import { otaError } from "../errors";

/** The 64 round constants, kept as text so they cost no RAM until first used. */
const K_HEX =
  "428a2f9871374491b5c0fbcfe9b5dba53956c25b59f111f1923f82a4ab1c5ed5" +
  "d807aa9812835b01243185be550c7dc372be5d7480deb1fe9bdc06a7c19bf174" +
  "e49b69c1efbe47860fc19dc6240ca1cc2de92c6f4a7484aa5cb0a9dc76f988da" +
  "983e5152a831c66db00327c8bf597fc7c6e00bf3d5a7914706ca635114292967" +
  "27b70a852e1b21384d2c6dfc53380d13650a7354766a0abb81c2c92e92722c85" +
  "a2bfe8a1a81a664bc24b8b70c76c51a3d192e819d6990624f40e3585106aa070" +
  "19a4c1161e376c082748774c34b0bcb5391c0cb34ed8aa4a5b9cca4f682e6ff3" +
  "748f82ee78a5636f84c878148cc7020890befffaa4506cebbef9a3f7c67178f2";

/** The round constants as numbers, made by the first Sha256 (in its constructor: no extra function). */
let roundConstants: Int32Array | null = null;

/**
 * Compresses the 64-byte block u[j..j+64) into the state H (a..h), using w as the message
 * schedule and k as the round constants. Short names and "ram" because Espruino re-lexes
 * source text on every statement.
 */
function sha256Block(H: Int32Array, w: Int32Array, k: Int32Array, u: Uint8Array, j: number): void {
  "ram";
  var a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7], i: number, t: number, s: number;
  for (i = 0; i < 16; i++, j += 4) w[i] = u[j] << 24 | u[j + 1] << 16 | u[j + 2] << 8 | u[j + 3];
  for (; i < 64; i++) {
    t = w[i - 15]; s = w[i - 2];
    w[i] = ((t >>> 7 | t << 25) ^ (t >>> 18 | t << 14) ^ t >>> 3) + ((s >>> 17 | s << 15) ^ (s >>> 19 | s << 13) ^ s >>> 10) + w[i - 7] + w[i - 16] | 0;
  }
  for (i = 0; i < 64; i++) {
    t = h + ((e >>> 6 | e << 26) ^ (e >>> 11 | e << 21) ^ (e >>> 25 | e << 7)) + (g ^ e & (f ^ g)) + k[i] + w[i] | 0;
    s = ((a >>> 2 | a << 30) ^ (a >>> 13 | a << 19) ^ (a >>> 22 | a << 10)) + (a & b | c & (a | b)) | 0;
    h = g; g = f; f = e; e = d + t | 0; d = c; c = b; b = a; a = t + s | 0;
  }
  H[0] = H[0] + a | 0; H[1] = H[1] + b | 0; H[2] = H[2] + c | 0; H[3] = H[3] + d | 0;
  H[4] = H[4] + e | 0; H[5] = H[5] + f | 0; H[6] = H[6] + g | 0; H[7] = H[7] + h | 0;
}

export class Sha256 {
  private h: Int32Array;
  private w: Int32Array;
  /** Pending bytes of an incomplete block. */
  private p: Uint8Array;
  /** Bytes absorbed so far. */
  private n: number;
  private done: boolean;

  constructor() {
    if (!roundConstants) {
      roundConstants = new Int32Array(64);
      for (let i = 0; i < 64; i++) roundConstants[i] = parseInt(K_HEX.substr(i * 8, 8), 16) | 0;
    }
    this.h = new Int32Array(8);
    this.w = new Int32Array(64);
    this.p = new Uint8Array(64);
    this.n = 0;
    this.done = false;
    const h = this.h;
    h[0] = 0x6a09e667; h[1] = 0xbb67ae85 | 0; h[2] = 0x3c6ef372; h[3] = 0xa54ff53a | 0;
    h[4] = 0x510e527f; h[5] = 0x9b05688c | 0; h[6] = 0x1f83d9ab; h[7] = 0x5be0cd19;
  }

  update(data: Uint8Array, off: number, len: number): void {
    if (this.done) throw otaError("CRYPTO_USAGE", "SHA-256 updated after digest");
    if (!(off >= 0 && len >= 0 && off + len <= data.length)) throw otaError("CRYPTO_USAGE", "SHA-256 update range outside the data");
    const k = roundConstants as Int32Array, p = this.p;
    let u = this.n % 64;
    this.n += len;
    if (u) {
      const take = len < 64 - u ? len : 64 - u;
      p.set(data.subarray(off, off + take), u);
      off += take;
      len -= take;
      u += take;
      if (u < 64) return;
      sha256Block(this.h, this.w, k, p, 0);
    }
    // Whole blocks straight from the caller's buffer: no copy.
    while (len >= 64) {
      sha256Block(this.h, this.w, k, data, off);
      off += 64;
      len -= 64;
    }
    if (len) p.set(data.subarray(off, off + len), 0);
  }

  digest(): Uint8Array {
    if (this.done) throw otaError("CRYPTO_USAGE", "SHA-256 digest taken twice");
    this.done = true;
    const k = roundConstants as Int32Array, p = this.p, u = this.n % 64;
    p[u] = 0x80;
    p.fill(0, u + 1);
    if (u >= 56) {
      sha256Block(this.h, this.w, k, p, 0);
      p.fill(0);
    }
    // 64-bit big-endian bit count; the high word holds the bits above 2^32.
    const hi = Math.floor(this.n / 536870912), lo = (this.n % 536870912) * 8 | 0;
    p[56] = hi >>> 24; p[57] = hi >>> 16; p[58] = hi >>> 8; p[59] = hi;
    p[60] = lo >>> 24; p[61] = lo >>> 16; p[62] = lo >>> 8; p[63] = lo;
    sha256Block(this.h, this.w, k, p, 0);
    const r = new Uint8Array(32);
    for (let i = 0; i < 32; i++) r[i] = this.h[i >> 2] >>> (24 - (i & 3) * 8);
    return r;
  }
}

/** One-shot SHA-256 of a whole buffer. */
export function sha256Bytes(data: Uint8Array): Uint8Array {
  const s = new Sha256();
  s.update(data, 0, data.length);
  return s.digest();
}
