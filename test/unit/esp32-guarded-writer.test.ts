import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { GuardedFlash, protectedRegions } from "../../src/core/esp32/guarded-writer";
import { parsePartitionTable } from "../../src/core/esp32/partition-table";
import { preflightImage } from "../../src/core/esp32/app-image";
import { buildFlashImage } from "../../src/host/image/flash-image";
import { buildAppImage } from "../../src/host/image/app-image-builder";
import { AB_4MB_LAYOUT } from "../../src/host/image/layouts";
import { NorFlash } from "../../src/host/runtime/nor-flash";
import type { FlashPort } from "../../src/core/ports";

const md5 = (d: Uint8Array) => new Uint8Array(createHash("md5").update(d).digest());
const SIZE = 0x400000;

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? "no code: " + String(e);
  }
  return "no error";
}

/** An A/B device running ota_0, with the guard set up for writing ota_1 + otadata copy 1 + a journal. */
function setup() {
  const image = buildFlashImage(AB_4MB_LAYOUT, { bootApp: buildAppImage({ version: "1", projectName: "p", size: 0x2000 }), otadata: [{ seq: 1 }] });
  const nor = new NorFlash({ size: SIZE, image });
  const table = parsePartitionTable(nor.bytes.subarray(0x8000, 0x9000), md5, SIZE);
  const journal = { label: "journal", offset: 0x310000, size: 0x2000 };
  const guard = new GuardedFlash(nor.asPort(), {
    chipSize: SIZE,
    allowed: [table.ota[1], { label: "otadata[1]", offset: 0xe000, size: 0x1000 }, journal],
    forbidden: protectedRegions(0x8000, table.ota[0]),
  });
  return { nor, table, guard, before: nor.snapshot() };
}

test("GuardedFlash refuses hostile addresses before touching flash", () => {
  const { nor, guard, before } = setup();
  const word = new Uint8Array(4);
  const attempts: [string, () => void][] = [
    ["partition table erase", () => guard.eraseSector(0x8000)],
    ["partition table write", () => guard.write(0x8000, word)],
    ["bootloader", () => guard.eraseSector(0x1000)],
    ["running slot", () => guard.eraseSector(0x10000)],
    ["running slot tail", () => guard.write(0x18fffc, word)],
    ["otadata copy not being written", () => guard.eraseSector(0xd000)],
    ["straddling slot end", () => guard.write(0x30fffc, new Uint8Array(8))],
    ["straddling two allowed regions", () => guard.write(0xdffc, new Uint8Array(8))],
    ["nvs", () => guard.eraseSector(0x9000)],
    ["off the end", () => guard.eraseSector(SIZE)],
    ["far off the end", () => guard.write(0xfffffffc, word)],
    ["negative", () => guard.eraseSector(-0x1000)],
    ["fractional", () => guard.write(0x190000 + 0.5, word)],
    ["NaN", () => guard.eraseSector(NaN)],
  ];
  for (const [what, fn] of attempts) assert.equal(codeOf(fn), "FLASH_FORBIDDEN", what);
  assert.equal(codeOf(() => guard.eraseSector(0x190100)), "FLASH_RANGE", "misaligned erase inside the slot");
  assert.equal(codeOf(() => guard.write(0x190002, word)), "FLASH_RANGE", "misaligned write");
  assert.equal(codeOf(() => guard.write(0x190000, new Uint8Array(3))), "FLASH_RANGE", "odd length");
  assert.equal(nor.ops, 0);
  assert.deepEqual(nor.bytes, before);
});

test("GuardedFlash allows its regions and splits long writes into <= 4096-byte port writes", () => {
  const { nor, guard } = setup();
  const sizes: number[] = [];
  const spy: FlashPort = {
    read: (o, l) => nor.read(o, l),
    write: (o, d) => (sizes.push(d.length), nor.write(o, d)),
    eraseSector: (o) => nor.erase(o),
  };
  const g = new GuardedFlash(spy, { chipSize: SIZE, allowed: [{ label: "slot", offset: 0x190000, size: 0x180000 }], forbidden: [] });
  for (let s = 0; s < 3; s++) g.eraseSector(0x190000 + s * 0x1000);
  const data = new Uint8Array(10000).map((_, i) => i & 0xff);
  g.write(0x190000, data);
  assert.deepEqual(sizes, [4096, 4096, 1808]);
  assert.deepEqual(nor.read(0x190000, 10000), data);
  guard.eraseSector(0xe000);
  guard.write(0x310000, new Uint8Array(4));
  assert.deepEqual(nor.violations, []);
});

test("GuardedFlash refuses to be set up with a region that overlaps protected flash", () => {
  const { nor, table } = setup();
  const make = (offset: number, size: number) => () =>
    new GuardedFlash(nor.asPort(), { chipSize: SIZE, allowed: [{ label: "r", offset, size }], forbidden: protectedRegions(0x8000, table.ota[0]) });
  assert.equal(codeOf(make(0x8000, 0x1000)), "FLASH_FORBIDDEN");
  assert.equal(codeOf(make(0x0, 0x1000)), "FLASH_FORBIDDEN");
  assert.equal(codeOf(make(0x100000, 0x100000)), "FLASH_FORBIDDEN", "covers part of the running slot");
  assert.equal(codeOf(make(0x190800, 0x1000)), "FLASH_FORBIDDEN", "not sector aligned");
  assert.equal(codeOf(make(0x3ff000, 0x2000)), "FLASH_FORBIDDEN", "beyond the chip");
  assert.equal(codeOf(make(0x190000, 0x180000)), "no error");
});

test("hostile images and tables are refused before the first erase", () => {
  const { nor, table, guard, before } = setup();
  const bad = buildAppImage({ version: "2", projectName: "p", size: 0x2000 });
  bad[12] = 9; // an ESP32-S3 image
  assert.equal(codeOf(() => preflightImage(bad, "esp32", table.ota[1].size, bad.length, "p")), "IMG_CHIP");
  const big = buildAppImage({ version: "2", projectName: "p", size: 0x2000 });
  assert.equal(codeOf(() => preflightImage(big, "esp32", table.ota[1].size, 0x180010, "p")), "IMG_TOO_BIG");
  const corrupt = nor.read(0x8000, 0x1000);
  corrupt[40] ^= 0xff;
  assert.equal(codeOf(() => parsePartitionTable(corrupt, md5, SIZE)), "PT_MD5");
  assert.ok(guard);
  assert.equal(nor.ops, 0);
  assert.deepEqual(nor.bytes, before);
});
