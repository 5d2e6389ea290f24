// The otadata partition: two 32-byte esp_ota_select_entry_t copies, one per 4 KB sector
// (docs/esp32-formats.md#otadata). This module decides what to write so that the stock ESP-IDF
// bootloader boots a chosen slot, and orders the writes so that a power cut at any point
// leaves a state in which the bootloader still boots either the old or the new image.

import { FlashPort } from "../ports";
import { otaError } from "../errors";
import { u32le, putU32le } from "./bytes";
import { otaSeqCrc } from "./crc32";
import { Partition, PartitionTable, SECTOR_SIZE } from "./partition-table";

export const OTA_STATE_NEW = 0;
export const OTA_STATE_PENDING_VERIFY = 1;
export const OTA_STATE_VALID = 2;
export const OTA_STATE_INVALID = 3;
export const OTA_STATE_ABORTED = 4;
export const OTA_STATE_UNDEFINED = 0xffffffff;

const SEQ_EMPTY = 0xffffffff;
export const OTADATA_ENTRY_SIZE = 32;

export interface OtaEntry {
  seq: number;
  state: number;
  crc: number;
}

export type FlashOp = { kind: "erase"; offset: number } | { kind: "write"; offset: number; data: Uint8Array };

/** Where the bootloader will go. `copy` is the otadata copy that decided it (-1: none did). */
export interface BootSlot {
  partition: Partition;
  /** -1 for factory. */
  otaIndex: number;
  copy: number;
}

export function decodeOtaEntry(b: Uint8Array, off: number): OtaEntry {
  return { seq: u32le(b, off), state: u32le(b, off + 24), crc: u32le(b, off + 28) };
}

/** 32 bytes: seq, 20 label bytes left erased (0xFF), state, crc of seq. */
export function encodeOtaEntry(seq: number, state: number): Uint8Array {
  const b = new Uint8Array(OTADATA_ENTRY_SIZE);
  b.fill(0xff);
  putU32le(b, 0, seq);
  putU32le(b, 24, state);
  putU32le(b, 28, otaSeqCrc(seq));
  return b;
}

export function copyOffset(otadata: Partition, copy: number): number {
  return otadata.offset + copy * SECTOR_SIZE;
}

export function readOtadata(flash: FlashPort, part: Partition): OtaEntry[] {
  return [decodeOtaEntry(flash.read(copyOffset(part, 0), OTADATA_ENTRY_SIZE), 0), decodeOtaEntry(flash.read(copyOffset(part, 1), OTADATA_ENTRY_SIZE), 0)];
}

/** bootloader_common_ota_select_valid (IDF >= 3.3): not empty, not INVALID/ABORTED, CRC of seq matches. */
export function isEntryValid(e: OtaEntry): boolean {
  return e.seq !== SEQ_EMPTY && e.state !== OTA_STATE_INVALID && e.state !== OTA_STATE_ABORTED && e.crc === otaSeqCrc(e.seq);
}

/** bootloader_common_get_active_otadata: the valid copy with the larger seq, copy 0 on a tie, -1 if none. */
export function activeCopy(copies: OtaEntry[]): number {
  const v0 = isEntryValid(copies[0]);
  const v1 = isEntryValid(copies[1]);
  if (v0 && v1) return copies[0].seq >= copies[1].seq ? 0 : 1;
  return v0 ? 0 : v1 ? 1 : -1;
}

function slotForSeq(seq: number, count: number): number {
  // Unsigned 32-bit, as in C: seq 0 wraps to 0xFFFFFFFF.
  return ((seq - 1) >>> 0) % count;
}

function defaultSlot(table: PartitionTable): BootSlot {
  if (table.factory) return { partition: table.factory, otaIndex: -1, copy: -1 };
  return { partition: table.ota[0], otaIndex: 0, copy: -1 };
}

/**
 * The slot the bootloader selects from these otadata copies (before it verifies the image).
 * With `rollbackBootloader` the bootloader first turns PENDING_VERIFY into ABORTED, i.e. a
 * trial boot that never confirmed itself does not get another chance.
 */
export function selectBootSlot(table: PartitionTable, copies: OtaEntry[], rollbackBootloader?: boolean): BootSlot {
  const n = table.ota.length;
  if (!table.otadata || n === 0) return defaultSlot(table);
  let seen = copies;
  if (rollbackBootloader) {
    seen = [];
    for (let i = 0; i < 2; i++) {
      const e = copies[i];
      seen.push(e.state === OTA_STATE_PENDING_VERIFY ? { seq: e.seq, state: OTA_STATE_ABORTED, crc: e.crc } : e);
    }
  }
  const a = activeCopy(seen);
  if (a < 0) return defaultSlot(table);
  const index = slotForSeq(seen[a].seq, n);
  return { partition: table.ota[index], otaIndex: index, copy: a };
}

/**
 * Ops for one entry. Erase first (programming only clears bits); seq is programmed last
 * so that until the final 4-byte write the entry reads as empty (seq 0xFFFFFFFF), and a
 * half-programmed seq cannot match the CRC already written for the intended seq.
 */
function entryOps(offset: number, seq: number, state: number): FlashOp[] {
  const e = encodeOtaEntry(seq, state);
  return [
    { kind: "erase", offset: offset },
    { kind: "write", offset: offset + 4, data: e.subarray(4, OTADATA_ENTRY_SIZE) },
    { kind: "write", offset: offset, data: e.subarray(0, 4) },
  ];
}

function requireOtadata(table: PartitionTable): Partition {
  if (!table.otadata) throw otaError("PT_NO_OTADATA", "table has no otadata partition");
  return table.otadata;
}

/** Same slot, even when `p` is a copy (e.g. from a re-read of the table). */
function sameSlot(a: Partition | null, p: Partition): boolean {
  return !!a && a.offset === p.offset && a.size === p.size && a.type === p.type && a.subtype === p.subtype;
}

function otaIndexOf(table: PartitionTable, target: Partition): number {
  if (sameSlot(table.factory, target)) return -1;
  for (let i = 0; i < table.ota.length; i++) if (sameSlot(table.ota[i], target)) return i;
  throw otaError("PT_NO_TARGET", target.label + " is not a factory or OTA app slot of this table");
}

/**
 * The seq esp_rewrite_ota_data (IDF <= 5.5) would write for ota_N, moved on by whole
 * rounds when it would be 0 or equal to the active seq (both map to the right slot but
 * 0 is fragile and an equal seq leaves the choice to the tie rule).
 */
function nextSeq(activeSeq: number, index: number, count: number): number {
  const base = (index + 1) % count;
  let seq = activeSeq > base ? base + Math.ceil((activeSeq - base) / count) * count : base;
  if (seq === 0 || seq === activeSeq) seq += count;
  return seq;
}

function planWithState(table: PartitionTable, copies: OtaEntry[], target: Partition, state: number): FlashOp[] {
  const otadata = requireOtadata(table);
  const index = otaIndexOf(table, target);
  const a = activeCopy(copies);
  if (index < 0) {
    // Factory: ESP-IDF refuses it as an OTA target, but the bootloader boots factory when
    // no copy is valid. Erase the copy that does not decide the boot first, so the old
    // slot stays selected until the last erase.
    const ops: FlashOp[] = [];
    const order = a === 1 ? [0, 1] : [1, 0];
    for (let i = 0; i < 2; i++) {
      const c = order[i];
      const e = copies[c];
      if (e.seq !== SEQ_EMPTY || e.state !== OTA_STATE_UNDEFINED || e.crc !== SEQ_EMPTY) {
        ops.push({ kind: "erase", offset: copyOffset(otadata, c) });
      }
    }
    return ops;
  }
  if (a < 0) return entryOps(copyOffset(otadata, 0), index + 1, state);
  const seq = nextSeq(copies[a].seq, index, table.ota.length);
  if (seq < SEQ_EMPTY) return entryOps(copyOffset(otadata, 1 - a), seq, state);
  // No larger seq exists (0xFFFFFFFF means empty). Start the numbering again in the
  // inactive copy, which loses to the active copy until that one is erased last.
  const ops = entryOps(copyOffset(otadata, 1 - a), index + 1, state);
  ops.push({ kind: "erase", offset: copyOffset(otadata, a) });
  return ops;
}

/**
 * Flash ops that make the bootloader boot `target` (factory or ota_N) on the next reset.
 * An OTA target gets state NEW when the bootloader has rollback (it becomes
 * PENDING_VERIFY at the first boot and must be confirmed), else UNDEFINED.
 */
export function planSwitch(table: PartitionTable, copies: OtaEntry[], target: Partition, rollbackEnabled: boolean): FlashOp[] {
  return planWithState(table, copies, target, rollbackEnabled ? OTA_STATE_NEW : OTA_STATE_UNDEFINED);
}

/**
 * The agent's own rollback: boot `previous` again. Unlike planSwitch the entry is not a
 * trial (VALID with a rollback bootloader): the previous image already proved itself, and a
 * NEW entry that went unconfirmed would make the bootloader fall back to the bad image.
 */
export function switchBack(table: PartitionTable, copies: OtaEntry[], previous: Partition, rollbackEnabled: boolean): FlashOp[] {
  return planWithState(table, copies, previous, rollbackEnabled ? OTA_STATE_VALID : OTA_STATE_UNDEFINED);
}

/**
 * Rewrites the active copy in place with a new state, as esp_ota_mark_app_valid_cancel_rollback
 * and ..._invalid_rollback do. [] when the state is already set. Marking INVALID makes the
 * other copy (the previous slot) decide the next boot.
 */
export function markState(table: PartitionTable, copies: OtaEntry[], state: number): FlashOp[] {
  const otadata = requireOtadata(table);
  const a = activeCopy(copies);
  if (a < 0) throw otaError("OTADATA_STATE", "no valid otadata copy: running the default slot, nothing to mark");
  if (copies[a].state === state) return [];
  return entryOps(copyOffset(otadata, a), copies[a].seq, state);
}

/**
 * The slot to download into while `running` runs: never the running slot.
 * A/B: the next OTA slot after the running one (as esp_ota_get_next_update_partition).
 * factory + ota_0 only: from factory ota_0, from ota_0 factory (made bootable by erasing otadata).
 */
export function chooseTarget(table: PartitionTable, running: Partition): Partition {
  const n = table.ota.length;
  const index = otaIndexOf(table, running);
  if (n === 0) throw otaError("PT_NO_TARGET", "no OTA slot to write");
  if (index < 0) return table.ota[0];
  if (n === 1) {
    if (table.factory) return table.factory;
    throw otaError("PT_NO_TARGET", "only ota_0 and it is running");
  }
  return table.ota[(index + 1) % n];
}

/** Executes ops in order on any FlashPort (a GuardedFlash in the agent). */
export function applyFlashOps(flash: FlashPort, ops: FlashOp[]): void {
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    if (op.kind === "erase") flash.eraseSector(op.offset);
    else flash.write(op.offset, op.data);
  }
}
