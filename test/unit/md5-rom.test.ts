import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { romFunction, romStats, type AddressSpace } from "../../src/host/runtime/rom-model";
import { jsMd5, MD5_STATE_SIZE } from "../../src/core/crypto/md5";
import { randomBytes, rng } from "../helpers/random";

const INIT = 0x4005da7c, UPDATE = 0x4005da9c, FINAL = 0x4005db1c, CRC32_LE = 0x4005cfec;

/** A 64 KB DRAM window at a typical ESP32 heap address; anything outside it is unmapped. */
class Dram implements AddressSpace {
  readonly base = 0x3ffb0000;
  readonly bytes = new Uint8Array(65536);
  view(addr: number, length: number): Uint8Array {
    const o = addr - this.base;
    if (o < 0 || length < 0 || o + length > this.bytes.length) throw new Error("unmapped 0x" + addr.toString(16));
    return this.bytes.subarray(o, o + length);
  }
  put(addr: number, data: Uint8Array): void {
    this.view(addr, data.length).set(data);
  }
}

function rom(mem: AddressSpace) {
  const init = romFunction(INIT, "void(int)", mem);
  const update = romFunction(UPDATE, "void(int,int,int)", mem);
  const final = romFunction(FINAL, "void(int,int)", mem);
  assert.ok(init && update && final);
  return { init, update, final };
}



const nodeMd5 = (d: Uint8Array) => createHash("md5").update(d).digest("hex");
const hex = (d: Uint8Array) => Buffer.from(d).toString("hex");

// Layout used below: context at CTX, digest at DIG, input staged at SRC (up to 32 KB).
const mem0 = new Dram();
const CTX = mem0.base + 0x100, DIG = mem0.base + 0x200, SRC = mem0.base + 0x1000;

test("MD5Init/Update/Final over memory equal node:crypto, any chunking", () => {
  for (let seed = 1; seed <= 60; seed++) {
    const mem = new Dram(), r = rom(mem), next = rng(seed);
    const data = randomBytes(next() % 30000, next);
    mem.put(SRC, data);
    r.init(CTX);
    let off = 0;
    while (off < data.length) {
      const len = Math.min(data.length - off, next() % 5000);
      r.update(CTX, SRC + off, len);
      off += len;
    }
    r.final(DIG, CTX);
    assert.equal(hex(mem.view(DIG, 16)), nodeMd5(data), "seed " + seed);
    assert.deepEqual(mem.view(CTX, MD5_STATE_SIZE), new Uint8Array(MD5_STATE_SIZE), "MD5Final zeroes the context");
  }
});

test("known vectors, including the one ESP-IDF tests its ROM with", () => {
  const mem = new Dram(), r = rom(mem);
  for (const [text, want] of [
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["This is an MD5 test", "002e17691724327872f1af429f1ce4d9"],
  ]) {
    mem.put(SRC, new Uint8Array(Buffer.from(text, "latin1")));
    r.init(CTX);
    r.update(CTX, SRC, text.length);
    r.final(DIG, CTX);
    assert.equal(hex(mem.view(DIG, 16)), want, JSON.stringify(text));
  }
});

test("the ROM context equals the JS backend's saved state byte for byte", () => {
  for (let seed = 100; seed < 160; seed++) {
    const mem = new Dram(), r = rom(mem), next = rng(seed);
    const data = randomBytes(next() % 3000, next);
    mem.put(SRC, data);
    const js = jsMd5.create();
    r.init(CTX);
    let off = 0;
    while (off < data.length) {
      const len = Math.min(data.length - off, next() % 300);
      r.update(CTX, SRC + off, len);
      js.update(data, off, len);
      off += len;
      // Both start from a zeroed in[], so even the stale tail of in[] must agree.
      assert.deepEqual(mem.view(CTX, MD5_STATE_SIZE), js.saveState(), "seed " + seed + " after " + off);
    }
  }
});

test("one journal serves both backends: states move between ROM and JS mid-block", () => {
  for (let seed = 200; seed < 240; seed++) {
    const mem = new Dram(), r = rom(mem), next = rng(seed);
    const data = randomBytes(1 + (next() % 5000), next);
    mem.put(SRC, data);
    const cut1 = next() % data.length, cut2 = cut1 + (next() % (data.length - cut1));

    // JS up to cut1, ROM from cut1 to cut2, JS again to the end.
    const a = jsMd5.create();
    a.update(data, 0, cut1);
    mem.put(CTX, a.saveState());
    r.update(CTX, SRC + cut1, cut2 - cut1);
    const b = jsMd5.restore(new Uint8Array(mem.view(CTX, MD5_STATE_SIZE)));
    b.update(data, cut2, data.length - cut2);
    assert.equal(hex(b.digest()), nodeMd5(data), "JS-ROM-JS seed " + seed);

    // ROM up to cut1, JS to cut2, ROM to the end.
    r.init(CTX);
    r.update(CTX, SRC, cut1);
    const c = jsMd5.restore(new Uint8Array(mem.view(CTX, MD5_STATE_SIZE)));
    c.update(data, cut1, cut2 - cut1);
    mem.put(CTX, c.saveState());
    r.update(CTX, SRC + cut2, data.length - cut2);
    r.final(DIG, CTX);
    assert.equal(hex(mem.view(DIG, 16)), nodeMd5(data), "ROM-JS-ROM seed " + seed);
  }
});

test("bit count carry matches the JS backend", () => {
  const mem = new Dram(), r = rom(mem);
  const start = new Uint8Array(MD5_STATE_SIZE);
  new DataView(start.buffer).setUint32(16, 0xfffffff8, true);
  mem.put(CTX, start);
  mem.put(SRC, new Uint8Array([9, 8, 7]));
  r.update(CTX, SRC, 3);
  const js = jsMd5.restore(start);
  js.update(new Uint8Array([9, 8, 7]), 0, 3);
  const ctx = new DataView(mem.bytes.buffer, CTX - mem.base, MD5_STATE_SIZE);
  assert.equal(ctx.getUint32(16, true), 16);
  assert.equal(ctx.getUint32(20, true), 1);
  assert.deepEqual(mem.view(CTX, MD5_STATE_SIZE), js.saveState());
});

test("a digest buffer inside the context is wiped by MD5Final, as on the chip", () => {
  const mem = new Dram(), r = rom(mem);
  r.init(CTX);
  r.final(CTX + 8, CTX);
  assert.deepEqual(mem.view(CTX + 8, 16), new Uint8Array(16));
});

test("an unaligned context works (the ESP32 does unaligned DRAM access in hardware)", () => {
  const mem = new Dram(), r = rom(mem);
  const data = new Uint8Array(Buffer.from("abc"));
  mem.put(SRC + 1, data);
  r.init(CTX + 1);
  r.update(CTX + 1, SRC + 1, 3);
  r.final(DIG + 3, CTX + 1);
  assert.equal(hex(mem.view(DIG + 3, 16)), "900150983cd24fb0d6963f7d28e17f72");
});

test("crc32_le(0, buf, n) is zlib's crc32 and chains across calls", () => {
  const mem = new Dram();
  const crc = romFunction(CRC32_LE, "int (int, int, int)", mem);
  assert.ok(crc);
  mem.put(SRC, new Uint8Array(Buffer.from("123456789")));
  assert.equal(crc(0, SRC, 9) >>> 0, 0xcbf43926);
  assert.equal(crc(crc(0, SRC, 4), SRC + 4, 5) >>> 0, 0xcbf43926);
  const next = rng(5), data = randomBytes(10000, next);
  mem.put(SRC, data);
  assert.equal(crc(0, SRC, data.length) >>> 0, crc32(data));
  assert.ok(crc(0, SRC, data.length) <= 0x7fffffff, "an int return is signed, like Espruino's");
});

test("wrong signatures crash, unknown addresses are absent, calls are counted", () => {
  const mem = new Dram();
  assert.equal(romFunction(0x40001234, "void(int)", mem), undefined);
  const badUpdate = romFunction(UPDATE, "void(int,int)", mem);
  assert.ok(badUpdate);
  assert.throws(() => badUpdate(CTX, SRC), /Guru Meditation/);
  const swappedFinal = romFunction(FINAL, "int(int,int)", mem);
  assert.throws(() => swappedFinal!(DIG, CTX), /Guru Meditation/);
  // Addresses outside the mapped memory propagate the address space's fault.
  const r = rom(mem);
  assert.throws(() => r.init(0x10));

  const before = { ...romStats };
  r.init(CTX);
  r.update(CTX, SRC, 1000);
  r.final(DIG, CTX);
  assert.equal(romStats.calls - before.calls, 3);
  assert.equal(romStats.bytes - before.bytes, 1000);
});
