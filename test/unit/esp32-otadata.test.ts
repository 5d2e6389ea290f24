import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { parsePartitionTable, PartitionTable } from "../../src/core/esp32/partition-table";
import {
  activeCopy, applyFlashOps, chooseTarget, decodeOtaEntry, encodeOtaEntry, FlashOp, markState, OtaEntry, planSwitch,
  readOtadata, selectBootSlot, Ota,
  OTA_STATE_ABORTED, OTA_STATE_INVALID, OTA_STATE_NEW, OTA_STATE_PENDING_VERIFY, OTA_STATE_UNDEFINED, OTA_STATE_VALID,
} from "../../src/core/esp32/otadata";
import { otaSeqCrc } from "../../src/core/esp32/crc32";
import { buildPartitionTable } from "../../src/host/image/partition-table-builder";
import { encodeOtadataEntry } from "../../src/host/image/otadata-entry";
import { AB_4MB_LAYOUT, STOCK_LAYOUT } from "../../src/host/image/layouts";
import type { FlashLayout } from "../../src/host/image/flash-image";
import { NorFlash } from "../../src/host/runtime/nor-flash";

const md5 = (d: Uint8Array) => new Uint8Array(createHash("md5").update(d).digest());
const hex = (s: string) => Uint8Array.from(s.trim().split(/\s+/).map((h) => parseInt(h, 16)));
const tableOf = (l: FlashLayout) => parsePartitionTable(buildPartitionTable(l.partitionTable.partitions), md5, l.flash.size);
const entry = (seq: number, state = OTA_STATE_UNDEFINED): OtaEntry => ({ seq, state, crc: otaSeqCrc(seq) });
const BLANK: OtaEntry = { seq: 0xffffffff, state: 0xffffffff, crc: 0xffffffff };

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? "no code";
  }
  return "no error";
}

/** Applies ops to an in-memory pair of copies, the way the flash would end up. */
function applyToCopies(t: PartitionTable, copies: OtaEntry[], ops: FlashOp[]): OtaEntry[] {
  const flash = new NorFlash({ size: 0x400000 });
  for (let c = 0; c < 2; c++) {
    if (copies[c] !== BLANK) flash.bytes.set(encodeOtaEntry(copies[c].seq, copies[c].state), t.otadata!.offset + c * 0x1000);
    flash.bytes.set(new Uint8Array(new Uint32Array([copies[c].crc]).buffer), t.otadata!.offset + c * 0x1000 + 28);
  }
  applyFlashOps(flash.asPort(), ops);
  assert.deepEqual(flash.violations, []);
  return readOtadata(flash.asPort(), t.otadata!);
}

// docs/esp32-formats.md#otadata-after-two-updates: sector 0 and sector 1 after two updates (ota_0 then ota_1), rollback off.
const COPY0_6_1 = hex("01 00 00 00 ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff 9a 98 43 47");
const COPY1_6_1 = hex("02 00 00 00 ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff 74 37 f6 55");

test("entries encode to the otadata-after-two-updates bytes (device and host encoders)", () => {
  assert.deepEqual(encodeOtaEntry(1, OTA_STATE_UNDEFINED), COPY0_6_1);
  assert.deepEqual(encodeOtaEntry(2, OTA_STATE_UNDEFINED), COPY1_6_1);
  assert.deepEqual(encodeOtadataEntry({ seq: 1 }), COPY0_6_1);
  assert.deepEqual(encodeOtadataEntry({ seq: 2 }), COPY1_6_1);
  const states = [OTA_STATE_NEW, OTA_STATE_PENDING_VERIFY, OTA_STATE_VALID, OTA_STATE_INVALID, OTA_STATE_ABORTED];
  states.forEach((st, i) => {
    const b = encodeOtaEntry(2, st);
    assert.deepEqual(b.subarray(24), hex(`0${i} 00 00 00 74 37 f6 55`));
  });
});

test("the 6.1 state selects ota_1; the next switch to ota_0 writes seq 3 into copy 0", () => {
  const t = tableOf(AB_4MB_LAYOUT);
  const copies = [decodeOtaEntry(COPY0_6_1, 0), decodeOtaEntry(COPY1_6_1, 0)];
  assert.deepEqual(copies[1], { seq: 2, state: OTA_STATE_UNDEFINED, crc: 0x55f63774 });
  const slot = selectBootSlot(t, copies);
  assert.equal(slot.partition.label, "ota_1");
  assert.equal(slot.copy, 1);
  const ops = planSwitch(t, copies, t.ota[0], false);
  const seqWrite = ops[ops.length - 1];
  assert.equal(ops[0].kind, "erase");
  assert.equal(ops[0].offset, 0xd000);
  assert.ok(seqWrite.kind === "write" && seqWrite.offset === 0xd000);
  const after = applyToCopies(t, copies, ops);
  assert.deepEqual(after[0], { seq: 3, state: OTA_STATE_UNDEFINED, crc: 0xed4a5011 });
  assert.deepEqual(after[1], copies[1]);
});

test("the IDF <= 5.5 sequence: erased, ota_0, ota_1, ota_0, ota_1 gives seqs 1, 2, 3, 4 in alternating copies", () => {
  const t = tableOf(AB_4MB_LAYOUT);
  let copies = [BLANK, BLANK];
  const expect = [
    [0, 1],
    [1, 2],
    [0, 3],
    [1, 4],
  ];
  [0, 1, 0, 1].forEach((slot, i) => {
    copies = applyToCopies(t, copies, planSwitch(t, copies, t.ota[slot], false));
    const [copy, seq] = expect[i];
    assert.equal(copies[copy].seq, seq, "step " + i);
    assert.equal(activeCopy(copies), copy);
    assert.equal(selectBootSlot(t, copies).otaIndex, slot);
  });
});

test("selection rules: tie goes to copy 0, invalid states and bad CRCs are ignored, seq 0 wraps", () => {
  const t = tableOf(AB_4MB_LAYOUT);
  assert.equal(selectBootSlot(t, [entry(3), entry(3)]).copy, 0);
  assert.equal(selectBootSlot(t, [entry(2), entry(5, OTA_STATE_INVALID)]).partition.label, "ota_1");
  assert.equal(selectBootSlot(t, [entry(2), entry(5, OTA_STATE_ABORTED)]).copy, 0);
  assert.equal(selectBootSlot(t, [{ seq: 7, state: OTA_STATE_VALID, crc: 1 }, entry(2)]).copy, 1);
  assert.equal(selectBootSlot(t, [entry(0), BLANK]).partition.label, "ota_1", "(0 - 1) mod 2 as unsigned 32-bit");
  assert.equal(selectBootSlot(t, [BLANK, BLANK]).partition.label, "ota_0", "no factory: ota_0");
  const stock = tableOf(STOCK_LAYOUT);
  assert.equal(selectBootSlot(stock, [BLANK, BLANK]).partition.label, "factory");
  assert.equal(selectBootSlot(stock, [entry(9), BLANK]).partition.label, "ota_0");
});

test("a rollback bootloader treats PENDING_VERIFY as ABORTED", () => {
  const t = tableOf(AB_4MB_LAYOUT);
  const copies = [entry(1, OTA_STATE_VALID), entry(2, OTA_STATE_PENDING_VERIFY)];
  assert.equal(selectBootSlot(t, copies).partition.label, "ota_1");
  assert.equal(selectBootSlot(t, copies, true).partition.label, "ota_0");
  assert.equal(selectBootSlot(t, [entry(1, OTA_STATE_NEW), BLANK], true).partition.label, "ota_0");
});

test("planSwitch never writes seq 0 nor the active seq", () => {
  const t = tableOf(AB_4MB_LAYOUT);
  // Active seq 0 (valid CRC, maps to ota_1); the IDF formula for ota_1 would give 0.
  let after = applyToCopies(t, [entry(0), BLANK], planSwitch(t, [entry(0), BLANK], t.ota[1], false));
  assert.equal(after[1].seq, 2);
  assert.equal(selectBootSlot(t, after).partition.label, "ota_1");
  // Switching to the slot that is already active: IDF <= 5.5 would write an equal seq.
  after = applyToCopies(t, [BLANK, entry(4)], planSwitch(t, [BLANK, entry(4)], t.ota[1], true));
  assert.deepEqual(after[0], entry(6, OTA_STATE_NEW));
  assert.equal(selectBootSlot(t, after).copy, 0);
});

test("a seq that cannot grow restarts low in the inactive copy, then the active copy is erased", () => {
  const t = tableOf(AB_4MB_LAYOUT);
  const copies = [entry(0xfffffffe), entry(7)];
  const ops = planSwitch(t, copies, t.ota[0], false);
  assert.deepEqual(ops.map((o) => [o.kind, o.offset]), [["erase", 0xe000], ["write", 0xe004], ["write", 0xe000], ["erase", 0xd000]]);
  const beforeLast = applyToCopies(t, copies, ops.slice(0, 3));
  assert.deepEqual(beforeLast[1], entry(1));
  assert.equal(selectBootSlot(t, beforeLast).partition.label, "ota_1", "old slot until the last erase");
  const after = applyToCopies(t, copies, ops);
  assert.equal(selectBootSlot(t, after).partition.label, "ota_0");
});

test("planSwitch and chooseTarget refuse slots that are not in the table", () => {
  const t = tableOf(AB_4MB_LAYOUT);
  const stranger = { label: "x", type: 0, subtype: 0x10, offset: 0x3f0000, size: 0x10000, flags: 0 };
  assert.equal(codeOf(() => planSwitch(t, [BLANK, BLANK], stranger, false)), "PT_NO_TARGET");
  assert.equal(codeOf(() => chooseTarget(t, stranger)), "PT_NO_TARGET");
});

test("writes put seq last: until the final write the entry reads as empty", () => {
  const t = tableOf(AB_4MB_LAYOUT);
  const ops = planSwitch(t, [entry(1), BLANK], t.ota[1], false);
  assert.deepEqual(
    ops.map((o) => [o.kind, o.offset, o.kind === "write" ? o.data.length : 0]),
    [
      ["erase", 0xe000, 0],
      ["write", 0xe004, 28],
      ["write", 0xe000, 4],
    ],
  );
  const partial = applyToCopies(t, [entry(1), BLANK], ops.slice(0, 2));
  assert.equal(partial[1].seq, 0xffffffff);
  assert.equal(selectBootSlot(t, partial).partition.label, "ota_0");
});

test("factory target (stock layout): erase the copy that does not decide first, then the active one", () => {
  const t = tableOf(STOCK_LAYOUT);
  for (const [copies, order] of [
    [[entry(1), entry(2)], [0xc000, 0xd000]],
    [[entry(5), entry(2)], [0xd000, 0xc000]],
    [[entry(5), BLANK], [0xc000]],
  ] as [OtaEntry[], number[]][]) {
    const ops = planSwitch(t, copies, t.factory!, false);
    assert.deepEqual(ops.map((o) => (o.kind === "erase" ? o.offset : -1)), order);
    const mid = applyToCopies(t, copies, ops.slice(0, 1));
    assert.equal(selectBootSlot(t, mid).partition.label, order.length > 1 ? "ota_0" : "factory");
    assert.equal(selectBootSlot(t, applyToCopies(t, copies, ops)).partition.label, "factory");
  }
  assert.deepEqual(planSwitch(t, [BLANK, BLANK], t.factory!, false), []);
  assert.equal(codeOf(() => planSwitch(tableOf(AB_4MB_LAYOUT), [BLANK, BLANK], t.factory!, false)), "PT_NO_TARGET");
});

test("a table without OTA slots boots factory whatever otadata holds; planning still uses the active copy", () => {
  const t = parsePartitionTable(
    buildPartitionTable([
      { label: "otadata", type: "data", subtype: "ota", offset: 0xc000, size: 0x2000 },
      { label: "factory", type: "app", subtype: "factory", offset: 0x10000, size: 0x100000 },
    ]),
    md5,
    0x400000,
  );
  const copies = [entry(5), entry(2)];
  assert.deepEqual(selectBootSlot(t, copies), { partition: t.factory, otaIndex: -1, copy: -1, active: 0 });
  // The active copy (0) is erased last and rewritten in place, as on a table with OTA slots.
  assert.deepEqual(planSwitch(t, copies, t.factory!, false).map((o) => o.offset), [0xd000, 0xc000]);
  const ops = markState(t, copies, OTA_STATE_VALID);
  assert.deepEqual(ops.map((o) => o.kind + " " + o.offset.toString(16)), ["erase c000", "write c004", "write c000"]);
  assert.deepEqual(applyToCopies(t, copies, ops)[0], entry(5, OTA_STATE_VALID));
});

test("chooseTarget never returns the running slot", () => {
  const ab = tableOf(AB_4MB_LAYOUT);
  assert.equal(chooseTarget(ab, ab.ota[0]).label, "ota_1");
  assert.equal(chooseTarget(ab, ab.ota[1]).label, "ota_0");
  const stock = tableOf(STOCK_LAYOUT);
  assert.equal(chooseTarget(stock, stock.factory!).label, "ota_0");
  assert.equal(chooseTarget(stock, stock.ota[0]).label, "factory");
  const three = parsePartitionTable(
    buildPartitionTable([
      { label: "otadata", type: "data", subtype: "ota", offset: 0xd000, size: 0x2000 },
      { label: "factory", type: "app", subtype: "factory", offset: 0x10000, size: 0x100000 },
      { label: "ota_0", type: "app", subtype: "ota_0", offset: 0x110000, size: 0x100000 },
      { label: "ota_1", type: "app", subtype: "ota_1", offset: 0x210000, size: 0x100000 },
    ]),
    md5,
    0x400000,
  );
  assert.equal(chooseTarget(three, three.factory!).label, "ota_0");
  assert.equal(chooseTarget(three, three.ota[0]).label, "ota_1");
  assert.equal(chooseTarget(three, three.ota[1]).label, "ota_0");
  const single = parsePartitionTable(
    buildPartitionTable([
      { label: "otadata", type: "data", subtype: "ota", offset: 0xd000, size: 0x2000 },
      { label: "ota_0", type: "app", subtype: "ota_0", offset: 0x10000, size: 0x100000 },
    ]),
    md5,
    0x400000,
  );
  assert.equal(codeOf(() => chooseTarget(single, single.ota[0])), "PT_NO_TARGET");
});

test("markState rewrites the active copy in place; the rollback (planSwitch with Ota.Valid) writes a non-trial entry", () => {
  const t = tableOf(AB_4MB_LAYOUT);
  const copies = [entry(1, OTA_STATE_VALID), entry(2, OTA_STATE_PENDING_VERIFY)];
  const valid = markState(t, copies, OTA_STATE_VALID);
  assert.equal(valid[0].offset, 0xe000);
  assert.deepEqual(applyToCopies(t, copies, valid), [copies[0], entry(2, OTA_STATE_VALID)]);
  assert.deepEqual(markState(t, [entry(1, OTA_STATE_VALID), BLANK], OTA_STATE_VALID), []);
  const invalid = applyToCopies(t, copies, markState(t, copies, OTA_STATE_INVALID));
  assert.equal(selectBootSlot(t, invalid).partition.label, "ota_0");
  assert.equal(codeOf(() => markState(t, [BLANK, BLANK], OTA_STATE_VALID)), "OTADATA_STATE");

  const back = applyToCopies(t, copies, planSwitch(t, copies, t.ota[0], true, Ota.Valid));
  assert.deepEqual(back[0], entry(3, OTA_STATE_VALID));
  assert.equal(selectBootSlot(t, back, true).partition.label, "ota_0");
  const backNoRollback = applyToCopies(t, copies, planSwitch(t, copies, t.ota[0], false, Ota.Valid));
  assert.equal(backNoRollback[0].state, OTA_STATE_UNDEFINED);
});
