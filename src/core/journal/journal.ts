// Append-only journal of small records in a raw NOR flash region, safe against power cuts.
//
// The region is S >= 2 sectors of 4096 bytes, each holding 16 fixed 256-byte slots (record.ts).
// Records go into slots in order; when a sector is full the journal moves to the next sector
// (cyclically), erases it and continues there. The sector after the current one always holds
// the OLDEST records, so the sector with the newest valid record is never erased before a newer
// record is durable in another sector, and a cut during that erase leaves the newest record
// untouched. The newest valid record (highest sequence number) is the journal's content.
//
// Power cuts: a torn body or a missing commit word makes a slot invalid (record.ts), so load()
// falls back to the previous record, which is the last append that returned. Any slot that is
// not all 0xFF is skipped by append(), never programmed over, so a torn write is never "fixed
// up" into a record that mixes two writes. A half-erased sector is just more invalid slots.
//
// Wear: one sector erase buys 16 slots, so erases = appends / 16 (+1 for the first sector of a
// fresh or junk-filled region, +1 per torn slot skipped after a power cut, at most). Appending
// once per 64 KB downloaded is 16 appends per MiB = 1 erase per MiB; an update also appends a
// handful of phase changes (downloading, verified, switching, trial boots, done: well under 32),
// worth at most 2 more erases. For an update of M >= 1 MiB that is at most M + 3 <= 4 * M
// erases, within the budget of 4 sector erases per MiB downloaded.
//
// Memory (Espruino): one constructor whose closure holds the few numbers the journal needs (no
// fields, no stats) and two functions; clear() is append() without a payload.

import { FlashPort } from "../ports";
import { otaError } from "../errors";
import { u32le, putU32le } from "../le";
import { Rec, encodeRecordBody, decodeRecord } from "./record";

export const SECTOR_SIZE = 4096;
export const SLOTS_PER_SECTOR = 16;

export interface JournalRegion {
  /** Flash offset of the first sector (4096-aligned). */
  offset: number;
  /** Whole sectors, at least 2. */
  size: number;
}

export interface Journal {
  /**
   * Payload of the newest valid record, or null when the journal is empty, was cleared, or its
   * newest record is of a format this code cannot read (never an older record in that case:
   * after a downgrade a stale record must not come back).
   */
  load(): Uint8Array | null;
  /**
   * Durably stores `payload` (<= 236 bytes) as the new content. Throws JOURNAL_STATE for a longer
   * payload (before touching flash), JOURNAL_WRITE if the flash refuses it. Without a payload it is
   * clear().
   */
  append(payload?: Uint8Array): void;
  /**
   * Makes load() return null. It appends a "cleared" record instead of erasing: a cut before the
   * record commits leaves the old state, a cut after leaves null, and there is no erase order
   * that could expose an older state. Nothing is written when the journal already reads empty.
   */
  clear(): void;
}

/** `new Journal(flash, region)`; throws BOARD_INVALID unless the region is >= 2 whole sectors. */
export const Journal = function (flash: FlashPort, region: JournalRegion): Journal {
  const base = region ? region.offset : NaN;
  const size = region ? region.size : NaN;
  if (!(base >= 0) || base % 4096 !== 0 || !(size >= 8192) || size % 4096 !== 0) {
    throw otaError("BOARD_INVALID", "journal region must be >= 2 whole 4096-byte sectors, got " + JSON.stringify(region));
  }
  const slots = size >> 8;
  /** Slot index (over the whole region) of the newest valid record; -1 if none, -2 before the first scan. */
  let head = -2;
  /** Its sequence number (-1 if none). */
  let seq = -1;
  /** True when load() reads null because there is no record or the newest one is a clear record. */
  let empty = true;

  /**
   * Finds the newest valid record and remembers where it is. Each pass reads magic, commit word and
   * sequence of every slot (two tiny reads each, no CRC) and picks the best candidate below the one
   * that failed last (ordered by sequence, then slot), then checks its CRC: normally only one record
   * pays for it (CRC in JS is slow on the device), and no per-slot table is kept in RAM.
   */
  function load(): Uint8Array | null {
    let failedSeq = -1;
    let failedSlot = -1;
    for (;;) {
      let best = -1;
      let bestSeq = -1;
      for (let i = 0; i < slots; i++) {
        const addr = base + i * Rec.Size;
        const h = flash.read(addr, Rec.Header);
        if (u32le(h, 0) !== Rec.Magic || u32le(flash.read(addr + Rec.Commit, 4), 0) !== Rec.CommitWord) continue;
        const q = u32le(h, 8);
        if (failedSlot >= 0 && (q > failedSeq || (q === failedSeq && i <= failedSlot))) continue;
        if (q > bestSeq) {
          best = i;
          bestSeq = q;
        }
      }
      head = best;
      seq = bestSeq;
      empty = true;
      if (best < 0) return null;
      const rec = decodeRecord(flash.read(base + best * Rec.Size, Rec.Size));
      if (rec && rec.seq === bestSeq) {
        const ours = rec.format === Rec.Format;
        empty = ours && rec.kind === Rec.Clear;
        return ours && rec.kind === Rec.State && rec.length <= Rec.PayloadMax ? rec.payload : null;
      }
      failedSeq = bestSeq;
      failedSlot = best;
    }
  }

  /**
   * Writes one record into the next programmable slot after the head. It may move into the next
   * sector (erasing it) at most once per call: with >= 2 sectors that can never be the head's own
   * sector, whatever the flash does.
   */
  function append(payload?: Uint8Array): void {
    if (payload && payload.length > Rec.PayloadMax) {
      throw otaError("JOURNAL_STATE", "payload must be at most " + Rec.PayloadMax + " bytes");
    }
    if (head < -1) load();
    if (!payload && empty) return;
    const kind = payload ? Rec.State : Rec.Clear;
    const data = payload || new Uint8Array(0);
    // An empty (or junk-only) region starts as if the last slot were the head, so the first
    // record goes to a freshly erased sector 0 rather than into slots of unknown history.
    let slot = head < 0 ? slots - 1 : head;
    let next = seq;
    let moved = false;
    const commit = new Uint8Array(4);
    putU32le(commit, 0, Rec.CommitWord);
    for (;;) {
      slot = (slot + 1) % slots;
      const addr = base + slot * Rec.Size;
      if (slot % 16 === 0) {
        // first slot of a sector (SLOTS_PER_SECTOR)
        if (moved) throw otaError("JOURNAL_WRITE", "no programmable slot in two sectors");
        moved = true;
        flash.eraseSector(addr);
      }
      const old = flash.read(addr, Rec.Size);
      let i = 0;
      while (i < Rec.Size && old[i] === 255) i++;
      if (i < Rec.Size) continue; // not erased: never program over it
      if (next >= 4294967295) throw otaError("JOURNAL_WRITE", "sequence numbers exhausted");
      // A fresh sequence number per attempt: a slot that failed read-back might still hold a
      // valid record, and two valid records must never share a sequence number.
      next++;
      // Body first, then the commit word, each read back before going on.
      const body = encodeRecordBody(next, kind, data);
      let step = 0;
      for (; step < 2; step++) {
        const bytes = step ? commit : body;
        const at = step ? addr + Rec.Commit : addr;
        flash.write(at, bytes);
        const back = flash.read(at, bytes.length);
        i = 0;
        while (i < bytes.length && back[i] === bytes[i]) i++;
        if (i < bytes.length) break;
      }
      if (step < 2) continue;
      head = slot;
      seq = next;
      empty = kind === Rec.Clear;
      return;
    }
  }

  return { load: load, append: append, clear: append };
} as unknown as { new (flash: FlashPort, region: JournalRegion): Journal };
