// Incremental MD5 in plain JS, written for the Espruino interpreter, with a state that can be
// journaled and resumed after a power cut. The saved state uses the ESP32 mask-ROM MD5Context
// layout (see MD5_STATE_SIZE), so a journal written by this backend can be continued by the ROM
// backend (src/espruino/md5-rom.ts) and the other way round.
//
// Speed is what matters here: Espruino re-lexes source text every time a statement runs, so the
// block function is fully unrolled with one-letter names, keeps the state in locals, reads input as
// little-endian words through an Int32Array (ESP32 and every host we run on are little-endian) and
// handles many blocks per call.

import type { Md5, Md5Factory } from "../ports";
import { otaError } from "../errors";

/**
 * Bytes in a saved state, laid out like the ROM's `struct MD5Context`, all little-endian:
 * u32 buf[4] (a, b, c, d) at 0, u32 bits[2] (message length in bits, low word first) at 16,
 * u8 in[64] at 24. Like the ROM, in[] holds the pending partial block in its first
 * (length mod 64) bytes and the tail of the last compressed block after that.
 */
export const MD5_STATE_SIZE = 88;

// Numbers below are literals, not named constants: on the board every module-level name costs
// memory. 536870912 = 2^29, bytes per unit of the high bit-count word (2^32 bits / 8).

// Input is staged in a 128-byte scratch buffer so whole 64-byte blocks sit at word-aligned offsets
// of one view. Shared by every instance: update() and digest() run to completion before anything
// else can use it. Two blocks per md5Blocks call: the call costs little next to a block's 64
// steps, while the buffer stays loaded for the whole job (a 4 KB scratch ran no faster and held
// ~300 JsVars at the agent's peak on an ESP32; 512 bytes held 38, 128 hold 10).
let scratch: Uint8Array | null = null;
let scratchWords: Int32Array | null = null;

/**
 * Compresses n consecutive 64-byte blocks, read as words x[o], x[o+1], ... into the chaining
 * state h (a, b, c, d). No "ram" directive: that would copy it, pretokenised, into RAM (249
 * JsVars on the ESP32 format, for as long as the job runs) for a speed-up the bench could not
 * tell from noise (docs/rom-md5.md#memory). ESP32 boards hash in the ROM; the JS backend is
 * their fallback, where running out of memory costs more than a slower hash.
 */
function md5Blocks(h: Int32Array, x: Int32Array, o: number, n: number): void {
  var a: number, b: number, c: number, d: number, t: number;
  while (n--) {
    a = h[0]; b = h[1]; c = h[2]; d = h[3];
    // RFC 1321 rounds F, G, H, I (16 steps each); sine constants written as signed int32.
    t=a+(b&c|~b&d)+x[o]-680876936|0;a=(t<<7|t>>>25)+b|0; t=d+(a&b|~a&c)+x[o+1]-389564586|0;d=(t<<12|t>>>20)+a|0;
    t=c+(d&a|~d&b)+x[o+2]+606105819|0;c=(t<<17|t>>>15)+d|0; t=b+(c&d|~c&a)+x[o+3]-1044525330|0;b=(t<<22|t>>>10)+c|0;
    t=a+(b&c|~b&d)+x[o+4]-176418897|0;a=(t<<7|t>>>25)+b|0; t=d+(a&b|~a&c)+x[o+5]+1200080426|0;d=(t<<12|t>>>20)+a|0;
    t=c+(d&a|~d&b)+x[o+6]-1473231341|0;c=(t<<17|t>>>15)+d|0; t=b+(c&d|~c&a)+x[o+7]-45705983|0;b=(t<<22|t>>>10)+c|0;
    t=a+(b&c|~b&d)+x[o+8]+1770035416|0;a=(t<<7|t>>>25)+b|0; t=d+(a&b|~a&c)+x[o+9]-1958414417|0;d=(t<<12|t>>>20)+a|0;
    t=c+(d&a|~d&b)+x[o+10]-42063|0;c=(t<<17|t>>>15)+d|0; t=b+(c&d|~c&a)+x[o+11]-1990404162|0;b=(t<<22|t>>>10)+c|0;
    t=a+(b&c|~b&d)+x[o+12]+1804603682|0;a=(t<<7|t>>>25)+b|0; t=d+(a&b|~a&c)+x[o+13]-40341101|0;d=(t<<12|t>>>20)+a|0;
    t=c+(d&a|~d&b)+x[o+14]-1502002290|0;c=(t<<17|t>>>15)+d|0; t=b+(c&d|~c&a)+x[o+15]+1236535329|0;b=(t<<22|t>>>10)+c|0;
    t=a+(b&d|c&~d)+x[o+1]-165796510|0;a=(t<<5|t>>>27)+b|0; t=d+(a&c|b&~c)+x[o+6]-1069501632|0;d=(t<<9|t>>>23)+a|0;
    t=c+(d&b|a&~b)+x[o+11]+643717713|0;c=(t<<14|t>>>18)+d|0; t=b+(c&a|d&~a)+x[o]-373897302|0;b=(t<<20|t>>>12)+c|0;
    t=a+(b&d|c&~d)+x[o+5]-701558691|0;a=(t<<5|t>>>27)+b|0; t=d+(a&c|b&~c)+x[o+10]+38016083|0;d=(t<<9|t>>>23)+a|0;
    t=c+(d&b|a&~b)+x[o+15]-660478335|0;c=(t<<14|t>>>18)+d|0; t=b+(c&a|d&~a)+x[o+4]-405537848|0;b=(t<<20|t>>>12)+c|0;
    t=a+(b&d|c&~d)+x[o+9]+568446438|0;a=(t<<5|t>>>27)+b|0; t=d+(a&c|b&~c)+x[o+14]-1019803690|0;d=(t<<9|t>>>23)+a|0;
    t=c+(d&b|a&~b)+x[o+3]-187363961|0;c=(t<<14|t>>>18)+d|0; t=b+(c&a|d&~a)+x[o+8]+1163531501|0;b=(t<<20|t>>>12)+c|0;
    t=a+(b&d|c&~d)+x[o+13]-1444681467|0;a=(t<<5|t>>>27)+b|0; t=d+(a&c|b&~c)+x[o+2]-51403784|0;d=(t<<9|t>>>23)+a|0;
    t=c+(d&b|a&~b)+x[o+7]+1735328473|0;c=(t<<14|t>>>18)+d|0; t=b+(c&a|d&~a)+x[o+12]-1926607734|0;b=(t<<20|t>>>12)+c|0;
    t=a+(b^c^d)+x[o+5]-378558|0;a=(t<<4|t>>>28)+b|0; t=d+(a^b^c)+x[o+8]-2022574463|0;d=(t<<11|t>>>21)+a|0;
    t=c+(d^a^b)+x[o+11]+1839030562|0;c=(t<<16|t>>>16)+d|0; t=b+(c^d^a)+x[o+14]-35309556|0;b=(t<<23|t>>>9)+c|0;
    t=a+(b^c^d)+x[o+1]-1530992060|0;a=(t<<4|t>>>28)+b|0; t=d+(a^b^c)+x[o+4]+1272893353|0;d=(t<<11|t>>>21)+a|0;
    t=c+(d^a^b)+x[o+7]-155497632|0;c=(t<<16|t>>>16)+d|0; t=b+(c^d^a)+x[o+10]-1094730640|0;b=(t<<23|t>>>9)+c|0;
    t=a+(b^c^d)+x[o+13]+681279174|0;a=(t<<4|t>>>28)+b|0; t=d+(a^b^c)+x[o]-358537222|0;d=(t<<11|t>>>21)+a|0;
    t=c+(d^a^b)+x[o+3]-722521979|0;c=(t<<16|t>>>16)+d|0; t=b+(c^d^a)+x[o+6]+76029189|0;b=(t<<23|t>>>9)+c|0;
    t=a+(b^c^d)+x[o+9]-640364487|0;a=(t<<4|t>>>28)+b|0; t=d+(a^b^c)+x[o+12]-421815835|0;d=(t<<11|t>>>21)+a|0;
    t=c+(d^a^b)+x[o+15]+530742520|0;c=(t<<16|t>>>16)+d|0; t=b+(c^d^a)+x[o+2]-995338651|0;b=(t<<23|t>>>9)+c|0;
    t=a+(c^(b|~d))+x[o]-198630844|0;a=(t<<6|t>>>26)+b|0; t=d+(b^(a|~c))+x[o+7]+1126891415|0;d=(t<<10|t>>>22)+a|0;
    t=c+(a^(d|~b))+x[o+14]-1416354905|0;c=(t<<15|t>>>17)+d|0; t=b+(d^(c|~a))+x[o+5]-57434055|0;b=(t<<21|t>>>11)+c|0;
    t=a+(c^(b|~d))+x[o+12]+1700485571|0;a=(t<<6|t>>>26)+b|0; t=d+(b^(a|~c))+x[o+3]-1894986606|0;d=(t<<10|t>>>22)+a|0;
    t=c+(a^(d|~b))+x[o+10]-1051523|0;c=(t<<15|t>>>17)+d|0; t=b+(d^(c|~a))+x[o+1]-2054922799|0;b=(t<<21|t>>>11)+c|0;
    t=a+(c^(b|~d))+x[o+8]+1873313359|0;a=(t<<6|t>>>26)+b|0; t=d+(b^(a|~c))+x[o+15]-30611744|0;d=(t<<10|t>>>22)+a|0;
    t=c+(a^(d|~b))+x[o+6]-1560198380|0;c=(t<<15|t>>>17)+d|0; t=b+(d^(c|~a))+x[o+13]+1309151649|0;b=(t<<21|t>>>11)+c|0;
    t=a+(c^(b|~d))+x[o+4]-145523070|0;a=(t<<6|t>>>26)+b|0; t=d+(b^(a|~c))+x[o+11]-1120210379|0;d=(t<<10|t>>>22)+a|0;
    t=c+(a^(d|~b))+x[o+2]+718787259|0;c=(t<<15|t>>>17)+d|0; t=b+(d^(c|~a))+x[o+9]-343485551|0;b=(t<<21|t>>>11)+c|0;
    h[0] = h[0] + a | 0; h[1] = h[1] + b | 0; h[2] = h[2] + c | 0; h[3] = h[3] + d | 0;
    o += 16;
  }
}

/** One hash in progress. */
interface JsMd5 extends Md5 {
  /** Chaining words a, b, c, d. */
  h: Int32Array;
  /** The ROM's in[]: pending bytes first, then the tail of the last compressed block. */
  p: Uint8Array;
  /** Bytes absorbed so far (a double, exact far beyond any image size). */
  n: number;
  /** digest() was taken. */
  d: boolean;
}

// The methods every instance shares (Object.create), written as an object rather than a
// class: a class costs one more function (TypeScript's ES5 wrapper) on the board.
const jsMd5Methods = {
  update: function (this: JsMd5, data: Uint8Array, offset: number, length: number): void {
    if (this.d) throw otaError("CRYPTO_USAGE", "MD5 updated after digest");
    if (!(offset >= 0 && length >= 0 && offset + length <= data.length)) {
      throw otaError("CRYPTO_USAGE", "MD5 update range outside the data");
    }
    if (!scratch) {
      scratch = new Uint8Array(128);
      scratchWords = new Int32Array(scratch.buffer);
    }
    const s = scratch, w = scratchWords as Int32Array, p = this.p, blocks = md5Blocks;
    let u = this.n % 64;
    this.n += length;
    if (!u && length > 63 && !((data.byteOffset + offset) & 3)) {
      // Nothing pending and the input word-aligned (a flash read, a sector buffer): hash its
      // whole blocks in place through a view, no copy.
      const nb = length >> 6;
      blocks(this.h, new Int32Array(data.buffer, data.byteOffset + offset, nb << 4), 0, nb);
      p.set(data.subarray(offset + (nb << 6) - 64, offset + (nb << 6)), 0);
      offset += nb << 6;
      length -= nb << 6;
    }
    while (length > 0) {
      // Pending bytes go first so that blocks start at offset 0 of the scratch buffer.
      let k = 128 - u;
      if (k > length) k = length;
      if (u) s.set(p.subarray(0, u), 0);
      s.set(data.subarray(offset, offset + k), u);
      const m = u + k, nb = m >> 6;
      if (nb) {
        blocks(this.h, w, 0, nb);
        // Keep the last block in in[] exactly as the ROM's memcpy does, so saved states match.
        p.set(s.subarray(nb * 64 - 64, nb * 64), 0);
      }
      u = m & 63;
      if (u) p.set(s.subarray(m - u, m), 0);
      offset += k;
      length -= k;
    }
  },

  digest: function (this: JsMd5): Uint8Array {
    if (this.d) throw otaError("CRYPTO_USAGE", "MD5 digest taken twice");
    this.update(this.p, 0, 0); // absorbs nothing; on first use, allocates the scratch
    this.d = true;
    const s = scratch as Uint8Array, w = scratchWords as Int32Array, h = this.h, u = this.n % 64;
    // Padding: 0x80, zeros up to 8 bytes short of a block end, then the bit count.
    const end = u < 56 ? 56 : 120;
    s.set(this.p, 0);
    s[u] = 0x80;
    s.fill(0, u + 1, end);
    w[end >> 2] = (this.n % 536870912) * 8 | 0;
    w[(end >> 2) + 1] = Math.floor(this.n / 536870912);
    md5Blocks(h, w, 0, (end + 8) >> 6);
    // Little-endian words, like the input (see the file comment).
    return new Uint8Array(new Int32Array(h).buffer);
  },

  saveState: function (this: JsMd5): Uint8Array {
    const r = new Uint8Array(88), w = new Int32Array(r.buffer, 0, 6);
    w.set(this.h, 0);
    w[4] = (this.n % 536870912) * 8 | 0;
    w[5] = Math.floor(this.n / 536870912);
    r.set(this.p, 24);
    return r;
  },
};

/**
 * A fresh hash (no argument), or one that continues a saved state. Throws MD5_STATE for a state
 * a journal could not have written: not 88 bytes, a length in bits that is not whole bytes, or
 * 2^50 bytes or more (the count must stay exact in a double).
 */
function jsMd5Make(state?: Uint8Array): Md5 {
  const m = Object.create(jsMd5Methods) as JsMd5;
  m.d = false;
  m.p = new Uint8Array(64);
  if (state !== undefined) {
    if (!state || state.length !== 88) throw otaError("MD5_STATE", "saved MD5 state must be 88 bytes");
    const lo = (state[16] | state[17] << 8 | state[18] << 16 | state[19] << 24) >>> 0;
    const hi = (state[20] | state[21] << 8 | state[22] << 16 | state[23] << 24) >>> 0;
    if (lo & 7 || hi >= 2097152) throw otaError("MD5_STATE", "implausible length in saved MD5 state");
    m.n = hi * 536870912 + (lo >>> 3);
    // A copy: a journal's state may sit at an offset no Int32Array can start at.
    m.h = new Int32Array(new Uint8Array(state.subarray(0, 16)).buffer);
    m.p.set(state.subarray(24, 88), 0);
  } else {
    m.n = 0;
    m.h = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);
  }
  return m;
}

/** The portable backend; always available. create() is restore() without a state. */
export const jsMd5: Md5Factory = {
  create: jsMd5Make,
  restore: jsMd5Make,
  backend: "js",
};

/**
 * Checks a saved state and returns the message length it has absorbed, in bytes.
 * Throws MD5_STATE for anything a journal could not have written (see jsMd5Make).
 */
export function md5StateLength(state: Uint8Array): number {
  return (jsMd5Make(state) as JsMd5).n;
}

/** One-shot MD5 of a whole buffer. */
export function md5Bytes(data: Uint8Array): Uint8Array {
  const m = jsMd5.create();
  m.update(data, 0, data.length);
  return m.digest();
}
