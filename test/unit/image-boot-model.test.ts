// The bootloader model on hand-picked situations from docs/esp32-formats.md#otadata-selection (the property tests in
// esp32-boot-selection.test.ts compare it with the device code on random ones).

import { test } from "node:test";
import assert from "node:assert/strict";
import { simulateBoot } from "../../src/host/image/boot-model";
import { buildAppImage } from "../../src/host/image/app-image-builder";
import { buildFlashImage, FlashLayout } from "../../src/host/image/flash-image";
import { encodeOtadataEntry, OTA_ABORTED, OTA_NEW, OTA_PENDING_VERIFY, OTA_VALID } from "../../src/host/image/otadata-entry";
import { AB_4MB_LAYOUT, STOCK_LAYOUT } from "../../src/host/image/layouts";

const APP = buildAppImage({ version: "1", projectName: "p", size: 0x1000 });
const entryAt = (flash: Uint8Array, at: number) => flash.subarray(at, at + 32);

/** factory + ota_0..ota_2, for the fallback order. */
const FOUR: FlashLayout = {
  flash: { size: 0x100000 },
  partitionTable: {
    offset: 0x8000,
    partitions: [
      { label: "otadata", type: "data", subtype: "ota", offset: 0xd000, size: 0x2000 },
      { label: "factory", type: "app", subtype: "factory", offset: 0x10000, size: 0x10000 },
      { label: "ota_0", type: "app", subtype: "ota_0", offset: 0x20000, size: 0x10000 },
      { label: "ota_1", type: "app", subtype: "ota_1", offset: 0x30000, size: 0x10000 },
      { label: "ota_2", type: "app", subtype: "ota_2", offset: 0x40000, size: 0x10000 },
    ],
  },
};

test("blank otadata boots factory, or ota_0 and records seq 1 VALID when there is no factory", () => {
  const stock = simulateBoot(buildFlashImage(STOCK_LAYOUT, { bootApp: APP }), { rollbackBootloader: false });
  assert.equal(stock.booted?.label, "factory");
  const flash = buildFlashImage(AB_4MB_LAYOUT, { bootApp: APP });
  const ab = simulateBoot(flash, { rollbackBootloader: false });
  assert.equal(ab.booted?.label, "ota_0");
  assert.deepEqual(entryAt(ab.flash, 0xd000), encodeOtadataEntry({ seq: 1, state: OTA_VALID }));
  assert.ok(flash.subarray(0xd000, 0xd020).every((b) => b === 0xff), "input not modified");
});

test("a rollback bootloader turns NEW into PENDING_VERIFY and PENDING_VERIFY into ABORTED", () => {
  const flash = buildFlashImage(AB_4MB_LAYOUT, { apps: { ota_0: APP, ota_1: APP }, otadata: [{ seq: 1, state: OTA_VALID }, { seq: 2, state: OTA_NEW }] });
  const plain = simulateBoot(flash, { rollbackBootloader: false });
  assert.equal(plain.flash, flash, "a plain bootloader writes nothing");
  const boot1 = simulateBoot(flash, { rollbackBootloader: true });
  assert.equal(boot1.booted?.label, "ota_1");
  assert.deepEqual(entryAt(boot1.flash, 0xe000), encodeOtadataEntry({ seq: 2, state: OTA_PENDING_VERIFY }));
  const boot2 = simulateBoot(boot1.flash, { rollbackBootloader: true });
  assert.equal(boot2.booted?.label, "ota_0");
  assert.deepEqual(entryAt(boot2.flash, 0xe000), encodeOtadataEntry({ seq: 2, state: OTA_ABORTED }));
});

test("an image that fails verification makes the bootloader search down to factory, then up", () => {
  const broken = APP.slice();
  broken[0x200] ^= 1;
  const flash = (apps: Record<string, Uint8Array>) => buildFlashImage(FOUR, { apps, otadata: [{ seq: 2 }, null] });
  let r = simulateBoot(flash({ factory: APP, ota_0: APP, ota_1: broken, ota_2: APP }), { rollbackBootloader: false });
  assert.deepEqual([r.selected?.label, r.selectedValid, r.booted?.label], ["ota_1", false, "ota_0"]);
  r = simulateBoot(flash({ factory: APP, ota_1: broken, ota_2: APP }), { rollbackBootloader: false });
  assert.equal(r.booted?.label, "factory");
  r = simulateBoot(flash({ ota_1: broken, ota_2: APP }), { rollbackBootloader: false });
  assert.equal(r.booted?.label, "ota_2");
  r = simulateBoot(flash({ ota_1: broken }), { rollbackBootloader: false });
  assert.equal(r.booted, null);
});

test("an unusable partition table boots nothing", () => {
  const flash = buildFlashImage(STOCK_LAYOUT, { bootApp: APP });
  flash[0x8000 + 40] ^= 1;
  const r = simulateBoot(flash, { rollbackBootloader: false });
  assert.equal(r.booted, null);
  assert.match(r.log.join(" "), /MD5/);
});
