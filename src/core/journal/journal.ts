// Append-only journal of small records in a raw NOR flash region, safe against power cuts.
//
// The region is S >= 2 sectors of 4096 bytes, each holding 16 fixed 256-byte slots (record.ts).
// Records go into slots in order; when a sector is full the journal moves to the next sector
// (cyclically), erases it and continues there. The sector after the current one always holds
// the OLDEST records, so the sector with the newest valid record is never erased before a newer
// record is durable in another sector, and a cut during that erase leaves the newest record
// untouched. The newest valid record (highest sequence number) is the journal's content.
//
// Progress notes (record.ts): append(payload, note) may store the 20-byte note instead of the
// whole payload, as a 32-byte entry in the slots after the newest state record, in that record's
// sector only. The caller promises that `payload` is the newest state amended by `note`, so either
// form reads back the same. Notes never cross into another sector: when the head's sector has no
// free entry left, the payload is appended as a record (in the next sector, which it erases), and
// the notes of the old sector are history. So a note is only ever read together with the record
// it amends, and its sequence number must match that record's too.
//
// Power cuts: a torn body or a missing commit word makes a slot invalid (record.ts), so load()
// falls back to the previous record, which is the last append that returned; a torn note fails
// its CRC and the previous note (or the record) is the newest. Any slot or note entry that is not
// all 0xFF is skipped, never programmed over, so a torn write is never "fixed up" into something
// that mixes two writes. A half-erased sector is just more invalid slots.
//
// Wear: one sector erase buys 16 slots; a sector that starts with a state record and fills with
// notes holds 1 + 15 * 8 = 121 appends. Noting every 3 KiB of a download (slot-writer.ts) is
// about 341 notes per MiB, 2.8 erases per MiB; an update also appends a handful of whole records (start,
// failed requests, phase changes: downloading, verified, switching, trial boots, done), each
// costing at most the rest of a sector. Within the budget of 4 sector erases per MiB downloaded.
//
// Memory (Espruino): load() and append() are module-level functions working on the journal
// object itself (`this`), which holds the few numbers they need under names of at most four
// characters (one JsVar each on the board); the constructor only checks the region and builds that
// object. clear() is append() without a payload. The record and note bytes are built and checked
// here inline (record.ts describes them and keeps coders for tests and host tools), so the device
// carries no function of record.ts.

import { FlashPort } from "../ports";
import { otaError } from "../errors";
import { le32 } from "../le";
import { Rec } from "./record";
import { crc32Update } from "../esp32/crc32";

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
   * The newest note amending the payload load() returned last (20 bytes), or null. Set by load().
   */
  note: Uint8Array | null;
  /**
   * Durably stores `payload` (<= 236 bytes) as the new content. Throws JOURNAL_STATE for a longer
   * payload (before touching flash), JOURNAL_WRITE if the flash refuses it. Without a payload or a
   * note it is clear(). With a `note` (20 bytes) the caller promises that `payload` is the current
   * content amended by `note`; the journal then stores only the note when it can (a progress note
   * after the current state record, in its sector), else the whole payload. A note without a
   * payload is stored only where a note can go: false (nothing written) when it cannot, and the
   * caller appends the whole payload instead. That is how the agent notes a download's progress
   * without encoding its whole state at every sector (memory at the update's peak).
   */
  append(payload?: Uint8Array, note?: Uint8Array): boolean;
  /**
   * Makes load() return null. It appends a "cleared" record instead of erasing: a cut before the
   * record commits leaves the old state, a cut after leaves null, and there is no erase order
   * that could expose an older state. Nothing is written when the journal already reads empty.
   */
  clear(): void;
}

/** What load() and append() keep between calls, on the journal object (not part of the API). */
interface JournalState extends Journal {
  /** The flash. */
  nor: FlashPort;
  /** Flash offset of the region. */
  base: number;
  /** Region size in bytes (size >> 8 slots). */
  size: number;
  /** Slot index (over the whole region) of the newest valid record; -1 if none, -2 before the first scan. */
  head: number;
  /** Its sequence number (-1 if none). */
  seq: number;
  /** True when load() reads null because there is no record or the newest one is a clear record. */
  none: boolean;
  /** Note entry index (32-byte units over the region) to try next; 0 when the head takes no notes. */
  spot: number;
}

/**
 * Finds the newest valid record and remembers where it is. Each pass reads magic, commit word and
 * sequence of every slot (two tiny reads each, no CRC) and picks the best candidate below the one
 * that failed last (ordered by sequence, then slot), then checks its CRC: normally only one record
 * pays for it (CRC in JS is slow on the device), and no per-slot table is kept in RAM. For a state
 * record it then reads the note entries after it, newest first, and checks CRCs only until one holds.
 */
function load(this: JournalState): Uint8Array | null {
  const flash = this.nor;
  const base = this.base;
  const slots = this.size >> 8;
  let failedSeq = -1;
  let failedSlot = -1;
  this.note = null;
  this.spot = 0;
  for (;;) {
    let best = -1;
    let bestSeq = -1;
    for (let i = 0; i < slots; i++) {
      const addr = base + i * Rec.Size;
      const h = flash.read(addr, Rec.Header);
      if (le32(h, 0) !== Rec.Magic || le32(flash.read(addr + Rec.Commit, 4), 0) !== Rec.CommitWord) continue;
      const q = le32(h, 8);
      if (failedSlot >= 0 && (q > failedSeq || (q === failedSeq && i <= failedSlot))) continue;
      if (q > bestSeq) {
        best = i;
        bestSeq = q;
      }
    }
    this.head = best;
    this.seq = bestSeq;
    this.none = true;
    if (best < 0) return null;
    // The whole slot: a record only with magic, commit word and CRC intact (record.ts).
    const rec = flash.read(base + best * Rec.Size, Rec.Size);
    if (le32(rec, 0) === Rec.Magic && le32(rec, Rec.Commit) === Rec.CommitWord && le32(rec, 8) === bestSeq && crc32Update(0, rec, 0, Rec.Crc) >>> 0 === le32(rec, Rec.Crc)) {
      // A CRC-valid record of another format keeps its place in the order but yields nothing.
      const length = rec[6] | (rec[7] << 8);
      const ours = rec[4] === Rec.Format;
      this.none = ours && rec[5] === Rec.Clear;
      if (!ours || rec[5] !== Rec.State || length > Rec.PayloadMax) return null;
      // Notes live from the next slot to the end of this record's sector; new ones go after
      // the last entry in use (byte 0 of a note is never 0xFF), even past an unused one.
      const first = (best + 1) * Rec.NotesPerSlot;
      let spot = 0;
      for (let e = ((best | 15) + 1) * Rec.NotesPerSlot - 1; e >= first; e--) {
        const n = flash.read(base + e * Rec.NoteSize, Rec.NoteSize);
        if (!spot && n[0] !== 255) spot = e + 1;
        if (le32(n, 0) === Rec.NoteMagic && le32(n, 4) === bestSeq && crc32Update(0, n, 0, Rec.NoteCrc) >>> 0 === le32(n, Rec.NoteCrc)) {
          this.note = new Uint8Array(n.subarray(8, Rec.NoteCrc));
          break;
        }
      }
      this.spot = spot || first;
      // a typed copy: on Espruino Uint8Array.slice returns a plain Array
      return new Uint8Array(rec.subarray(Rec.Header, Rec.Header + length));
    }
    failedSeq = bestSeq;
    failedSlot = best;
  }
}

/**
 * Writes one record into the next programmable slot after the head. It may move into the next
 * sector (erasing it) at most once per call: with >= 2 sectors that can never be the head's own
 * sector, whatever the flash does. With a note and a state record at the head, it first tries
 * the free note entries left in the head's sector.
 */
function append(this: JournalState, payload?: Uint8Array, note?: Uint8Array): boolean {
  if (payload && payload.length > Rec.PayloadMax) {
    throw otaError("JOURNAL_STATE", "payload must be at most " + Rec.PayloadMax + " bytes");
  }
  if (this.head < -1) this.load();
  const flash = this.nor;
  // A note goes to the free entries after the head's state record, in its sector only (spot > 0
  // only while the head is a state record of this format: load, or the last append). A loop of
  // its own with few locals: notes are written at the download's memory peak, and Espruino keeps
  // every local a function has run through until it returns.
  while (note && this.spot > 0 && this.spot < ((this.head | 15) + 1) * Rec.NotesPerSlot) {
    const at = this.base + this.spot++ * Rec.NoteSize;
    let e = flash.read(at, Rec.NoteSize);
    let i = 0;
    while (i < Rec.NoteSize && e[i] === 255) i++;
    if (i < Rec.NoteSize) continue; // not erased: never program over it
    e = new Uint8Array(Rec.NoteSize);
    le32(e, 0, Rec.NoteMagic);
    le32(e, 4, this.seq);
    e.set(note, 8);
    le32(e, Rec.NoteCrc, crc32Update(0, e, 0, Rec.NoteCrc));
    flash.write(at, e);
    const back = flash.read(at, Rec.NoteSize);
    i = 0;
    while (i < Rec.NoteSize && back[i] === e[i]) i++;
    if (i === Rec.NoteSize) return true;
  }
  if (!payload) {
    if (note) return false; // a note alone, and no entry left for it
    if (this.none) return true; // clear(): the journal already reads empty
  }
  const base = this.base;
  const slots = this.size >> 8;
  const kind = payload ? Rec.State : Rec.Clear;
  // An empty (or junk-only) region starts as if the last slot were the head, so the first
  // record goes to a freshly erased sector 0 rather than into slots of unknown history.
  let slot = this.head < 0 ? slots - 1 : this.head;
  let next = this.seq;
  let moved = false;
  for (;;) {
    slot = (slot + 1) % slots;
    const addr = base + slot * Rec.Size;
    if (slot % 16 === 0) {
      // first slot of a sector (SLOTS_PER_SECTOR)
      if (moved) throw otaError("JOURNAL_WRITE", "no programmable slot in two sectors");
      moved = true;
      flash.eraseSector(addr);
    }
    // Buffers are dropped as soon as they are checked: on the board a 256-byte one is ~20
    // JsVars (a record is written at the trial's memory peak).
    let old: Uint8Array | null = flash.read(addr, Rec.Size);
    let i = 0;
    while (i < Rec.Size && old[i] === 255) i++;
    old = null;
    if (i < Rec.Size) continue; // not erased: never program over it
    if (next >= 4294967295) throw otaError("JOURNAL_WRITE", "sequence numbers exhausted");
    // A fresh sequence number per attempt: a slot that failed read-back might still hold a
    // valid record, and two valid records must never share a sequence number.
    next++;
    // The record body (bytes 0..251: header, payload, zero padding, CRC) as record.ts lays it
    // out, then the commit word as a second write, each read back before going on.
    const body = new Uint8Array(Rec.Commit);
    const n = payload ? payload.length : 0;
    le32(body, 0, Rec.Magic);
    body[4] = Rec.Format;
    body[5] = kind;
    body[6] = n & 255;
    body[7] = n >> 8;
    le32(body, 8, next);
    if (payload) body.set(payload, Rec.Header);
    le32(body, Rec.Crc, crc32Update(0, body, 0, Rec.Crc));
    let step = 0;
    for (; step < 2; step++) {
      let bytes = body;
      if (step) {
        bytes = new Uint8Array(4);
        le32(bytes, 0, Rec.CommitWord);
      }
      const at = step ? addr + Rec.Commit : addr;
      flash.write(at, bytes);
      let back: Uint8Array | null = flash.read(at, bytes.length);
      i = 0;
      while (i < bytes.length && back[i] === bytes[i]) i++;
      back = null;
      if (i < bytes.length) break;
    }
    if (step < 2) continue;
    this.head = slot;
    this.seq = next;
    this.none = kind === Rec.Clear;
    this.spot = this.none ? 0 : (slot + 1) * Rec.NotesPerSlot;
    return true;
  }
}

/**
 * `Journal(flash, region)`; throws BOARD_INVALID unless the region is >= 2 whole sectors. A
 * factory, called without `new` on the board (a prototype would cost memory there).
 */
export const Journal = function (flash: FlashPort, region: JournalRegion): Journal {
  const base = region ? region.offset : NaN;
  const size = region ? region.size : NaN;
  if (!(base >= 0) || base % 4096 !== 0 || !(size >= 8192) || size % 4096 !== 0) {
    throw otaError("BOARD_INVALID", "journal region must be >= 2 whole 4096-byte sectors, got " + JSON.stringify(region));
  }
  const self: JournalState = { load: load, append: append, clear: append, note: null, nor: flash, base: base, size: size, head: -2, seq: -1, none: true, spot: 0 };
  return self;
} as { (flash: FlashPort, region: JournalRegion): Journal; new (flash: FlashPort, region: JournalRegion): Journal };
