// The NOR flash model must be at least as strict as the chip: programming only clears bits,
// erase works on whole 4 KB sectors, and a power cut leaves the interrupted operation half done.
import { test } from "node:test";
import assert from "node:assert/strict";
import { NorFlash, PowerCutError, SECTOR_SIZE } from "../../src/host/runtime/nor-flash";

const SIZE = 16 * SECTOR_SIZE;

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff;
  return out;
}

test("a fresh chip reads erased (0xFF) and an image is loaded as given", () => {
  const image = Uint8Array.from([0, 1, 2, 3, 0x80]);
  const flash = new NorFlash({ size: SIZE, image });
  assert.deepEqual([...flash.read(0, 6)], [0, 1, 2, 3, 0x80, 0xff]);
  assert.ok(flash.read(SECTOR_SIZE, SECTOR_SIZE).every((b) => b === 0xff));
  assert.deepEqual(flash.stats, { erases: 0, writes: 0, bytesWritten: 0, reads: 2, bytesRead: 6 + SECTOR_SIZE });
});

test("read returns a copy, not a window onto the chip", () => {
  const flash = new NorFlash({ size: SIZE });
  const r = flash.read(0, 4);
  r[0] = 0;
  assert.equal(flash.bytes[0], 0xff);
});

test("programming ANDs new data into old and records every attempt to set a bit", () => {
  const flash = new NorFlash({ size: SIZE });
  flash.write(0x10, Uint8Array.from([0xf0, 0x0f, 0xaa]));
  assert.deepEqual(flash.violations, []);
  flash.write(0x10, Uint8Array.from([0xcc, 0xff, 0xaa]));
  assert.deepEqual([...flash.read(0x10, 3)], [0xc0, 0x0f, 0xaa]);
  assert.equal(flash.violations.length, 1);
  assert.match(flash.violations[0], /0x10/);
  assert.match(flash.violations[0], /set bits/);
  // Clearing more bits is legal.
  flash.write(0x12, Uint8Array.from([0x0a]));
  assert.equal(flash.violations.length, 1);
  assert.equal(flash.bytes[0x12], 0x0a);
});

test("writes may be unaligned, but more than 4096 bytes per call is refused", () => {
  const flash = new NorFlash({ size: SIZE });
  flash.write(3, Uint8Array.from([1, 2, 3]));
  assert.deepEqual([...flash.read(2, 5)], [0xff, 1, 2, 3, 0xff]);
  assert.deepEqual(flash.violations, []);
  flash.write(SECTOR_SIZE, new Uint8Array(4096));
  assert.deepEqual(flash.violations, []);
  assert.throws(() => flash.write(0, new Uint8Array(4097)), /4096/);
  assert.equal(flash.violations.length, 1);
  assert.equal(flash.bytes[0], 0xff, "a refused write changes nothing");
});

test("out-of-range access and unaligned erase throw and are recorded", () => {
  const flash = new NorFlash({ size: SIZE });
  assert.throws(() => flash.read(SIZE - 2, 4), /outside/);
  assert.throws(() => flash.write(SIZE, new Uint8Array(1)), /outside/);
  assert.throws(() => flash.erase(SIZE), /outside/);
  assert.throws(() => flash.erase(100), /not sector aligned/);
  assert.equal(flash.violations.length, 4);
});

test("erase sets exactly one sector back to 0xFF", () => {
  const flash = new NorFlash({ size: SIZE, image: new Uint8Array(3 * SECTOR_SIZE) });
  flash.erase(SECTOR_SIZE);
  assert.ok(flash.read(SECTOR_SIZE, SECTOR_SIZE).every((b) => b === 0xff));
  assert.equal(flash.bytes[SECTOR_SIZE - 1], 0);
  assert.equal(flash.bytes[2 * SECTOR_SIZE], 0);
  assert.equal(flash.stats.erases, 1);
  assert.equal(flash.ops, 1);
});

test("the port view adds a base address and reaches the same chip", () => {
  const flash = new NorFlash({ size: SIZE });
  const port = flash.asPort(0x10000000);
  port.eraseSector(0x10000000 + SECTOR_SIZE);
  port.write(0x10000000 + SECTOR_SIZE, Uint8Array.from([7, 8]));
  assert.deepEqual([...port.read(0x10000000 + SECTOR_SIZE, 3)], [7, 8, 0xff]);
  assert.deepEqual([...flash.read(SECTOR_SIZE, 2)], [7, 8]);
});

test("a power cut during erase leaves an erased prefix, a zeroed run and old data, reproducibly per seed", () => {
  const old = pattern(SECTOR_SIZE, 5);
  const image = new Uint8Array(2 * SECTOR_SIZE);
  image.set(old, SECTOR_SIZE);
  const run = (seed: number) => {
    const flash = new NorFlash({ size: SIZE, image, seed });
    flash.cutPowerAfter(1);
    assert.throws(() => flash.erase(SECTOR_SIZE), PowerCutError);
    assert.equal(flash.poweredOff, true);
    return flash.snapshot().slice(SECTOR_SIZE, 2 * SECTOR_SIZE);
  };
  const a = run(7);
  assert.deepEqual(run(7), a, "same seed, same damage");
  let erased = 0;
  while (erased < a.length && a[erased] === 0xff) erased++;
  assert.ok(erased > 0 && erased < SECTOR_SIZE, "some but not all of the sector is erased: " + erased);
  let zeroEnd = erased;
  while (zeroEnd < a.length && a[zeroEnd] === 0) zeroEnd++;
  assert.deepEqual(a.slice(zeroEnd), old.slice(zeroEnd), "the rest is untouched");
  const seeds = [1, 2, 3, 4, 5, 6].map((s) => run(s));
  assert.ok(seeds.some((s) => s.includes(0)), "the pre-program phase shows up as 0x00 bytes");
  assert.ok(new Set(seeds.map((s) => s.indexOf(0x00))).size > 1, "different seeds cut at different points");
});

test("a power cut during a write applies only a prefix (maybe one byte half programmed)", () => {
  const data = new Uint8Array(4096).fill(0x00);
  const run = (seed: number) => {
    const flash = new NorFlash({ size: SIZE, seed });
    flash.cutPowerAfter(1);
    assert.throws(() => flash.write(0, data), PowerCutError);
    return flash.snapshot().slice(0, 4096);
  };
  const a = run(11);
  assert.deepEqual(run(11), a);
  let done = 0;
  while (done < a.length && a[done] === 0) done++;
  assert.ok(done < 4096, "the write did not complete");
  // After the programmed prefix, at most one byte is partially programmed and the rest is erased.
  assert.ok(a.slice(done + 1).every((b) => b === 0xff));
  const cutPoints = new Set([1, 2, 3, 4, 5, 6, 7, 8].map((s) => run(s).indexOf(0xff)));
  assert.ok(cutPoints.size > 1, "different seeds cut at different points");
});

test("after a cut the chip is dead until powerOn, and the n-th operation is the one cut", () => {
  const flash = new NorFlash({ size: SIZE });
  let callbacks = 0;
  flash.onPowerCut = () => callbacks++;
  flash.cutPowerAfter(3);
  flash.erase(0);
  flash.write(0, Uint8Array.from([1]));
  assert.equal(flash.poweredOff, false);
  assert.throws(() => flash.write(4, Uint8Array.from([2, 2, 2, 2])), PowerCutError);
  assert.equal(callbacks, 1);
  assert.equal(flash.ops, 3);
  assert.throws(() => flash.read(0, 1), PowerCutError);
  assert.throws(() => flash.erase(0), PowerCutError);
  assert.throws(() => flash.write(0, Uint8Array.from([0])), PowerCutError);
  assert.equal(flash.ops, 3, "operations on a dead chip do not count");
  flash.powerOn();
  assert.equal(flash.poweredOff, false);
  assert.equal(flash.read(0, 1)[0], 1);
  flash.erase(0); // no second cut: the schedule was consumed
  assert.equal(callbacks, 1);
  assert.deepEqual(flash.violations, []);
});

test("cutPowerAfter(null) disarms a scheduled cut", () => {
  const flash = new NorFlash({ size: SIZE });
  flash.cutPowerAfter(1);
  flash.cutPowerAfter(null);
  flash.erase(0);
  assert.equal(flash.poweredOff, false);
  assert.throws(() => flash.cutPowerAfter(0), /integer/);
});
