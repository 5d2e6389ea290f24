// The otadata partition: two 32-byte esp_ota_select_entry_t copies, one per 4 KB sector
// (docs/esp32-formats.md#otadata). This module decides what to write so that the stock ESP-IDF
// bootloader boots a chosen slot, and orders the writes so that a power cut at any point
// leaves a state in which the bootloader still boots either the old or the new image.
//
// Memory (Espruino): the device bundle holds readOtadata, selectBootSlot (which also finds the
// active copy), chooseTarget and planSwitch (which also plans the agent's rollback, given Ota.Valid,
// and markState); small helpers are written out where they are used, numbers come from a
// const enum (inlined), and the remaining exports serve host tools and tests only.

import { FlashPort } from "../ports";
import { otaError } from "../errors";
import { u32le, putU32le } from "./bytes";
import { crc32Update, otaSeqCrc } from "./crc32";
import { Partition, PartitionTable, PT } from "./partition-table";

/** Inlined by the compiler: no constant lives in RAM on the device. */
export const enum Ota {
  New = 0,
  PendingVerify = 1,
  Valid = 2,
  Invalid = 3,
  Aborted = 4,
  Undefined = 0xffffffff,
  /** An erased seq: the copy is empty. */
  Empty = 0xffffffff,
  EntrySize = 32,
}

export const OTA_STATE_NEW = 0;
export const OTA_STATE_PENDING_VERIFY = 1;
export const OTA_STATE_VALID = 2;
export const OTA_STATE_INVALID = 3;
export const OTA_STATE_ABORTED = 4;
export const OTA_STATE_UNDEFINED = 0xffffffff;

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
  /**
   * The active copy (bootloader_common_get_active_otadata), -1 if none: the same as `copy` unless
   * the table has no OTA slot, where otadata decides nothing but planSwitch still rewrites it.
   */
  active: number;
}

/** One entry decoded from `b` at `off` (host tools and tests; readOtadata decodes inline). */
export function decodeOtaEntry(b: Uint8Array, off: number): OtaEntry {
  return { seq: u32le(b, off), state: u32le(b, off + 24), crc: u32le(b, off + 28) };
}

/**
 * 32 bytes: seq, 20 label bytes left erased (0xFF), state, crc of seq (host tools and tests;
 * planSwitch builds the same bytes inline).
 */
export function encodeOtaEntry(seq: number, state: number): Uint8Array {
  const b = new Uint8Array(Ota.EntrySize);
  b.fill(0xff);
  putU32le(b, 0, seq);
  putU32le(b, 24, state);
  putU32le(b, 28, otaSeqCrc(seq));
  return b;
}

export function copyOffset(otadata: Partition, copy: number): number {
  return otadata.offset + copy * PT.Sector;
}

export function readOtadata(flash: FlashPort, part: Partition): OtaEntry[] {
  const copies: OtaEntry[] = [];
  for (let c = 0; c < 2; c++) {
    const b = flash.read(part.offset + c * PT.Sector, Ota.EntrySize);
    copies.push({ seq: u32le(b, 0), state: u32le(b, 24), crc: u32le(b, 28) });
  }
  return copies;
}

/**
 * The slot the bootloader selects from these otadata copies (before it verifies the image).
 * With `rollbackBootloader` the bootloader first turns PENDING_VERIFY into ABORTED, i.e. a
 * trial boot that never confirmed itself does not get another chance.
 *
 * The active copy (bootloader_common_get_active_otadata) is the valid copy with the larger seq,
 * copy 0 on a tie. Valid (bootloader_common_ota_select_valid, IDF >= 3.3): not empty, not
 * INVALID/ABORTED, CRC of seq matches. Worked out here only, planSwitch included (one function
 * fewer on the device).
 */
export function selectBootSlot(table: PartitionTable, copies: OtaEntry[], rollbackBootloader?: boolean): BootSlot {
  const n = table.ota.length;
  let a = -1;
  if (table.otadata) {
    const b = new Uint8Array(4);
    for (let i = 0; i < 2; i++) {
      const e = copies[i];
      putU32le(b, 0, e.seq);
      if (
        e.seq !== Ota.Empty &&
        e.state !== Ota.Invalid &&
        e.state !== Ota.Aborted &&
        !(rollbackBootloader && e.state === Ota.PendingVerify) &&
        e.crc === crc32Update(0xffffffff, b, 0, 4) &&
        (a < 0 || e.seq > copies[a].seq)
      ) a = i;
    }
  }
  // No copy decides (none valid, or no OTA slot): the bootloader's default, factory or else ota_0.
  if (a < 0 || n === 0) return table.factory ? { partition: table.factory, otaIndex: -1, copy: -1, active: a } : { partition: table.ota[0], otaIndex: 0, copy: -1, active: a };
  // Unsigned 32-bit, as in C: seq 0 wraps to 0xFFFFFFFF.
  const index = ((copies[a].seq - 1) >>> 0) % n;
  return { partition: table.ota[index], otaIndex: index, copy: a, active: a };
}

/** The active copy, -1 if none (host tools and tests; see selectBootSlot). */
export function activeCopy(copies: OtaEntry[]): number {
  const anyOtadata: Partition = { label: "otadata", type: PT.Data, subtype: PT.DataOta, offset: 0, size: 2 * PT.Sector, flags: 0 };
  return selectBootSlot({ partitions: [], factory: null, ota: [], test: null, otadata: anyOtadata, md5Checked: false }, copies).active;
}

/** bootloader_common_ota_select_valid for one entry (host tools and tests). */
export function isEntryValid(e: OtaEntry): boolean {
  return activeCopy([e, { seq: Ota.Empty, state: Ota.Undefined, crc: Ota.Empty }]) === 0;
}

/**
 * Flash ops that make the bootloader boot `target` (factory or ota_N) on the next reset.
 * An OTA target gets state NEW when the bootloader has rollback (it becomes
 * PENDING_VERIFY at the first boot and must be confirmed), else UNDEFINED.
 *
 * `state`, when given, is the state to write instead when the bootloader has rollback
 * (Ota.Valid: the agent's rollback to an image that already proved itself, so no trial: a NEW
 * entry that went unconfirmed would make the bootloader fall back to the bad image; without
 * rollback a target always gets UNDEFINED); a null `target`
 * with a `state` rewrites the active copy in place (markState). One planner, so the write
 * order below is the only one there is.
 */
export function planSwitch(table: PartitionTable, copies: OtaEntry[], target: Partition | null, rollbackEnabled: boolean, state?: number): FlashOp[] {
  const otadata = table.otadata;
  if (!otadata) throw otaError("PT_NO_OTADATA", "table has no otadata partition");
  if (state === undefined || (target && !rollbackEnabled)) state = rollbackEnabled ? Ota.New : Ota.Undefined;
  const a = selectBootSlot(table, copies, false).active;
  const ops: FlashOp[] = [];
  let copy = a;
  let seq = 0;
  let eraseActive = false;
  let i = 0;
  if (!target) {
    if (a < 0) throw otaError("OTADATA_STATE", "no valid otadata copy: running the default slot, nothing to mark");
    if (copies[a].state === state) return ops;
    seq = copies[a].seq;
  } else {
    // Same slot even when `target` is a copy (e.g. from a re-read of the table).
    const f = table.factory;
    let index = -2;
    if (f && f.offset === target.offset && f.size === target.size && f.type === target.type && f.subtype === target.subtype) index = -1;
    for (i = 0; index === -2 && i < table.ota.length; i++) {
      const p = table.ota[i];
      if (p.offset === target.offset && p.size === target.size && p.type === target.type && p.subtype === target.subtype) index = i;
    }
    if (index === -2) throw otaError("PT_NO_TARGET", target.label + " is not a factory or OTA app slot of this table");
    if (index === -1) {
      // Factory: ESP-IDF refuses it as an OTA target, but the bootloader boots factory when
      // no copy is valid. Erase the copy that does not decide the boot first, so the old
      // slot stays selected until the last erase.
      for (i = 0; i < 2; i++) {
        const c = a === 1 ? i : 1 - i;
        const e = copies[c];
        if (e.seq !== Ota.Empty || e.state !== Ota.Undefined || e.crc !== Ota.Empty) ops.push({ kind: "erase", offset: otadata.offset + c * PT.Sector });
      }
      return ops;
    }
    seq = index + 1;
    copy = 0;
    if (a >= 0) {
      copy = 1 - a;
      // The seq esp_rewrite_ota_data (IDF <= 5.5) would write for ota_N, moved on by whole
      // rounds when it would be 0 or equal to the active seq (both map to the right slot but
      // 0 is fragile and an equal seq leaves the choice to the tie rule).
      const n = table.ota.length;
      const activeSeq = copies[a].seq;
      const base = (index + 1) % n;
      seq = activeSeq > base ? base + Math.ceil((activeSeq - base) / n) * n : base;
      if (seq === 0 || seq === activeSeq) seq += n;
      if (seq >= Ota.Empty) {
        // No larger seq exists (0xFFFFFFFF means empty). Start the numbering again in the
        // inactive copy, which loses to the active copy until that one is erased last.
        seq = index + 1;
        eraseActive = true;
      }
    }
  }
  // The entry: erase first (programming only clears bits); seq is programmed last so that
  // until the final 4-byte write the entry reads as empty (seq 0xFFFFFFFF), and a
  // half-programmed seq cannot match the CRC already written for the intended seq.
  const e = new Uint8Array(Ota.EntrySize);
  e.fill(0xff);
  putU32le(e, 0, seq);
  putU32le(e, 24, state);
  putU32le(e, 28, crc32Update(0xffffffff, e, 0, 4));
  const at = otadata.offset + copy * PT.Sector;
  ops.push({ kind: "erase", offset: at }, { kind: "write", offset: at + 4, data: e.subarray(4, Ota.EntrySize) }, { kind: "write", offset: at, data: e.subarray(0, 4) });
  if (eraseActive) ops.push({ kind: "erase", offset: otadata.offset + a * PT.Sector });
  return ops;
}

/**
 * Rewrites the active copy in place with a new state, as esp_ota_mark_app_valid_cancel_rollback
 * and ..._invalid_rollback do. [] when the state is already set. Marking INVALID makes the
 * other copy (the previous slot) decide the next boot.
 */
export function markState(table: PartitionTable, copies: OtaEntry[], state: number): FlashOp[] {
  return planSwitch(table, copies, null, false, state);
}

/**
 * The slot to download into while `running` runs: never the running slot.
 * A/B: the next OTA slot after the running one (as esp_ota_get_next_update_partition).
 * factory + ota_0 only: from factory ota_0, from ota_0 factory (made bootable by erasing otadata).
 */
export function chooseTarget(table: PartitionTable, running: Partition): Partition {
  const n = table.ota.length;
  const f = table.factory;
  let index = -2;
  if (f && f.offset === running.offset && f.size === running.size && f.type === running.type && f.subtype === running.subtype) index = -1;
  for (let i = 0; index === -2 && i < n; i++) {
    const p = table.ota[i];
    if (p.offset === running.offset && p.size === running.size && p.type === running.type && p.subtype === running.subtype) index = i;
  }
  if (index === -2) throw otaError("PT_NO_TARGET", running.label + " is not a factory or OTA app slot of this table");
  if (n === 0) throw otaError("PT_NO_TARGET", "no OTA slot to write");
  if (index < 0) return table.ota[0];
  if (n === 1) {
    if (f) return f;
    throw otaError("PT_NO_TARGET", "only ota_0 and it is running");
  }
  return table.ota[(index + 1) % n];
}

/** Executes ops in order on any FlashPort (host tools and tests; the agent's loop is written out in agent.ts). */
export function applyFlashOps(flash: FlashPort, ops: FlashOp[]): void {
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    if (op.kind === "erase") flash.eraseSector(op.offset);
    else flash.write(op.offset, op.data);
  }
}
