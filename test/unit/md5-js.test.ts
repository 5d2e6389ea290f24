import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { jsMd5, md5Bytes, MD5_STATE_SIZE, md5StateLength } from "../../src/core/crypto/md5";
import { isOtaError } from "../../src/core/errors";
import { randomBytes, rng } from "../helpers/random";



const nodeMd5 = (d: Uint8Array) => createHash("md5").update(d).digest("hex");
const hex = (d: Uint8Array) => Buffer.from(d).toString("hex");

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => isOtaError(e) && e.code === code);
}

test("RFC 1321 test suite", () => {
  const suite: Array<[string, string]> = [
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["a", "0cc175b9c0f1b6a831c399e269772661"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
    ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
    ["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"],
    ["12345678901234567890123456789012345678901234567890123456789012345678901234567890", "57edf4a22be3c955ac49da2e2107b67a"],
  ];
  for (const [text, want] of suite) assert.equal(hex(md5Bytes(new Uint8Array(Buffer.from(text, "latin1")))), want, text);
});

test("one-shot digest matches node:crypto for every length around block and buffer edges", () => {
  const next = rng(1);
  const sizes: number[] = [];
  for (let n = 0; n <= 200; n++) sizes.push(n);
  for (const edge of [4096, 8192, 12288]) for (let d = -65; d <= 65; d += 1) sizes.push(edge + d);
  sizes.push(100000, 262144 + 17);
  for (const n of sizes) {
    const data = randomBytes(n, next);
    assert.equal(hex(md5Bytes(data)), nodeMd5(data), "length " + n);
  }
});

test("random split points give the same digest as one update", () => {
  for (let seed = 1; seed <= 150; seed++) {
    const next = rng(seed);
    const n = next() % 20000;
    const data = randomBytes(n, next);
    const m = jsMd5.create();
    let off = 0;
    while (off < n) {
      // Mostly small pieces (like 536-byte HTTP chunks), sometimes empty or larger than the 4 KB buffer.
      const pick = next() % 10;
      const len = Math.min(n - off, pick === 0 ? 0 : pick < 8 ? next() % 600 : next() % 9000);
      m.update(data, off, len);
      off += len;
    }
    assert.equal(hex(m.digest()), nodeMd5(data), "seed " + seed);
  }
});

test("whole blocks from word-aligned and misaligned views hash and save like staged input", () => {
  const next = rng(77);
  const backing = randomBytes(8192 + 3, next);
  for (const shift of [0, 1, 2, 3]) {
    // a view that starts `shift` bytes into its buffer, as a flash read or a subarray may
    const data = backing.subarray(shift, shift + 8192);
    const m = jsMd5.create(), staged = jsMd5.create();
    for (let off = 0; off < data.length; off += 512) m.update(data, off, 512);
    // the same bytes through a pending partial block, which forces the staging copy
    staged.update(data, 0, 5);
    staged.update(data, 5, data.length - 5);
    assert.deepEqual(m.saveState(), staged.saveState(), "shift " + shift + ": saved states agree");
    assert.equal(hex(m.digest()), nodeMd5(data), "shift " + shift);
  }
});

test("save/restore at random points (mid-block included) continues byte-exact", () => {
  for (let seed = 1000; seed < 1150; seed++) {
    const next = rng(seed);
    const n = next() % 12000;
    const data = randomBytes(n, next);
    let m = jsMd5.create();
    let off = 0;
    while (off < n) {
      const len = Math.min(n - off, next() % 700);
      m.update(data, off, len);
      off += len;
      const state = m.saveState();
      assert.equal(state.length, MD5_STATE_SIZE);
      // A restored copy must save the identical state (the journal may be rewritten unchanged).
      m = jsMd5.restore(new Uint8Array(state));
      assert.deepEqual(m.saveState(), state, "seed " + seed);
    }
    assert.equal(hex(m.digest()), nodeMd5(data), "seed " + seed);
  }
});

test("saved state has the ROM MD5Context layout", () => {
  const fresh = jsMd5.create().saveState();
  const dv = new DataView(fresh.buffer, fresh.byteOffset, fresh.length);
  assert.deepEqual([0, 4, 8, 12].map((o) => dv.getUint32(o, true)), [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]);
  assert.deepEqual(fresh.subarray(16), new Uint8Array(72));

  const next = rng(7);
  const data = randomBytes(64 * 3 + 21, next);
  const m = jsMd5.create();
  m.update(data, 0, data.length);
  const s = m.saveState();
  const sv = new DataView(s.buffer, s.byteOffset, s.length);
  assert.equal(sv.getUint32(16, true), data.length * 8, "bits[0] is the bit count");
  assert.equal(sv.getUint32(20, true), 0, "bits[1] is the high word");
  assert.deepEqual(s.subarray(24, 24 + 21), data.subarray(192, 213), "pending bytes open in[]");
  assert.deepEqual(s.subarray(24 + 21, 88), data.subarray(128 + 21, 192), "rest of in[] is the last block's tail");
  assert.equal(md5StateLength(s), data.length);
});

test("bit count carries into the high word", () => {
  // A state that has absorbed 2^29 - 1 bytes (bits[0] = 0xFFFFFFF8): 2 more bytes wrap bits[0].
  const start = new Uint8Array(MD5_STATE_SIZE);
  const dv = new DataView(start.buffer);
  dv.setUint32(0, 0x67452301, true);
  dv.setUint32(16, 0xfffffff8, true);
  const m = jsMd5.restore(start);
  m.update(new Uint8Array([1, 2]), 0, 2);
  const s = m.saveState();
  const sv = new DataView(s.buffer);
  assert.equal(sv.getUint32(16, true), 8);
  assert.equal(sv.getUint32(20, true), 1);
  assert.equal(md5StateLength(s), 536870913);
});

test("bad states and misuse are rejected with stable codes", () => {
  assertCode(() => jsMd5.restore(new Uint8Array(87)), "MD5_STATE");
  const odd = jsMd5.create().saveState();
  odd[16] = 3; // not a whole number of bytes
  assertCode(() => jsMd5.restore(odd), "MD5_STATE");
  const huge = jsMd5.create().saveState();
  huge[23] = 0x80;
  assertCode(() => jsMd5.restore(huge), "MD5_STATE");

  const m = jsMd5.create();
  const d = new Uint8Array(10);
  assertCode(() => m.update(d, 5, 6), "CRYPTO_USAGE");
  assertCode(() => m.update(d, -1, 2), "CRYPTO_USAGE");
  m.update(d, 5, 5);
  m.digest();
  assertCode(() => m.update(d, 0, 1), "CRYPTO_USAGE");
  assertCode(() => m.digest(), "CRYPTO_USAGE");
});

test("instances do not disturb each other through the shared buffer", () => {
  const next = rng(99);
  const a = randomBytes(9000, next), b = randomBytes(7000, next);
  const ma = jsMd5.create(), mb = jsMd5.create();
  for (let i = 0; i < 9000; i += 1000) {
    ma.update(a, i, 1000);
    if (i < 7000) mb.update(b, i, 1000);
  }
  assert.equal(hex(mb.digest()), nodeMd5(b));
  assert.equal(hex(ma.digest()), nodeMd5(a));
  assert.equal(jsMd5.backend, "js");
});
