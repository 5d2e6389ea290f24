// Power cuts during a whole update (slot write, read-back check, otadata switch), during
// the agent's own switch-back and during mark-valid, on both shipped layouts. After every
// flash operation, and in the middle of it, the bootloader model must select a slot that
// holds a valid image: the old one or the new one.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { FlashPort } from "../../src/core/ports";
import { parsePartitionTable, PartitionTable, Partition } from "../../src/core/esp32/partition-table";
import {
  applyFlashOps, chooseTarget, FlashOp, markState, planSwitch, readOtadata, Ota, OTA_STATE_VALID,
} from "../../src/core/esp32/otadata";
import { ImageVerifier, preflightImage, IMAGE_PREFLIGHT_BYTES } from "../../src/core/esp32/app-image";
import { GuardedFlash, protectedRegions, FlashRegion } from "../../src/core/esp32/guarded-writer";
import { SlotWriter } from "../../src/core/agent/slot-writer";
import { jsMd5 } from "../../src/core/crypto/md5";
import { nodeBytes } from "../helpers/node-bytes-port";
import { buildFlashImage, FlashLayout } from "../../src/host/image/flash-image";
import { buildAppImage } from "../../src/host/image/app-image-builder";
import { OtadataEntryInput, OTA_VALID } from "../../src/host/image/otadata-entry";
import { simulateBoot } from "../../src/host/image/boot-model";
import { AB_4MB_LAYOUT, STOCK_LAYOUT } from "../../src/host/image/layouts";
import { NorFlash, PowerCutError } from "../../src/host/runtime/nor-flash";

const md5 = (d: Uint8Array) => new Uint8Array(createHash("md5").update(d).digest());
const V1 = buildAppImage({ version: "1", projectName: "espruino", size: 0x3000, seed: 1 });
const V2 = buildAppImage({ version: "2", projectName: "espruino", size: 0x5010, seed: 2 });
const V3 = buildAppImage({ version: "3", projectName: "espruino", size: 0x4000, seed: 3 });
const CHUNK = 536; // Espruino's HTTP chunk size

class Halt extends Error {}

/** Lets exactly `limit` mutating operations through, then stops the procedure (a clean cut between two ops). */
function haltingPort(inner: FlashPort, limit: number | null, counter: { ops: number }): FlashPort {
  const gate = () => {
    if (limit !== null && counter.ops >= limit) throw new Halt();
    counter.ops++;
  };
  return {
    read: (o, l) => inner.read(o, l),
    write: (o, d) => (gate(), inner.write(o, d)),
    eraseSector: (o) => (gate(), inner.eraseSector(o)),
  };
}

function tableOf(port: FlashPort, layout: FlashLayout): PartitionTable {
  return parsePartitionTable(port.read(layout.partitionTable.offset, 0x1000), md5, layout.flash.size);
}

function bySlot(table: PartitionTable, label: string): Partition {
  return [table.factory, ...table.ota].find((p) => p?.label === label)!;
}

function otadataRegions(ops: FlashOp[]): FlashRegion[] {
  const seen: FlashRegion[] = [];
  for (const op of ops) {
    const sector = op.offset & ~0xfff;
    if (!seen.some((r) => r.offset === sector)) seen.push({ label: "otadata@" + sector.toString(16), offset: sector, size: 0x1000 });
  }
  return seen;
}

/** The agent's flash work for one update, everything through GuardedFlash. */
function update(port: FlashPort, layout: FlashLayout, runningLabel: string, image: Uint8Array, rollback: boolean): void {
  const table = tableOf(port, layout);
  const running = bySlot(table, runningLabel);
  const target = chooseTarget(table, running);
  const forbidden = protectedRegions(layout.partitionTable.offset, running);
  preflightImage(image.subarray(0, IMAGE_PREFLIGHT_BYTES), "esp32", target.size, image.length, "espruino");
  const slotGuard = new GuardedFlash(port, { chipSize: layout.flash.size, allowed: [target], forbidden });
  const writer = SlotWriter(slotGuard, nodeBytes, jsMd5.create(), target.offset, image.length, 0);
  for (let at = 0; at < image.length; at += CHUNK) writer.append(Buffer.from(image.subarray(at, Math.min(at + CHUNK, image.length))).toString("latin1"));
  const check = new ImageVerifier(true);
  for (let at = 0; at < image.length; at += 4096) check.feed(port.read(target.offset + at, Math.min(4096, image.length - at)), 0, Math.min(4096, image.length - at));
  check.verify();
  const ops = planSwitch(table, readOtadata(port, table.otadata!), target, rollback);
  applyFlashOps(new GuardedFlash(port, { chipSize: layout.flash.size, allowed: otadataRegions(ops), forbidden }), ops);
}

function otadataOnly(port: FlashPort, layout: FlashLayout, runningLabel: string, plan: (t: PartitionTable) => FlashOp[]): void {
  const table = tableOf(port, layout);
  const ops = plan(table);
  const forbidden = protectedRegions(layout.partitionTable.offset, bySlot(table, runningLabel));
  applyFlashOps(new GuardedFlash(port, { chipSize: layout.flash.size, allowed: otadataRegions(ops), forbidden }), ops);
}

interface Scenario {
  name: string;
  layout: FlashLayout;
  initial: Uint8Array;
  /** Slots that may be selected at any cut: the old (running) one and the new one. */
  old: string;
  next: string;
  run: (port: FlashPort) => void;
}

function scenarios(rollback: boolean): Scenario[] {
  const state = (seq: number): OtadataEntryInput => ({ seq, state: rollback ? OTA_VALID : undefined });
  const ab = (otadata: (OtadataEntryInput | null)[], apps: Record<string, Uint8Array>) => buildFlashImage(AB_4MB_LAYOUT, { apps, otadata });
  const stock = (otadata: (OtadataEntryInput | null)[], apps: Record<string, Uint8Array>) => buildFlashImage(STOCK_LAYOUT, { apps, otadata });
  // After an A/B update to ota_1 and its first boot (a rollback bootloader has made it PENDING_VERIFY).
  const afterAbUpdate = (() => {
    const nor = new NorFlash({ size: 0x400000, image: ab([state(1), null], { ota_0: V1 }) });
    update(nor.asPort(), AB_4MB_LAYOUT, "ota_0", V2, rollback);
    return simulateBoot(nor.bytes, { rollbackBootloader: rollback }).flash;
  })();
  return [
    {
      name: "A/B: ota_0 -> ota_1",
      layout: AB_4MB_LAYOUT,
      initial: ab([state(1), null], { ota_0: V1, ota_1: V3 }),
      old: "ota_0",
      next: "ota_1",
      run: (p) => update(p, AB_4MB_LAYOUT, "ota_0", V2, rollback),
    },
    {
      name: "A/B: ota_1 -> ota_0 (copy 0 active)",
      layout: AB_4MB_LAYOUT,
      initial: ab([state(3), state(2)], { ota_0: V1, ota_1: V2 }),
      old: "ota_0",
      next: "ota_1",
      run: (p) => update(p, AB_4MB_LAYOUT, "ota_0", V3, rollback),
    },
    {
      name: "A/B: switch back to ota_0 after a bad update",
      layout: AB_4MB_LAYOUT,
      initial: afterAbUpdate,
      old: "ota_1",
      next: "ota_0",
      run: (p) => otadataOnly(p, AB_4MB_LAYOUT, "ota_1", (t) => planSwitch(t, readOtadata(p, t.otadata!), t.ota[0], rollback, Ota.Valid)),
    },
    {
      name: "A/B: mark the new image valid",
      layout: AB_4MB_LAYOUT,
      initial: afterAbUpdate,
      old: "ota_0",
      next: "ota_1",
      run: (p) => otadataOnly(p, AB_4MB_LAYOUT, "ota_1", (t) => markState(t, readOtadata(p, t.otadata!), OTA_STATE_VALID)),
    },
    {
      name: "stock: factory -> ota_0",
      layout: STOCK_LAYOUT,
      initial: stock([null, null], { factory: V1 }),
      old: "factory",
      next: "ota_0",
      run: (p) => update(p, STOCK_LAYOUT, "factory", V2, rollback),
    },
    {
      name: "stock: ota_0 -> factory (copy 0 active)",
      layout: STOCK_LAYOUT,
      initial: stock([state(1), null], { factory: V1, ota_0: V2 }),
      old: "ota_0",
      next: "factory",
      run: (p) => update(p, STOCK_LAYOUT, "ota_0", V3, rollback),
    },
    {
      name: "stock: ota_0 -> factory (copy 1 active)",
      layout: STOCK_LAYOUT,
      initial: stock([state(1), state(2)], { factory: V1, ota_0: V2 }),
      old: "ota_0",
      next: "factory",
      run: (p) => update(p, STOCK_LAYOUT, "ota_0", V3, rollback),
    },
    {
      name: "stock: switch back from factory to ota_0",
      layout: STOCK_LAYOUT,
      initial: stock([null, null], { factory: V3, ota_0: V2 }),
      old: "factory",
      next: "ota_0",
      run: (p) => otadataOnly(p, STOCK_LAYOUT, "factory", (t) => planSwitch(t, readOtadata(p, t.otadata!), t.ota[0], rollback, Ota.Valid)),
    },
  ];
}

function assertBootsOldOrNew(s: Scenario, flash: Uint8Array, rollback: boolean, where: string): string {
  const boot = simulateBoot(flash, { rollbackBootloader: rollback, tableOffset: s.layout.partitionTable.offset });
  const label = boot.selected?.label;
  assert.ok(label === s.old || label === s.next, `${s.name}, ${where}: selected ${label}; ${boot.log.join("; ")}`);
  assert.ok(boot.selectedValid, `${s.name}, ${where}: ${label} does not hold a valid image; ${boot.log.join("; ")}`);
  assert.equal(boot.booted?.label, label);
  return label!;
}

for (const rollback of [false, true]) {
  test(`every cut during update, switch-back and mark-valid boots the old or the new image (rollback ${rollback})`, () => {
    for (const s of scenarios(rollback)) {
      // The full run: count the ops and check the end state boots the new slot.
      const full = new NorFlash({ size: s.layout.flash.size, image: s.initial });
      const counter = { ops: 0 };
      s.run(haltingPort(full.asPort(), null, counter));
      assert.deepEqual(full.violations, [], s.name);
      assert.equal(assertBootsOldOrNew(s, full.bytes, rollback, "completed"), s.next);
      assert.ok(counter.ops >= 1, s.name);
      assert.deepEqual(full.bytes.subarray(0, 0x9000), s.initial.subarray(0, 0x9000), s.name + ": bootloader and table untouched");

      for (let k = 0; k < counter.ops; k++) {
        // Clean cut between op k and op k+1.
        const nor = new NorFlash({ size: s.layout.flash.size, image: s.initial });
        assert.throws(() => s.run(haltingPort(nor.asPort(), k, { ops: 0 })), Halt);
        assertBootsOldOrNew(s, nor.bytes, rollback, `after ${k} ops`);
        // Cut in the middle of op k+1, with several ways of leaving it half done.
        for (let seed = 1; seed <= 3; seed++) {
          const mid = new NorFlash({ size: s.layout.flash.size, image: s.initial, seed: seed * 1000 + k });
          mid.cutPowerAfter(k + 1);
          assert.throws(() => s.run(mid.asPort()), PowerCutError);
          assertBootsOldOrNew(s, mid.bytes, rollback, `during op ${k + 1} (seed ${seed})`);
        }
      }
    }
  });
}

test("the switch itself is the last step: before it the old slot is selected, after it the new one", () => {
  for (const s of scenarios(false).filter((x) => x.name.includes("->"))) {
    const full = new NorFlash({ size: s.layout.flash.size, image: s.initial });
    const counter = { ops: 0 };
    s.run(haltingPort(full.asPort(), null, counter));
    const selections: string[] = [];
    for (let k = 0; k <= counter.ops; k++) {
      const nor = new NorFlash({ size: s.layout.flash.size, image: s.initial });
      try {
        s.run(haltingPort(nor.asPort(), k, { ops: 0 }));
      } catch (e) {
        if (!(e instanceof Halt)) throw e;
      }
      selections.push(simulateBoot(nor.bytes, { rollbackBootloader: false }).selected!.label);
    }
    const firstNew = selections.indexOf(s.next);
    assert.ok(firstNew > 0, s.name);
    assert.ok(selections.slice(firstNew).every((l) => l === s.next), s.name + ": never back to the old slot once switched");
    assert.ok(counter.ops - firstNew <= 0, s.name + ": only the very last op switches (" + (counter.ops - firstNew) + ")");
  }
});
