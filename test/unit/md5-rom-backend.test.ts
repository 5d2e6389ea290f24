// Drives src/espruino/md5-rom.ts through a minimal stand-in for Espruino's E (flat buffers with
// addresses, E.nativeCall onto the host ROM model). The full host runtime has its own tests; this
// one pins down the backend's own logic: self-test, staging, alignment after a move, fallbacks.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { romFunction, type AddressSpace } from "../../src/host/runtime/rom-model";
import { jsMd5 } from "../../src/core/crypto/md5";

interface Block { addr: number; buf: ArrayBuffer }

/** Flat allocations, each its own ArrayBuffer, placed at DRAM-like addresses that a "defrag" can change. */
class FakeHeap implements AddressSpace {
  blocks: Block[] = [];
  next = 0x3ffb0000;
  /** Added to the next allocation's address, to test unaligned placement. */
  skew = 0;
  alloc(n: number): ArrayBuffer {
    const buf = new ArrayBuffer(n);
    this.blocks.push({ addr: this.next + this.skew, buf });
    this.next += (n + 64) & ~63;
    return buf;
  }
  find(buf: ArrayBufferLike): Block | undefined {
    return this.blocks.find((b) => b.buf === buf);
  }
  view(addr: number, length: number): Uint8Array {
    for (const b of this.blocks) {
      if (addr >= b.addr && addr + length <= b.addr + b.buf.byteLength) return new Uint8Array(b.buf, addr - b.addr, length);
    }
    throw new Error("Guru Meditation: access to unmapped 0x" + addr.toString(16));
  }
  /** What a defrag can do: the buffer lands somewhere else, possibly with another alignment. */
  move(buf: ArrayBufferLike, delta: number): void {
    const b = this.find(buf);
    assert.ok(b);
    b.addr += delta;
  }
}

let heap = new FakeHeap();
let nativeCalls = 0;
let rom: (addr: number, sig: string) => ((...a: number[]) => number) | undefined = (addr, sig) => romFunction(addr, sig, heap);

(globalThis as Record<string, unknown>).E = {
  toFlatString(spec: { data: number; count: number }) {
    return { flat: heap.alloc(spec.count) };
  },
  toArrayBuffer(s: { flat: ArrayBuffer }) {
    return s.flat;
  },
  getAddressOf(v: Uint8Array) {
    const b = heap.find(v.buffer);
    return b ? b.addr + v.byteOffset : 0;
  },
  nativeCall(addr: number, sig: string) {
    const fn = rom(addr, sig);
    return (...args: number[]) => {
      nativeCalls++;
      if (!fn) throw new Error("Guru Meditation: no code at 0x" + addr.toString(16));
      return fn(...args);
    };
  },
};

// Storage as the guard uses it (read, write, getFree), recording each write and how many ROM
// calls had been made when it happened; and the firmware's identity in process.env.
const files = new Map<string, string>();
let writes: { name: string; data: string; callsBefore: number }[] = [];
let free = 100000;
(globalThis as Record<string, unknown>).require = (name: string) => {
  assert.equal(name, "Storage");
  return {
    read: (n: string) => files.get(n),
    write: (n: string, d: string) => {
      writes.push({ name: n, data: d, callsBefore: nativeCalls });
      files.set(n, d);
      return true;
    },
    getFree: () => free,
  };
};
process.env.BOARD = "ESP32";
process.env.VERSION = "2v29";

const { romMd5 } = await import("../../src/espruino/md5-rom");

/** A fresh heap and ROM, and a board that never probed (no ota.md5). */
function reset(): void {
  heap = new FakeHeap();
  rom = (addr, sig) => romFunction(addr, sig, heap);
  files.clear();
  writes = [];
  free = 100000;
  process.env.BOARD = "ESP32";
}

function flatCopy(data: Uint8Array): Uint8Array {
  const u = new Uint8Array(heap.alloc(data.length));
  u.set(data);
  return u;
}

function pattern(n: number, seed: number): Uint8Array {
  const u = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; u[i] = x >>> 24; }
  return u;
}

const nodeMd5 = (d: Uint8Array) => createHash("md5").update(d).digest("hex");
const hex = (d: Uint8Array) => Buffer.from(d).toString("hex");

test("esp32: self-test passes and the backend hashes flat and non-flat input", () => {
  reset();
  const logs: string[] = [];
  const f = romMd5("esp32", (s) => logs.push(s));
  assert.ok(f, logs.join("\n"));
  assert.equal(f.backend, "rom");
  assert.match(logs.join("\n"), /using ROM MD5/);

  const data = pattern(50000, 1);
  const plain = f.create();
  for (let off = 0; off < data.length; off += 536) plain.update(data, off, Math.min(536, data.length - off));
  assert.equal(hex(plain.digest()), nodeMd5(data));

  const flat = flatCopy(data);
  const before = nativeCalls;
  const m = f.create();
  m.update(flat, 0, flat.length);
  assert.equal(hex(m.digest()), nodeMd5(data));
  assert.equal(nativeCalls - before, 1 + Math.ceil(data.length / 4096) + 1, "one MD5Update per 4 KB, straight from the flat buffer");

  // Non-flat input larger than the 512-byte stage goes through it slice by slice.
  const staged = f.create();
  const calls = nativeCalls;
  staged.update(data, 0, 5000);
  assert.equal(nativeCalls - calls, Math.ceil(5000 / 512), "one MD5Update per 512 staged bytes");
  assert.equal(hex(staged.digest()), nodeMd5(data.subarray(0, 5000)));
});

test("saved states continue across ROM and JS", () => {
  reset();
  const f = romMd5("esp32", () => undefined);
  assert.ok(f);
  const data = pattern(9000, 2);
  const m = f.create();
  m.update(data, 0, 3001);
  const s1 = m.saveState();
  const j = jsMd5.create();
  j.update(data, 0, 3001);
  assert.deepEqual(s1, j.saveState());

  const r = f.restore(s1);
  r.update(data, 3001, 2000);
  const jj = jsMd5.restore(r.saveState());
  jj.update(data, 5001, data.length - 5001);
  assert.equal(hex(jj.digest()), nodeMd5(data));

  // A fresh ROM hash saves the same state as a fresh JS one (in[] zeroed), whatever the
  // shared buffers held before.
  assert.deepEqual(f.create().saveState(), jsMd5.create().saveState());
});

test("a staging buffer moved to another alignment between calls still hashes correctly", () => {
  reset();
  const f = romMd5("esp32", () => undefined);
  assert.ok(f);
  const data = pattern(3000, 3);
  const m = f.create();
  m.update(data, 0, 1000);
  // Every ROM call goes through the one flat staging buffer (the context is copied to an
  // aligned spot in it), the largest allocation the backend makes.
  const stage = heap.blocks.reduce((a, b) => (b.buf.byteLength > a.buf.byteLength ? b : a));
  for (const delta of [1, 2, 1, 3]) {
    heap.move(stage.buf, delta);
    m.update(data, 1000, 0);
  }
  m.update(data, 1000, 1000);
  heap.move(stage.buf, 5);
  const saved = m.saveState();
  const j = jsMd5.create();
  j.update(data, 0, 2000);
  assert.deepEqual(saved, j.saveState());
  m.update(data, 2000, 500);
  heap.move(stage.buf, 3);
  m.update(flatCopy(data.subarray(2500)), 0, 500);
  heap.move(stage.buf, 2);
  assert.equal(hex(m.digest()), nodeMd5(data));
  // A hash created while the buffer sat at one alignment continues after it moved.
  const r = f.restore(saved);
  heap.move(stage.buf, 1);
  r.update(data, 2000, 1000);
  assert.equal(hex(r.digest()), nodeMd5(data));
});

test("falls back to JS (null) when the ROM is absent, crashes or computes garbage", () => {
  reset();
  const logs: string[] = [];
  assert.equal(romMd5("esp8266", (s) => logs.push(s)), null);
  assert.match(logs.pop()!, /no ROM MD5 known/);

  // Wrong addresses (a C3's, on a chip the model makes an ESP32): the first call "crashes".
  process.env.BOARD = "ESP32C3_IDF4";
  assert.equal(romMd5("esp32c3", (s) => logs.push(s)), null);
  assert.match(logs.pop()!, /unavailable/);

  // A ROM whose MD5Update does nothing fails the known-answer test.
  reset();
  rom = (addr, sig) => (addr === 0x4005da9c ? () => 0 : romFunction(addr, sig, heap));
  assert.equal(romMd5("esp32", (s) => logs.push(s)), null);
  assert.match(logs.pop()!, /self-test failed \(abc\)/);

  // No flat memory at all.
  reset();
  const E = (globalThis as unknown as { E: { toFlatString: unknown } }).E;
  const saved = E.toFlatString;
  E.toFlatString = () => undefined;
  try {
    assert.equal(romMd5("esp32", (s) => logs.push(s)), null);
    assert.match(logs.pop()!, /no flat memory/);
  } finally {
    E.toFlatString = saved;
  }
});

test("the first boot records the probe before any ROM call and the proof after the self-test; a proven boot writes nothing", () => {
  reset();
  const calls0 = nativeCalls;
  assert.ok(romMd5("esp32", () => undefined));
  assert.deepEqual(writes.map((w) => [w.name, w.data, w.callsBefore - calls0]), [
    ["ota.md5", "probe", 0],
    ["ota.md5", "rom ESP32 2v29", writes[1].callsBefore - calls0],
  ]);
  assert.ok(writes[1].callsBefore - calls0 > 10, "the proof comes after the self-test's ROM calls");
  const probing = nativeCalls - calls0;

  writes = [];
  const calls1 = nativeCalls;
  const logs: string[] = [];
  const f = romMd5("esp32", (s) => logs.push(s));
  assert.ok(f, logs.join("\n"));
  assert.deepEqual(writes, [], "no Storage write at a boot of a proven ROM");
  assert.ok(nativeCalls - calls1 < probing, `the known answers only, no comparison with JS (${nativeCalls - calls1} < ${probing} calls)`);
  const data = pattern(5000, 9), m = f.create();
  m.update(data, 0, data.length);
  assert.equal(hex(m.digest()), nodeMd5(data));
});

test("a probe that never finished (the chip crashed in it) means JS for good, with no ROM call and no write", () => {
  reset();
  files.set("ota.md5", "probe");
  const calls = nativeCalls, logs: string[] = [];
  for (let boot = 0; boot < 3; boot++) assert.equal(romMd5("esp32", (s) => logs.push(s)), null);
  assert.equal(nativeCalls, calls);
  assert.deepEqual(writes, []);
  assert.match(logs[0], /probe of an earlier boot never passed.*erase Storage file ota\.md5/);
  // A torn write of either string is no proof either.
  files.set("ota.md5", "\xff\xff\xff\xff\xff");
  assert.equal(romMd5("esp32", () => undefined), null);
  assert.equal(nativeCalls, calls);
});

test("a failed self-test leaves the mark: later boots use JS without calling the ROM", () => {
  reset();
  rom = (addr, sig) => (addr === 0x4005da9c ? () => 0 : romFunction(addr, sig, heap));
  assert.equal(romMd5("esp32", () => undefined), null);
  assert.equal(files.get("ota.md5"), "probe");
  const calls = nativeCalls;
  assert.equal(romMd5("esp32", () => undefined), null);
  assert.equal(nativeCalls, calls);
});

test("firmware built for another chip than the board file's: JS, no ROM call, no write", () => {
  for (const [board, chip] of [["ESP32C3_IDF4", "esp32"], ["ESP32S3_IDF4", "esp32"], ["ESP32", "esp32s3"], ["LINUX", "esp32"]]) {
    reset();
    process.env.BOARD = board;
    const calls = nativeCalls, logs: string[] = [];
    assert.equal(romMd5(chip, (s) => logs.push(s)), null, board);
    assert.equal(nativeCalls, calls, board);
    assert.deepEqual(writes, [], board);
    assert.equal(logs.length, 1);
    assert.match(logs[0], new RegExp("firmware built for " + board + " but the board file says " + chip));
  }
  // Espruino's other ESP32 board IDs name the same chip.
  for (const board of ["ESP32_IDF4", "ESP32_CYD"]) {
    reset();
    process.env.BOARD = board;
    assert.ok(romMd5("esp32", () => undefined), board);
  }
});

test("a new firmware (another VERSION) probes again; no room at the end of Storage means no probe at all", () => {
  reset();
  assert.ok(romMd5("esp32", () => undefined));
  process.env.VERSION = "2v30";
  try {
    writes = [];
    assert.ok(romMd5("esp32", () => undefined));
    assert.deepEqual(writes.map((w) => w.data), ["probe", "rom ESP32 2v30"]);
  } finally {
    process.env.VERSION = "2v29";
  }

  reset();
  free = 100;
  const calls = nativeCalls, logs: string[] = [];
  assert.equal(romMd5("esp32", (s) => logs.push(s)), null);
  assert.equal(nativeCalls, calls, "no ROM call without a durable mark");
  assert.deepEqual(writes, [], "and no write that could make Storage compact");
  assert.match(logs[0], /cannot record/);
});
