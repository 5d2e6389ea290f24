// require("Storage") on the simulated board behaves like Espruino 2v29's (src/jsflash.c): erased and
// replaced files become trash that only a compaction reclaims, getFree() is the room after the
// last file, a file that does not fit makes Storage compact itself (not power-safe, so counted),
// offset writes only go into erased bytes, and every write or erase is an operation of the NOR
// flash's power-cut countdown.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Device } from "../../src/host/runtime/device";
import { NorFlash } from "../../src/host/runtime/nor-flash";
import { bytesToBinary } from "../../src/host/runtime/bytes";
import { StorageModel, storageFootprint } from "../../src/host/runtime/storage-module";

/** A running device with an empty Storage of `storageBytes`; `S` is require("Storage"), `bytes(n, v)` n bytes of v. */
function boot(storageBytes = 4096): { d: Device; flash: NorFlash } {
  const flash = new NorFlash({ size: 64 * 1024 });
  const d = new Device({ flash, storageBytes });
  d.boot();
  d.evaluate('var S = require("Storage"); function bytes(n, v) { var a = new Uint8Array(n); a.fill(v); return a; }');
  return { d, flash };
}

/** S.list(), as a host array (the context's arrays are of another realm). */
function list(d: Device): string[] {
  return [...(d.evaluate("S.list()") as string[])];
}

function stats(d: Device): Record<string, number> {
  return { ...(d.evaluate("S.getStats()") as Record<string, number>) };
}

test("a file costs a 32-byte header plus its data padded to 4 bytes; getStats and getFree count it", (t) => {
  const { d } = boot();
  t.after(() => d.stop());
  assert.deepEqual(stats(d), { totalBytes: 4096, freeBytes: 4096, fileBytes: 0, fileCount: 0, trashBytes: 0, trashCount: 0 });
  d.evaluate('S.write("a", bytes(10, 1)); S.write("b", bytes(100, 2));');
  assert.deepEqual(stats(d), { totalBytes: 4096, freeBytes: 4096 - 44 - 132, fileBytes: 44 + 132, fileCount: 2, trashBytes: 0, trashCount: 0 });
  assert.equal(d.evaluate("S.getFree()"), 4096 - 176);
  assert.equal(storageFootprint(10), 44);
  assert.equal(storageFootprint(12), 44);
  assert.equal(storageFootprint(13), 48);
});

test("erase only marks a file deleted: its bytes become trash and getFree does not grow", (t) => {
  const { d, flash } = boot();
  t.after(() => d.stop());
  d.evaluate('S.write("a", bytes(10, 1)); S.write("b", bytes(100, 2));');
  const ops = flash.ops;
  d.evaluate('S.erase("a")');
  assert.equal(flash.ops, ops + 1, "the erase is one flash operation");
  assert.equal(d.evaluate('S.read("a")'), undefined);
  assert.deepEqual(stats(d), { totalBytes: 4096, freeBytes: 4096 - 176, fileBytes: 132, fileCount: 1, trashBytes: 44, trashCount: 1 });
  d.evaluate('S.erase("nothing")');
  assert.equal(flash.ops, ops + 1, "erasing a missing file writes nothing");
  assert.equal(d.storageCompactions, 0);
});

test("re-creating a file leaves the old one as trash and puts the new one after the last file", (t) => {
  const { d, flash } = boot();
  t.after(() => d.stop());
  d.evaluate('S.write("b", bytes(100, 2)); S.write("c", "hello");');
  const ops = flash.ops;
  d.evaluate('S.write("b", bytes(100, 3))');
  assert.equal(flash.ops, ops + 2, "erase of the old file, then the new one");
  assert.deepEqual(list(d), ["c", "b"]);
  assert.equal(d.evaluate('S.read("b")'), "\x03".repeat(100));
  assert.deepEqual(stats(d), { totalBytes: 4096, freeBytes: 4096 - 40 - 132 - 132, fileBytes: 40 + 132, fileCount: 2, trashBytes: 132, trashCount: 1 });
  // the very same contents again: nothing written, no trash
  d.evaluate('S.write("b", bytes(100, 3))');
  assert.equal(flash.ops, ops + 2);
  assert.equal(stats(d).trashCount, 1);
  // a file of this size that is still all erased is written into, not replaced
  d.evaluate('S.write("e", "", 0, 8); S.write("e", "abcd", 0, 8)');
  assert.equal(d.evaluate('S.read("e")'), "abcd\xff\xff\xff\xff");
  assert.equal(stats(d).trashCount, 1);
  // the host side (Device.setFile) follows the same rules
  d.setFile("c", "bye");
  assert.deepEqual(list(d), ["b", "e", "c"]);
  assert.equal(stats(d).trashCount, 2);
  assert.equal(d.storageCompactions, 0);
});

test("Storage compacts itself only when a new file does not fit at the end, and counts it", (t) => {
  const { d } = boot();
  t.after(() => d.stop());
  d.evaluate('S.write("a", bytes(2000, 1)); S.write("b", bytes(1000, 2)); S.erase("a");');
  assert.equal(d.evaluate("S.getFree()"), 4096 - 2032 - 1032);
  // exactly the room left at the end: no compaction
  d.evaluate('S.write("c", bytes(1000, 3))');
  assert.equal(d.evaluate("S.getFree()"), 0);
  assert.equal(d.storageCompactions, 0);
  assert.ok(!d.events.some((e) => e.includes("compacted")), d.events.join("; "));
  // no room at the end, but in the trash: compaction, then the file
  d.evaluate('S.write("d", bytes(1500, 4))');
  assert.equal(d.storageCompactions, 1);
  assert.deepEqual(d.events.filter((e) => e.includes("compacted")), ["storage compacted (not power-safe)"]);
  assert.deepEqual(stats(d), { totalBytes: 4096, freeBytes: 4096 - 1032 * 2 - 1532, fileBytes: 1032 * 2 + 1532, fileCount: 3, trashBytes: 0, trashCount: 0 });
  assert.deepEqual(list(d), ["b", "c", "d"]);
  assert.equal(d.evaluate('S.read("b")'), "\x02".repeat(1000), "compaction keeps the files");
  // too big even after a compaction: refused without compacting (Espruino fails fast)
  d.evaluate('S.erase("d")');
  assert.throws(() => d.evaluate('S.write("e", bytes(2100, 5))'), /Unable to find or create file/);
  assert.equal(d.storageCompactions, 1);
  assert.equal(d.evaluate('S.read("e")'), undefined);
  // compact() on request: counted when there is trash, a no-op without
  d.evaluate("S.compact()");
  assert.equal(d.storageCompactions, 2);
  assert.deepEqual(stats(d), { totalBytes: 4096, freeBytes: 4096 - 2064, fileBytes: 2064, fileCount: 2, trashBytes: 0, trashCount: 0 });
  d.evaluate("S.compact()");
  assert.equal(d.storageCompactions, 2);
});

test("replacing a file that no longer fits loses the old one, as on the board", (t) => {
  const { d } = boot();
  t.after(() => d.stop());
  d.evaluate('S.write("a", bytes(1000, 1)); S.write("b", bytes(2000, 2));');
  assert.throws(() => d.evaluate('S.write("a", bytes(3000, 3))'), /Unable to find or create file/);
  assert.equal(d.evaluate('S.read("a")'), undefined);
  assert.equal(stats(d).trashCount, 1);
  assert.equal(d.storageCompactions, 0, "the trash could not have made room: no compaction");
});

test("offset writes only go into erased bytes; the rest of the write rules", (t) => {
  const { d, flash } = boot();
  t.after(() => d.stop());
  d.evaluate('S.write("f", "ab", 0, 8)');
  const ops = flash.ops;
  assert.throws(() => d.evaluate('S.write("f", "cd", 1)'), /File already written with different data/);
  // even the bytes already there: Espruino checks for erased flash, not for equal data
  assert.throws(() => d.evaluate('S.write("f", "b", 1)'), /File already written with different data/);
  assert.throws(() => d.evaluate('S.write("f", "xyz", 6)'), /Too much data for file size/);
  assert.throws(() => d.evaluate('S.write("nofile", "x", 4)'), /Unable to find or create file/);
  assert.throws(() => d.evaluate('S.write("z", "")'), /Can't create zero length file/);
  assert.equal(flash.ops, ops, "refused writes write nothing");
  assert.equal(d.evaluate('S.read("f")'), "ab\xff\xff\xff\xff\xff\xff", "what was there stays");
  d.evaluate('S.write("f", "cd", 2); S.write("f", "\\xff", 4); S.write("f", "gh", 6)');
  assert.equal(d.evaluate('S.read("f")'), "abcd\xff\xffgh");
  assert.equal(d.evaluate('S.read("f", 2, 3)'), "cd\xff");
  assert.equal(d.evaluate('S.read("f", 6, 10)'), "gh");
  // size 0 means the data's length
  d.evaluate('S.write("g", "abc", 0, 0)');
  assert.equal(d.evaluate('S.read("g")'), "abc");
  // more data than the size: the file is created anyway (empty), then the write refused
  assert.throws(() => d.evaluate('S.write("h", "abcdef", 0, 3)'), /Too much data for file size/);
  assert.equal(d.evaluate('S.read("h")'), "\xff\xff\xff");
});

test("a power cut that lands on a Storage write leaves the first half of it and the device off", async (t) => {
  const { d, flash } = boot(64 * 1024);
  t.after(() => d.stop());
  d.evaluate('S.write("big", "", 0, 4000)');
  d.evaluate('S.write("big", bytes(1000, 0x11), 0, 4000)'); // same size, still erased: written into
  const ops = flash.ops;
  flash.cutPowerAfter(1);
  assert.throws(() => d.evaluate('S.write("big", bytes(1000, 0x22), 1000)'), /power cut/);
  assert.equal(flash.ops, ops + 1);
  assert.equal(flash.poweredOff, true);
  assert.equal(d.status, "off");
  assert.ok(d.events.some((e) => e.startsWith("power cut: power cut during Storage write of 1000 bytes")), d.events.join("; "));
  const file = d.storage.get("big")!;
  assert.ok(file.subarray(0, 1000).every((b) => b === 0x11), "what was written before stays");
  assert.ok(file.subarray(1000, 1500).every((b) => b === 0x22), "the first half of the interrupted write (500 bytes)");
  assert.ok(file.subarray(1500).every((b) => b === 0xff), "the rest is still erased");
  assert.throws(() => d.evaluate("1"), /not running/);
  // after power on the rest of the write goes into the still-erased bytes
  flash.powerOn();
  d.boot();
  d.evaluate('var S = require("Storage"); var a = new Uint8Array(500); a.fill(0x22); S.write("big", a, 1500)');
  assert.ok(d.storage.get("big")!.subarray(1000, 2000).every((b) => b === 0x22));
});

test("a cut that lands on a file's creation leaves the file with part of its data", (t) => {
  const { d, flash } = boot();
  t.after(() => d.stop());
  flash.cutPowerAfter(1);
  assert.throws(() => d.evaluate('S.write("new", "0123456789")'), /power cut/);
  assert.equal(d.status, "off");
  assert.equal(bytesToBinary(d.storage.get("new")!), "0123\xff\xff\xff\xff\xff\xff");
  assert.equal(d.storage.stats().fileBytes, 44);
});

test("Storage operations share the chip's cut countdown with Flash: the n-th operation is cut whichever it is", (t) => {
  const { d, flash } = boot();
  t.after(() => d.stop());
  d.evaluate('S.write("keep", "data"); S.write("gone", "data");');
  flash.cutPowerAfter(3); // Flash.erasePage, Flash.write, then Storage.erase
  assert.throws(() => d.evaluate('var F = require("Flash"); F.erasePage(0x8000); F.write(bytes(8, 0), 0x8000); S.erase("gone")'), /power cut/);
  assert.equal(d.status, "off");
  assert.ok(d.events.some((e) => e.startsWith('power cut: power cut during Storage erase of "gone"')), d.events.join("; "));
  assert.equal(bytesToBinary(d.storage.get("gone")!), "data", "a cut erase leaves the file");
  assert.ok(flash.bytes.subarray(0x8000, 0x8008).every((b) => b === 0), "the two Flash operations before it were done");
});

test("with the flash powered off, Storage writes and erases fail like the chip and stop the device", (t) => {
  const { d, flash } = boot();
  t.after(() => d.stop());
  d.evaluate('S.write("f", "ab", 0, 4)');
  flash.cutPowerAfter(1);
  assert.throws(() => flash.erase(0)); // the chip loses power outside Storage, the boot still runs
  assert.equal(d.running, true);
  const ops = flash.ops;
  assert.throws(() => d.evaluate('S.write("f", "cd", 2)'), /power cut/);
  assert.equal(d.status, "off");
  assert.ok(d.events.includes("power cut: flash is powered off (Storage write of 2 bytes at 2 of \"f\")"), d.events.join("; "));
  assert.equal(flash.ops, ops, "operations on a dead chip do not count");
  assert.equal(bytesToBinary(d.storage.get("f")!), "ab\xff\xff");
  flash.powerOn();
  d.boot();
  flash.cutPowerAfter(1);
  assert.throws(() => flash.erase(0));
  assert.throws(() => d.evaluate('require("Storage").erase("f")'), /power cut/);
  assert.equal(d.status, "off");
  assert.ok(d.storage.has("f"));
});

test("a cut that lands on a compaction: files stay, the compaction counts, and it is a violation", (t) => {
  const { d, flash } = boot();
  t.after(() => d.stop());
  d.evaluate('S.write("a", bytes(2000, 1)); S.write("b", bytes(1000, 2)); S.erase("a");');
  flash.cutPowerAfter(1);
  assert.throws(() => d.evaluate('S.write("d", bytes(1500, 4))'), /power cut/);
  assert.equal(d.status, "off");
  assert.equal(d.storageCompactions, 1);
  assert.ok(d.events.some((e) => e.startsWith("power cut: power cut during Storage compaction")), d.events.join("; "));
  assert.equal(d.violations.length, 1);
  assert.match(d.violations[0], /compaction/);
  assert.deepEqual([...d.storage.keys()], ["b"]);
  assert.equal(d.storage.trashCount, 1);
});

test("eraseAll leaves no file and no trash", (t) => {
  const { d } = boot();
  t.after(() => d.stop());
  d.evaluate('S.write("a", "x"); S.write("a", "y"); S.eraseAll();');
  assert.deepEqual(stats(d), { totalBytes: 4096, freeBytes: 4096, fileBytes: 0, fileCount: 0, trashBytes: 0, trashCount: 0 });
});

test("StorageModel on its own: Map changes follow Storage's layout rules", () => {
  const area = new StorageModel(256);
  let compacted = 0;
  area.onCompact = () => compacted++;
  area.set("a", new Uint8Array(100));
  area.set("b", new Uint8Array(50));
  area.set("a", new Uint8Array(20)); // old "a" becomes trash; 132 + 84 + 52 = 268 > 256: compacts
  assert.equal(compacted, 1);
  assert.deepEqual([...area.keys()], ["b", "a"]);
  assert.deepEqual(area.stats(), { totalBytes: 256, freeBytes: 256 - 84 - 52, fileBytes: 136, fileCount: 2, trashBytes: 0, trashCount: 0 });
  assert.equal(area.delete("b"), true);
  assert.equal(area.trashBytes, 84);
  assert.throws(() => area.set("c", new Uint8Array(300)), /no room/);
  assert.equal(compacted, 1);
});
