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

import { FlashPort } from "../ports";
import { otaError } from "../errors";
import {
  RECORD_SIZE,
  RECORD_FORMAT,
  HEADER_SIZE,
  BODY_SIZE,
  COMMIT_OFFSET,
  PAYLOAD_MAX,
  KIND_STATE,
  KIND_CLEAR,
  DecodedRecord,
  encodeRecordBody,
  commitBytes,
  candidateHeader,
  decodeRecord,
  isErased,
} from "./record";

export const SECTOR_SIZE = 4096;
export const SLOTS_PER_SECTOR = SECTOR_SIZE / RECORD_SIZE;
const MAX_SEQ = 4294967295;

export interface JournalRegion {
  /** Flash offset of the first sector (4096-aligned). */
  offset: number;
  /** Whole sectors, at least 2. */
  size: number;
}

export interface JournalStats {
  /** Sector erases issued (an interrupted erase counts: it wore the sector all the same). */
  erases: number;
  /** Flash write operations issued (two per record: body, then commit word). */
  writes: number;
}

function sameBytes(a: Uint8Array, b: Uint8Array, length: number): boolean {
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Journal {
  readonly stats: JournalStats;
  private flash: FlashPort;
  private base: number;
  private slots: number;
  private scanned: boolean;
  /** Slot index (over the whole region) of the newest valid record, -1 if none. */
  private head: number;
  private headSeq: number;
  private headKind: number;
  private headFormat: number;

  constructor(flash: FlashPort, region: JournalRegion) {
    const o = region ? region.offset : NaN;
    const n = region ? region.size : NaN;
    if (!(o >= 0) || o % SECTOR_SIZE !== 0 || !(n >= 2 * SECTOR_SIZE) || n % SECTOR_SIZE !== 0) {
      throw otaError("BOARD_INVALID", "journal region must be >= 2 whole 4096-byte sectors, got " + JSON.stringify(region));
    }
    this.flash = flash;
    this.base = o;
    this.slots = (n / SECTOR_SIZE) * SLOTS_PER_SECTOR;
    this.stats = { erases: 0, writes: 0 };
    this.scanned = false;
    this.head = -1;
    this.headSeq = -1;
    this.headKind = 0;
    this.headFormat = 0;
  }

  /**
   * Payload of the newest valid record, or null when the journal is empty, was cleared, or its
   * newest record is of a format this code cannot read (never an older record in that case:
   * after a downgrade a stale record must not come back).
   */
  load(): Uint8Array | null {
    const rec = this.scan();
    if (!rec || rec.kind !== KIND_STATE || rec.format !== RECORD_FORMAT || rec.length > PAYLOAD_MAX) return null;
    return rec.payload;
  }

  /** Durably stores `payload` (<= 236 bytes) as the new content. Throws JOURNAL_WRITE if the flash refuses it. */
  append(payload: Uint8Array): void {
    if (!payload || payload.length > PAYLOAD_MAX) {
      throw otaError("JOURNAL_STATE", "payload must be at most " + PAYLOAD_MAX + " bytes");
    }
    this.put(KIND_STATE, payload);
  }

  /**
   * Makes load() return null. It appends a "cleared" record instead of erasing: a cut before the
   * record commits leaves the old state, a cut after leaves null, and there is no erase order
   * that could expose an older state. Nothing is written when the journal already reads empty.
   */
  clear(): void {
    if (!this.scanned) this.scan();
    if (this.head < 0 || (this.headKind === KIND_CLEAR && this.headFormat === RECORD_FORMAT)) return;
    this.put(KIND_CLEAR, new Uint8Array(0));
  }

  private slotAddress(slot: number): number {
    return this.base + slot * RECORD_SIZE;
  }

  /**
   * Finds the newest valid record and remembers where it is. First pass: magic, commit word and
   * sequence of every slot (two tiny reads each, no CRC); then the CRC is checked from the highest
   * sequence down, so normally only one record pays for it (CRC in JS is slow on the device).
   */
  private scan(): DecodedRecord | null {
    const count = this.slots;
    const seqs = new Uint32Array(count);
    const isCandidate = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const addr = this.slotAddress(i);
      const h = candidateHeader(this.flash.read(addr, HEADER_SIZE), this.flash.read(addr + COMMIT_OFFSET, 4));
      if (h) {
        seqs[i] = h.seq;
        isCandidate[i] = 1;
      }
    }
    this.scanned = true;
    this.head = -1;
    this.headSeq = -1;
    for (;;) {
      let best = -1;
      for (let i = 0; i < count; i++) {
        if (isCandidate[i] && (best < 0 || seqs[i] > seqs[best])) best = i;
      }
      if (best < 0) return null;
      isCandidate[best] = 0;
      const rec = decodeRecord(this.flash.read(this.slotAddress(best), RECORD_SIZE));
      if (rec && rec.seq === seqs[best]) {
        this.head = best;
        this.headSeq = rec.seq;
        this.headKind = rec.kind;
        this.headFormat = rec.format;
        return rec;
      }
    }
  }

  /**
   * Writes one record into the next programmable slot after the head. It may move into the next
   * sector (erasing it) at most once per call: with >= 2 sectors that can never be the head's own
   * sector, whatever the flash does.
   */
  private put(kind: number, payload: Uint8Array): void {
    if (!this.scanned) this.scan();
    let slot = this.head;
    // An empty (or junk-only) region starts as if the last slot were the head, so the first
    // record goes to a freshly erased sector 0 rather than into slots of unknown history.
    if (slot < 0) slot = this.slots - 1;
    let seq = this.headSeq;
    let moved = false;
    const commit = commitBytes();
    for (;;) {
      slot = (slot + 1) % this.slots;
      const addr = this.slotAddress(slot);
      if (slot % SLOTS_PER_SECTOR === 0) {
        if (moved) throw otaError("JOURNAL_WRITE", "no programmable slot in two sectors");
        moved = true;
        this.stats.erases++;
        this.flash.eraseSector(addr);
      }
      if (!isErased(this.flash.read(addr, RECORD_SIZE))) continue;
      if (seq >= MAX_SEQ) throw otaError("JOURNAL_WRITE", "sequence numbers exhausted");
      // A fresh sequence number per attempt: a slot that failed read-back might still hold a
      // valid record, and two valid records must never share a sequence number.
      seq++;
      const body = encodeRecordBody(seq, kind, payload);
      this.stats.writes++;
      this.flash.write(addr, body);
      if (!sameBytes(this.flash.read(addr, BODY_SIZE), body, BODY_SIZE)) continue;
      this.stats.writes++;
      this.flash.write(addr + COMMIT_OFFSET, commit);
      if (!sameBytes(this.flash.read(addr + COMMIT_OFFSET, 4), commit, 4)) continue;
      this.head = slot;
      this.headSeq = seq;
      this.headKind = kind;
      this.headFormat = RECORD_FORMAT;
      return;
    }
  }
}
