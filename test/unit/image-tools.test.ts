import { test } from "node:test";
import assert from "node:assert/strict";
import { buildAppImage } from "../../src/host/image/app-image-builder";
import { buildFlashImage, findPartition } from "../../src/host/image/flash-image";
import { buildPartitionTable, partitionSubtypeCode, partitionTypeCode } from "../../src/host/image/partition-table-builder";
import { encodeOtadataEntry, writeOtadataEntry, OTA_NEW } from "../../src/host/image/otadata-entry";
import { validateAppImage } from "../../src/host/image/validate-image";
import { AB_4MB_LAYOUT, STOCK_LAYOUT } from "../../src/host/image/layouts";

test("partition type and subtype names, numbers and numeric strings", () => {
  assert.deepEqual(["app", "data", "bootloader", "partition_table", "0x40", 0x41, "7"].map(partitionTypeCode), [0, 1, 2, 3, 0x40, 0x41, 7]);
  const sub = (t: string, s: string | number) => partitionSubtypeCode(partitionTypeCode(t), s);
  assert.deepEqual(
    [sub("app", "factory"), sub("app", "ota_0"), sub("app", "ota_15"), sub("app", "test"), sub("data", "ota"), sub("data", "phy")],
    [0x00, 0x10, 0x1f, 0x20, 0x00, 0x01],
  );
  assert.deepEqual([sub("data", "nvs"), sub("data", "undefined"), sub("data", "spiffs"), sub("data", "fat"), sub("data", "0x40")], [2, 6, 0x82, 0x81, 0x40]);
  assert.throws(() => partitionTypeCode("apps"), RangeError);
  assert.throws(() => sub("app", "ota_16"), RangeError);
  assert.throws(() => sub("data", "factory"), RangeError);
  assert.throws(() => buildPartitionTable([{ label: "seventeen-chars!!", type: "data", subtype: "nvs", offset: 0x9000, size: 0x1000 }]), RangeError);
});

test("buildAppImage: exact sizes, descriptor fields, valid checksum and hash, seeds change the content", () => {
  for (const size of [0x170, 0x1000, 0x10010, 0x150000]) {
    const img = buildAppImage({ version: "v" + size, projectName: "espruino", size, seed: size });
    assert.equal(img.length, size);
    assert.deepEqual(validateAppImage(img, 0, size), { ok: true, length: size });
    assert.ok(img[1] >= 1 && img[1] <= 16, "segment count " + img[1]);
    assert.equal(new TextDecoder().decode(img.subarray(0x30, 0x30 + String(size).length + 1)), "v" + size);
  }
  const a = buildAppImage({ version: "1", projectName: "p", size: 0x1000, seed: 1 });
  const b = buildAppImage({ version: "1", projectName: "p", size: 0x1000, seed: 2 });
  assert.notDeepEqual(a, b);
  assert.deepEqual(a, buildAppImage({ version: "1", projectName: "p", size: 0x1000, seed: 1 }));
  const noHash = buildAppImage({ version: "1", projectName: "p", size: 0x1000, hashAppended: false });
  assert.equal(noHash[23], 0);
  assert.ok(validateAppImage(noHash, 0, 0x1000).ok);
  assert.throws(() => buildAppImage({ version: "1", projectName: "p", size: 0x1001 }), RangeError);
  assert.throws(() => buildAppImage({ version: "x".repeat(33), projectName: "p" }), RangeError);
});

test("validateAppImage catches what the bootloader catches", () => {
  const img = buildAppImage({ version: "1", projectName: "p", size: 0x2000 });
  const flash = new Uint8Array(0x10000).fill(0xff);
  flash.set(img, 0x1000);
  assert.ok(validateAppImage(flash, 0x1000, 0x3000).ok);
  assert.deepEqual(validateAppImage(flash, 0x1000, 0x1fff), { ok: false, reason: "hash beyond partition" });
  assert.equal(validateAppImage(flash, 0x1000, 0x3000, 9).ok, false);
  assert.equal(validateAppImage(flash, 0x4000, 0x3000).ok, false, "erased slot");
  const bad = flash.slice();
  bad[0x1800] ^= 4;
  assert.deepEqual(validateAppImage(bad, 0x1000, 0x3000), { ok: false, reason: "checksum" });
  const badHash = flash.slice();
  badHash[0x1000 + 0x2000 - 1] ^= 4;
  assert.deepEqual(validateAppImage(badHash, 0x1000, 0x3000), { ok: false, reason: "sha256" });
});

test("buildFlashImage: table, boot app, otadata, 0xFF elsewhere", () => {
  const app = buildAppImage({ version: "1", projectName: "p", size: 0x1000 });
  const stock = buildFlashImage(STOCK_LAYOUT, { bootApp: app });
  assert.equal(stock.length, 0x400000);
  assert.deepEqual(stock.subarray(0x8000, 0x8c00), buildPartitionTable(STOCK_LAYOUT.partitionTable.partitions));
  assert.deepEqual(stock.subarray(0x10000, 0x11000), app, "boot app in factory");
  assert.ok(stock.subarray(0x190000, 0x400000).every((x) => x === 0xff));
  assert.ok(stock.subarray(0xc000, 0xe000).every((x) => x === 0xff), "otadata erased");

  const ab = buildFlashImage(AB_4MB_LAYOUT, { bootApp: app, otadata: [{ seq: 1 }, { seq: 2, state: OTA_NEW }], apps: { ota_1: app } });
  assert.deepEqual(ab.subarray(0x10000, 0x11000), app, "boot app in ota_0 without factory");
  assert.deepEqual(ab.subarray(0x190000, 0x191000), app);
  assert.deepEqual(ab.subarray(0xd000, 0xd020), encodeOtadataEntry({ seq: 1 }));
  assert.deepEqual(ab.subarray(0xe000, 0xe020), encodeOtadataEntry({ seq: 2, state: OTA_NEW }));
  assert.ok(ab.subarray(0xd020, 0xe000).every((x) => x === 0xff));
  assert.equal(findPartition(AB_4MB_LAYOUT, "data", "phy")?.label, "phy_init");
  assert.throws(() => buildFlashImage(AB_4MB_LAYOUT, { apps: { ota_1: new Uint8Array(0x180001) } }), RangeError);

  writeOtadataEntry(ab, 0xd000, 1, null);
  assert.ok(ab.subarray(0xe000, 0xf000).every((x) => x === 0xff));
  assert.deepEqual([...encodeOtadataEntry({ seq: 2, crc: 0x12345678 }).subarray(28)], [0x78, 0x56, 0x34, 0x12]);
});
