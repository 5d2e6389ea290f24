// Property tests: the device's otadata logic (src/core/esp32/otadata.ts) against the
// independent bootloader model (src/host/image/boot-model.ts) over random layouts and
// random, partly hostile otadata contents.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { parsePartitionTable, PartitionTable } from "../../src/core/esp32/partition-table";
import { applyFlashOps, markState, OtaEntry, planSwitch, readOtadata, selectBootSlot, OTA_STATE_PENDING_VERIFY, OTA_STATE_VALID } from "../../src/core/esp32/otadata";
import { buildFlashImage, FlashLayout } from "../../src/host/image/flash-image";
import { buildAppImage } from "../../src/host/image/app-image-builder";
import { PartitionInput } from "../../src/host/image/partition-table-builder";
import { otaCrc } from "../../src/host/image/otadata-entry";
import { simulateBoot } from "../../src/host/image/boot-model";
import { NorFlash } from "../../src/host/runtime/nor-flash";

const md5 = (d: Uint8Array) => new Uint8Array(createHash("md5").update(d).digest());
const SLOT = 0x10000;

function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0);
  return { u32: next, int: (n: number) => next() % n, pick: <T>(a: T[]) => a[next() % a.length], chance: (p: number) => next() / 4294967296 < p };
}
type Rng = ReturnType<typeof rng>;

const IMAGE = buildAppImage({ version: "x", projectName: "p", size: 0x400 });

/** nvs, otadata, optional factory, ota_0..ota_{n-1}, listed in random order. */
function randomLayout(r: Rng): { layout: FlashLayout; apps: Record<string, Uint8Array> } {
  const n = 1 + r.int(16);
  const factory = n === 1 || r.chance(0.5);
  const parts: PartitionInput[] = [
    { label: "nvs", type: "data", subtype: "nvs", offset: 0x9000, size: 0x4000 },
    { label: "otadata", type: "data", subtype: "ota", offset: 0xd000, size: 0x2000 },
  ];
  let at = 0x10000;
  if (factory) parts.push({ label: "factory", type: "app", subtype: "factory", offset: (at += SLOT) - SLOT, size: SLOT });
  for (let i = 0; i < n; i++) parts.push({ label: "app" + i, type: "app", subtype: "ota_" + i, offset: (at += SLOT) - SLOT, size: SLOT });
  for (let i = parts.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [parts[i], parts[j]] = [parts[j], parts[i]];
  }
  const apps: Record<string, Uint8Array> = {};
  for (const p of parts) if (p.type === "app") apps[p.label] = IMAGE;
  return { layout: { flash: { size: at }, partitionTable: { offset: 0x8000, partitions: parts } }, apps };
}

function randomEntry(r: Rng, n: number): { seq: number; state: number; crc?: number } | null {
  if (r.chance(0.15)) return null;
  const seq = r.pick([() => 1 + r.int(3 * n + 3), () => 0, () => 0xffffffff, () => 0xfffffffe, () => r.u32(), () => 0xffffffff - r.int(40)])();
  const state = r.pick([0, 1, 2, 3, 4, 0xffffffff, 0xffffffff, 0xffffffff, r.u32()]);
  return { seq, state, crc: r.chance(0.15) ? r.u32() : undefined };
}

function world(seed: number) {
  const r = rng(seed);
  const { layout, apps } = randomLayout(r);
  const n = layout.partitionTable.partitions.filter((p) => String(p.subtype).startsWith("ota_")).length;
  const otadata = [randomEntry(r, n), randomEntry(r, n)];
  const flash = buildFlashImage(layout, { apps, otadata });
  const table = parsePartitionTable(flash.subarray(0x8000, 0x9000), md5, layout.flash.size);
  return { r, layout, flash, table };
}

function copiesOf(flash: Uint8Array, table: PartitionTable): OtaEntry[] {
  return readOtadata(new NorFlash({ size: flash.length, image: flash }).asPort(), table.otadata!);
}

test("selectBootSlot picks the same slot as the bootloader model (2000 random worlds, both bootloader builds)", () => {
  for (let seed = 1; seed <= 2000; seed++) {
    const { flash, table } = world(seed);
    const copies = copiesOf(flash, table);
    for (const rollbackBootloader of [false, true]) {
      const model = simulateBoot(flash, { rollbackBootloader });
      const mine = selectBootSlot(table, copies, rollbackBootloader);
      assert.equal(mine.partition.label, model.booted?.label, `seed ${seed} rb ${rollbackBootloader} ${JSON.stringify(copies)} ${model.log.join("; ")}`);
      if (model.selected) assert.equal(mine.partition.offset, model.selected.offset);
    }
  }
});

test("planSwitch makes the model boot the target from any starting state", () => {
  for (let seed = 1; seed <= 1500; seed++) {
    const { r, flash, table } = world(seed * 7919);
    const targets = [...table.ota, ...(table.factory ? [table.factory] : [])];
    const target = r.pick(targets);
    const rollback = r.chance(0.5);
    const copies = copiesOf(flash, table);
    const ops = planSwitch(table, copies, target, rollback);
    const nor = new NorFlash({ size: flash.length, image: flash });
    applyFlashOps(nor.asPort(), ops);
    assert.deepEqual(nor.violations, []);
    for (const rollbackBootloader of rollback ? [true, false] : [false, true]) {
      const first = simulateBoot(nor.bytes, { rollbackBootloader });
      assert.equal(first.booted?.label, target.label, `seed ${seed}: ${first.log.join("; ")}`);
      assert.equal(first.selected?.label, target.label);
    }
    const after = copiesOf(nor.bytes, table);
    for (let c = 0; c < 2; c++) assert.ok(after[c].seq !== 0 || copies[c].seq === 0, `seed ${seed}: seq 0 written`);
  }
});

test("with a rollback bootloader, an unconfirmed OTA boot falls back on the next reset; a confirmed one stays", () => {
  let checked = 0;
  let fellBack = 0;
  for (let seed = 1; seed <= 400; seed++) {
    const { r, flash, table } = world(seed * 104729);
    if (table.ota.length < 2) continue;
    const copies = copiesOf(flash, table);
    const before = selectBootSlot(table, copies, true);
    const target = r.pick(table.ota.filter((p) => p !== before.partition));
    const ops = planSwitch(table, copies, target, true);
    const nor = new NorFlash({ size: flash.length, image: flash });
    applyFlashOps(nor.asPort(), ops);
    const boot1 = simulateBoot(nor.bytes, { rollbackBootloader: true });
    assert.equal(boot1.booted?.label, target.label);
    // Not confirmed: the bootloader aborts the trial and the other copy (or the default slot) decides.
    const pending = copiesOf(boot1.flash, table);
    assert.ok(pending.some((e) => e.state === OTA_STATE_PENDING_VERIFY));
    const boot2 = simulateBoot(boot1.flash, { rollbackBootloader: true });
    assert.equal(boot2.booted?.label, selectBootSlot(table, pending, true).partition.label, `seed ${seed}: ${boot2.log.join("; ")}`);
    if (boot2.booted?.label !== target.label) fellBack++;
    // Confirmed by the app (markState VALID on the active copy): it keeps booting.
    const confirmed = new NorFlash({ size: flash.length, image: boot1.flash });
    applyFlashOps(confirmed.asPort(), markState(table, copiesOf(boot1.flash, table), OTA_STATE_VALID));
    const boot3 = simulateBoot(confirmed.bytes, { rollbackBootloader: true });
    assert.equal(boot3.booted?.label, target.label);
    assert.equal(simulateBoot(boot3.flash, { rollbackBootloader: true }).booted?.label, target.label);
    checked++;
  }
  assert.ok(checked > 100, "enough worlds exercised: " + checked);
  assert.ok(fellBack > checked / 2, "most unconfirmed trials went back to another slot: " + fellBack + "/" + checked);
});

test("the model's own CRC agrees with the reference vectors", () => {
  assert.equal(otaCrc(1), 0x4743989a);
  assert.equal(otaCrc(0), 0xffffffff, "seq 0 has CRC 0xFFFFFFFF: an all-0xFF entry with seq 0 is valid");
});
