// Host model of the ESP32 mask-ROM functions the agent reaches through E.nativeCall, so the
// host runtime can run src/espruino/md5-rom.ts unchanged.
//
// The model works on the caller's memory exactly as the ROM does: MD5Init/Update/Final read and
// write the 88-byte `struct MD5Context` (u32 buf[4], u32 bits[2], u8 in[64], little-endian) at the
// address they are given, following the wpa_supplicant md5-internal.c code in the ROM, including
// the parts a careless caller trips over (in[] keeps the tail of the last block; MD5Final takes
// the digest pointer first and then zeroes the whole context). It is written independently of
// src/core/crypto/md5.ts so that tests comparing the two prove the shared state layout.
//
// A call with a signature the ROM function does not have throws: on the board it would read
// garbage registers and most likely end in a Guru Meditation.
import CRC32 from "crc-32";

/** The device memory the runtime exposes: a live view of `length` bytes at `addr` (throws if unmapped). */
export interface AddressSpace {
  view(addr: number, length: number): Uint8Array;
}

/** How often the ROM was entered and how many input bytes it processed (for tests and benchmarks). */
export const romStats = { calls: 0, bytes: 0 };

const CTX_SIZE = 88;

interface RomEntry {
  name: string;
  /** The signature as E.nativeCall parses it, whitespace removed. */
  signature: string;
  run(args: number[], mem: AddressSpace): number;
}

// --- MD5 (RFC 1321) over a context in memory ---

const SHIFTS = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const SINES: number[] = [];
for (let i = 0; i < 64; i++) SINES.push(Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) >>> 0);

function ctxView(mem: AddressSpace, addr: number): DataView {
  const u = mem.view(addr, CTX_SIZE);
  return new DataView(u.buffer, u.byteOffset, CTX_SIZE);
}

/** MD5Transform(ctx->buf, ctx->in): one compression of the block held in in[]. */
function transform(ctx: DataView): void {
  const x: number[] = [];
  for (let i = 0; i < 16; i++) x.push(ctx.getUint32(24 + 4 * i, true));
  let a = ctx.getUint32(0, true), b = ctx.getUint32(4, true), c = ctx.getUint32(8, true), d = ctx.getUint32(12, true);
  for (let i = 0; i < 64; i++) {
    const round = i >> 4;
    let f: number, g: number;
    if (round === 0) { f = (b & c) | (~b & d); g = i; }
    else if (round === 1) { f = (d & b) | (~d & c); g = (5 * i + 1) & 15; }
    else if (round === 2) { f = b ^ c ^ d; g = (3 * i + 5) & 15; }
    else { f = c ^ (b | ~d); g = (7 * i) & 15; }
    const s = SHIFTS[round * 4 + (i & 3)];
    const t = (a + f + SINES[i] + x[g]) >>> 0;
    a = d; d = c; c = b;
    b = (b + ((t << s) | (t >>> (32 - s)))) >>> 0;
  }
  ctx.setUint32(0, (ctx.getUint32(0, true) + a) >>> 0, true);
  ctx.setUint32(4, (ctx.getUint32(4, true) + b) >>> 0, true);
  ctx.setUint32(8, (ctx.getUint32(8, true) + c) >>> 0, true);
  ctx.setUint32(12, (ctx.getUint32(12, true) + d) >>> 0, true);
}

function md5Init(mem: AddressSpace, ctxAddr: number): void {
  const ctx = ctxView(mem, ctxAddr);
  ctx.setUint32(0, 0x67452301, true);
  ctx.setUint32(4, 0xefcdab89, true);
  ctx.setUint32(8, 0x98badcfe, true);
  ctx.setUint32(12, 0x10325476, true);
  ctx.setUint32(16, 0, true);
  ctx.setUint32(20, 0, true);
  // in[] is left as it was, like the ROM.
}

function md5Update(mem: AddressSpace, ctxAddr: number, src: number, len: number): void {
  const ctx = ctxView(mem, ctxAddr);
  const data = len ? mem.view(src, len) : new Uint8Array(0);
  const inBytes = new Uint8Array(ctx.buffer, ctx.byteOffset + 24, 64);
  let t = ctx.getUint32(16, true);
  const lo = (t + ((len << 3) >>> 0)) >>> 0;
  let hi = ctx.getUint32(20, true);
  if (lo < t) hi++;
  hi = (hi + (len >>> 29)) >>> 0;
  ctx.setUint32(16, lo, true);
  ctx.setUint32(20, hi, true);
  t = (t >>> 3) & 63;
  let p = 0;
  if (t) {
    const room = 64 - t;
    if (len < room) {
      inBytes.set(data.subarray(0, len), t);
      return;
    }
    inBytes.set(data.subarray(0, room), t);
    transform(ctx);
    p = room;
  }
  while (len - p >= 64) {
    inBytes.set(data.subarray(p, p + 64), 0);
    transform(ctx);
    p += 64;
  }
  inBytes.set(data.subarray(p, len), 0);
}

function md5Final(mem: AddressSpace, digestAddr: number, ctxAddr: number): void {
  const ctx = ctxView(mem, ctxAddr);
  const inBytes = new Uint8Array(ctx.buffer, ctx.byteOffset + 24, 64);
  let count = (ctx.getUint32(16, true) >>> 3) & 63;
  inBytes[count] = 0x80;
  count = 64 - 1 - count;
  if (count < 8) {
    inBytes.fill(0, 64 - count);
    transform(ctx);
    inBytes.fill(0, 0, 56);
  } else {
    inBytes.fill(0, 64 - count, 56);
  }
  ctx.setUint32(24 + 56, ctx.getUint32(16, true), true);
  ctx.setUint32(24 + 60, ctx.getUint32(20, true), true);
  transform(ctx);
  mem.view(digestAddr, 16).set(new Uint8Array(ctx.buffer, ctx.byteOffset, 16));
  // Zeroed after the copy: a digest buffer inside the context comes back as zeros, as on the chip.
  new Uint8Array(ctx.buffer, ctx.byteOffset, CTX_SIZE).fill(0);
}

// --- crc32_le(crc, buf, len): ~crc in, ~result out, the same chaining as crc-32's seed ---

function crc32Le(mem: AddressSpace, crc: number, src: number, len: number): number {
  const data = len ? mem.view(src, len) : new Uint8Array(0);
  return CRC32.buf(data, crc | 0) | 0;
}

const ESP32_ROM = new Map<number, RomEntry>([
  [0x4005da7c, {
    name: "MD5Init", signature: "void(int)",
    run: (a, mem) => { md5Init(mem, a[0]); return 0; },
  }],
  [0x4005da9c, {
    name: "MD5Update", signature: "void(int,int,int)",
    run: (a, mem) => { md5Update(mem, a[0], a[1], a[2]); romStats.bytes += a[2]; return 0; },
  }],
  [0x4005db1c, {
    name: "MD5Final", signature: "void(int,int)",
    run: (a, mem) => { md5Final(mem, a[0], a[1]); return 0; },
  }],
  [0x4005cfec, {
    name: "crc32_le", signature: "int(int,int,int)",
    run: (a, mem) => { romStats.bytes += a[2]; return crc32Le(mem, a[0], a[1], a[2]); },
  }],
]);

/**
 * The ESP32 ROM function at `addr` as E.nativeCall(addr, signature) would produce it, or undefined
 * when the model has nothing there (the runtime treats calling that as a crash). The returned
 * function takes the JS arguments (converted like Espruino's `int`: to a 32-bit value) and returns
 * the C return value as a signed 32-bit integer (0 for void).
 */
export function romFunction(addr: number, signature: string, mem: AddressSpace): ((...args: number[]) => number) | undefined {
  const entry = ESP32_ROM.get(addr >>> 0);
  if (!entry) return undefined;
  const given = signature.replace(/\s+/g, "");
  return (...args: number[]) => {
    if (given !== entry.signature) {
      throw new Error("Guru Meditation: ROM " + entry.name + " at 0x" + (addr >>> 0).toString(16) +
        " takes " + entry.signature + " but was called as " + given);
    }
    const ints: number[] = [];
    for (let i = 0; i < 4; i++) ints.push(Number(args[i] ?? 0) >>> 0);
    romStats.calls++;
    return entry.run(ints, mem);
  };
}
