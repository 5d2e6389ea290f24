// The bench's measuring parts (src/host/bench), checked without timing: the espruino.flash
// layout the Linux build boots from, the device stub's reports, the MD5 baseline being real
// MD5, the simulated wasted-bytes and re-hash measurements, and the verdicts.
import { test } from "node:test";
import { SIGN_TRAILER } from "../../src/core/sign/verify";
import assert from "node:assert/strict";
import { runInNewContext } from "node:vm";
import { join } from "node:path";
import { parse } from "acorn";
import { loadBoard, BOARDS_DIR } from "../../src/host/boards/load-board";
import { buildAppImage } from "../../src/host/image/app-image-builder";
import { parsePartitionTable, PARTITION_TABLE_MAX_LEN } from "../../src/core/esp32/partition-table";
import { jsMd5, md5Bytes } from "../../src/core/crypto/md5";
import { Device } from "../../src/host/runtime/device";
import { NorFlash } from "../../src/host/runtime/nor-flash";
import { linuxFlashFile, storageFile, bootCodeCapacity, STORAGE_HEADER_SIZE, LINUX_FLASH_BASE } from "../../src/host/bench/linux-flash";
import { deviceStub, parseStubLine, withStub, type StubEvent } from "../../src/host/bench/device-stub";
import { naiveMd5Source } from "../../src/host/bench/md5-harness";
import { hostOta, dropEvery64k, cutsEvery256k } from "../../src/host/bench/host-ota";
import { judged, table } from "../../src/host/bench/report";
import { slope } from "../../src/host/bench/stats";

const linux = loadBoard(join(BOARDS_DIR, "espruino-linux.json"));

test("espruino.flash: .bootcde as the Linux build stores it, then the board's ESP32 layout", () => {
  const app = buildAppImage({ version: "1.0.0", projectName: "espruino", size: 0x4000, seed: 3 });
  const code = "print('hello');";
  const flash = linuxFlashFile(linux, app, code);
  assert.equal(flash.length, 0x40000);
  const dv = new DataView(flash.buffer);
  assert.equal(dv.getUint32(0, true), code.length, "u32 length first");
  assert.equal(Buffer.from(flash.subarray(4, 12)).toString("latin1"), ".bootcde");
  assert.ok(flash.subarray(12, STORAGE_HEADER_SIZE).every((b) => b === 0), "name zero-padded to 28 bytes");
  assert.equal(Buffer.from(flash.subarray(STORAGE_HEADER_SIZE, STORAGE_HEADER_SIZE + code.length)).toString("latin1"), code);
  // Storage must find erased flash after the file, up to the layout
  assert.ok(flash.subarray(STORAGE_HEADER_SIZE + code.length, linux.partitionTable.offset).every((b) => b === 0xff));
  const table = parsePartitionTable(flash.subarray(linux.partitionTable.offset, linux.partitionTable.offset + PARTITION_TABLE_MAX_LEN), md5Bytes, linux.flash.size);
  assert.deepEqual(
    table.partitions.map((p) => [p.label, p.offset]),
    linux.partitionTable.partitions.map((p) => [p.label, p.offset]),
  );
  const ota0 = linux.partitionTable.partitions.find((p) => p.label === "ota_0")!;
  assert.deepEqual(flash.subarray(ota0.offset, ota0.offset + app.length), app, "the factory image is in ota_0");
});

test("espruino.flash refuses code that would run into the layout, and non-ASCII code", () => {
  const app = buildAppImage({ version: "1.0.0", projectName: "espruino", size: 0x4000, seed: 3 });
  assert.throws(() => linuxFlashFile(linux, app, "x".repeat(bootCodeCapacity(linux) + 1)), /only \d+ fit before the layout at 0x19000/);
  assert.doesNotThrow(() => linuxFlashFile(linux, app, "x".repeat(bootCodeCapacity(linux))));
  assert.throws(() => linuxFlashFile(linux, app, "print('\u20ac')"), /ASCII/);
  assert.throws(() => storageFile("a-name-that-is-far-too-long-for-storage", new Uint8Array(1)), /1\.\.28/);
  assert.throws(() => linuxFlashFile(loadBoard(join(BOARDS_DIR, "host-sim.json")), app, ""), /emulates/);
});

test("the stub goes before the bundle's last statement and stays ES5", () => {
  const bundle = "function go(){print('go')}var x=1;go();";
  const code = withStub(bundle, { flashBase: LINUX_FLASH_BASE });
  assert.doesNotThrow(() => parse(code, { ecmaVersion: 5, sourceType: "script" }));
  assert.ok(code.indexOf("__bench.loaded();") < code.lastIndexOf("go();"));
  assert.ok(code.indexOf("var x=1;") < code.indexOf("__bench.loaded();"));
  assert.throws(() => withStub("function f(){}", { flashBase: 0 }), /does not end with the statement/);
});

test("the stub reports flash operations with memory, erases whole 4 KB sectors, and stands in for ESP32", async (t) => {
  const flash = new NorFlash({ size: 0x40000 });
  flash.bytes.fill(0x00, 0x30000, 0x31000);
  const lines: string[] = [];
  const bundle = `var F = require("Flash");
function go() {
  F.erasePage(${LINUX_FLASH_BASE + 0x30000} / 1);
  F.write(new Uint8Array([1, 2, 3, 4]), ${LINUX_FLASH_BASE + 0x30000});
  F.read(4, ${LINUX_FLASH_BASE + 0x30000});
  ESP32.setOTAValid(true);
  print("done");
}
go();`;
  const d = new Device({ bundle: withStub(bundle, { flashBase: LINUX_FLASH_BASE }), flash, flashBase: LINUX_FLASH_BASE, onLog: (l) => lines.push(l) });
  t.after(() => d.stop());
  d.boot();
  const events = lines.map(parseStubLine).filter((e): e is StubEvent => e !== null);
  const kinds = events.map((e) => e.kind);
  assert.deepEqual(kinds.slice(0, 3), ["boot", "ballast", "loaded"]);
  assert.ok(kinds.includes("erase") && kinds.includes("write") && kinds.includes("read") && kinds.includes("ota-valid"), kinds.join(","));
  const erase = events.find((e) => e.kind === "erase") as { offset: number; usage: number };
  assert.equal(erase.offset, 0x30000);
  assert.ok(erase.usage > 0);
  const write = events.find((e) => e.kind === "write") as { offset: number; length: number };
  assert.deepEqual([write.offset, write.length], [0x30000, 4]);
  assert.deepEqual([...flash.bytes.subarray(0x30000, 0x30008)], [1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff], "the sector was erased, then programmed");
  assert.ok(flash.bytes.subarray(0x30004, 0x31000).every((b) => b === 0xff), "all four 1 KB pages of the sector erased");
  assert.ok(lines.includes("done"));
});

test("stub lines parse; anything else is not a report", () => {
  assert.deepEqual(parseStubLine("\x1b[J@@W 196608 4096 4288"), { kind: "write", offset: 196608, length: 4096, usage: 4288 });
  assert.deepEqual(parseStubLine("@@L 546.6 0 2 7 16896"), { kind: "late", ms: 546.6, erases: 0, writes: 2, reads: 7, bytesRead: 16896 });
  assert.deepEqual(parseStubLine("@@X erasePage 200704 Address should be an integer, got Number"), { kind: "fault", what: "erasePage 200704 Address should be an integer, got Number" });
  assert.deepEqual(parseStubLine("@@REBOOT"), { kind: "reboot" });
  assert.equal(parseStubLine("ota: idle --update--> downloading"), null);
  assert.match(deviceStub({ flashBase: 0 }), /ESP32/);
});

test("the MD5 baseline computes real MD5 chaining values", () => {
  const data = new Uint8Array(128).map((_, i) => (i * 7 + 3) & 255);
  const ctx: Record<string, unknown> = {};
  runInNewContext(naiveMd5Source() + "\nvar h = new Int32Array([1732584193, -271733879, -1732584194, 271733878]); naiveMd5Update(h, data, 128);", Object.assign(ctx, { data }));
  const h = ctx.h as Int32Array;
  const m = jsMd5.create();
  m.update(data, 0, 128);
  const state = m.saveState();
  const words = [0, 1, 2, 3].map((i) => new DataView(state.buffer, state.byteOffset).getInt32(i * 4, true));
  assert.deepEqual([...h], words);
});

test("wasted bytes and re-hash are measured on a simulated update (small image)", async () => {
  const size = 160 * 1024;
  // the image is a signature trailer short of `size`, so the served file is exactly `size` bytes
  const drops = await hostOta({ imageSize: size - SIGN_TRAILER, faults: dropEvery64k(size) });
  assert.equal(drops.result, "done");
  assert.equal(drops.imageBytes, size);
  assert.ok(drops.requests > Math.ceil(size / 65536), "the drops cost extra requests: " + drops.requests);
  assert.equal(drops.bytesFetched, size, "a dropped connection resumes at the exact byte");
  const cut = await hostOta({ imageSize: size - SIGN_TRAILER, powerCutsAtBytes: [100 * 1024] });
  assert.equal(cut.result, "done");
  assert.equal(cut.powerCuts, 1);
  assert.equal(cut.resumes, 1);
  assert.ok(cut.bytesFetched > size, "a power cut costs the bytes after the last checkpoint");
  assert.equal(cut.rehashBytesOnResume, 0);
  assert.equal(cut.verifyReadBytes >= size, true, "the final image check reads the image back");
  assert.ok(cut.journalErases >= 1 && cut.slotErases >= size / 4096);
  assert.deepEqual(cutsEvery256k(1536 * 1024), [262144, 524288, 786432, 1048576, 1310720]);
});

test("verdicts and series", () => {
  assert.equal(judged({ key: "a", item: 2, label: "a", value: 1.2, unit: "ratio" }, "<=", 1.01).verdict, "FAIL");
  assert.equal(judged({ key: "a", item: 2, label: "a", value: 1.0, unit: "ratio" }, "<=", 1.01).verdict, "pass");
  assert.equal(judged({ key: "b", item: 1, label: "b", value: 7, unit: "x" }, ">=", 6).verdict, "pass");
  assert.equal(judged({ key: "b", item: 1, label: "b", value: null, unit: "x" }, ">=", 6).verdict, "not measured");
  assert.match(table([judged({ key: "c", item: 4, label: "link", value: 1.43, unit: "ratio" }, "<=", 1.15)]), /link\s+1\.4300\s+<= 1\.15\s+FAIL/);
  assert.equal(slope([5, 5, 5, 5]), 0);
  assert.equal(slope([1, 3, 5, 7]), 2);
  assert.equal(slope([4]), 0);
});
