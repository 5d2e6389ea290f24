// Reads the ESP-IDF partition table exactly as the bootloader judges it
// (esp_partition_table_verify, docs/esp32-formats.md#partition-md5) plus the extra rules the agent relies on
// to write flash safely. Anything the bootloader and the app could read differently is
// refused: the agent never guesses where a slot is.

import { otaError } from "../errors";
import { u16le, u32le, cString, hex32 } from "./bytes";

export const PARTITION_TABLE_MAX_LEN = 0xc00;
export const PARTITION_ENTRY_SIZE = 32;
export const SECTOR_SIZE = 0x1000;

export const PART_TYPE_APP = 0x00;
export const PART_TYPE_DATA = 0x01;
export const APP_FACTORY = 0x00;
export const APP_OTA_MIN = 0x10;
export const APP_TEST = 0x20;
export const DATA_OTA = 0x00;

export interface Partition {
  label: string;
  type: number;
  subtype: number;
  offset: number;
  size: number;
  flags: number;
}

export interface PartitionTable {
  partitions: Partition[];
  factory: Partition | null;
  /** ota[N] is the partition with subtype ota_N; contiguous from ota_0. */
  ota: Partition[];
  test: Partition | null;
  otadata: Partition | null;
  /** Whether the table carried an MD5 entry (and it matched). */
  md5Checked: boolean;
}

function entryIsTerminator(b: Uint8Array, off: number): boolean {
  return u16le(b, off) === 0xffff && b[off + 2] === 0xff && b[off + 3] === 0xff;
}

function sameBytes(a: Uint8Array, b: Uint8Array, bOff: number, len: number): boolean {
  if (a.length < len) return false;
  for (let i = 0; i < len; i++) if (a[i] !== b[bOff + i]) return false;
  return true;
}

function overlaps(a: Partition, b: Partition): boolean {
  return a.offset < b.offset + b.size && b.offset < a.offset + a.size;
}

function checkSlotGeometry(p: Partition, align: number, minSize: number): void {
  if (p.offset % align !== 0 || p.size % SECTOR_SIZE !== 0 || p.size < minSize) {
    throw otaError("PT_OUT_OF_RANGE", p.label + " at " + hex32(p.offset) + " size " + hex32(p.size) + " is misaligned or too small");
  }
}

/** Sorts the app and otadata entries into their roles, refusing anything ambiguous. */
function classify(table: PartitionTable): void {
  const parts = table.partitions;
  // Pre-filled: Espruino has no array holes.
  const ota: (Partition | null)[] = [];
  for (let n = 0; n < 16; n++) ota.push(null);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (p.type === PART_TYPE_APP) {
      if (p.subtype === APP_FACTORY || p.subtype === APP_TEST) {
        if ((p.subtype === APP_FACTORY ? table.factory : table.test) !== null) {
          throw otaError("PT_DUPLICATE", "second " + (p.subtype === APP_FACTORY ? "factory" : "test") + " app: " + p.label);
        }
        if (p.subtype === APP_FACTORY) table.factory = p;
        else table.test = p;
        checkSlotGeometry(p, 0x10000, SECTOR_SIZE);
      } else if ((p.subtype & 0xf0) === APP_OTA_MIN) {
        const n = p.subtype & 0x0f;
        if (ota[n]) throw otaError("PT_DUPLICATE", "ota_" + n + " appears twice");
        ota[n] = p;
        checkSlotGeometry(p, 0x10000, SECTOR_SIZE);
      }
    } else if (p.type === PART_TYPE_DATA && p.subtype === DATA_OTA) {
      if (table.otadata !== null) throw otaError("PT_DUPLICATE", "second otadata partition: " + p.label);
      table.otadata = p;
      checkSlotGeometry(p, SECTOR_SIZE, 2 * SECTOR_SIZE);
    }
  }
  // The bootloader counts ota entries, the app counts until the first missing index:
  // they agree only when the indices are 0..n-1 (docs/esp32-formats.md#partition-table).
  for (let k = 0; k < 16; k++) {
    const slot = ota[k];
    if (slot) {
      if (table.ota.length !== k) throw otaError("PT_OTA_GAP", "ota_" + k + " present but ota_" + table.ota.length + " missing");
      table.ota.push(slot);
    }
  }
  const count = table.ota.length;
  if (count > 0 && table.otadata === null) throw otaError("PT_NO_OTADATA", count + " OTA slot(s) but no otadata partition");
  if (table.factory === null && count === 0) throw otaError("PT_NO_TARGET", "no factory or OTA app partition");
}

/**
 * Parses the table at the start of `bytes` (the 0xC00-byte table, or the whole 4 KB sector).
 * `md5` is injected so that the device can choose its MD5 backend.
 */
export function parsePartitionTable(bytes: Uint8Array, md5: (data: Uint8Array) => Uint8Array, chipSize: number): PartitionTable {
  const table: PartitionTable = { partitions: [], factory: null, ota: [], test: null, otadata: null, md5Checked: false };
  const limit = Math.min(bytes.length, PARTITION_TABLE_MAX_LEN);
  let terminated = false;
  for (let off = 0; off + PARTITION_ENTRY_SIZE <= limit; off += PARTITION_ENTRY_SIZE) {
    const magic = u16le(bytes, off);
    if (magic === 0x50aa) {
      if (table.md5Checked) throw otaError("PT_MD5", "entry after the MD5 entry at " + hex32(off) + " (bootloader and app would disagree)");
      const p: Partition = {
        label: cString(bytes, off + 12, 16),
        type: bytes[off + 2],
        subtype: bytes[off + 3],
        offset: u32le(bytes, off + 4),
        size: u32le(bytes, off + 8),
        flags: u32le(bytes, off + 28),
      };
      if (p.offset > chipSize || p.size > chipSize - p.offset) {
        throw otaError("PT_OUT_OF_RANGE", p.label + " " + hex32(p.offset) + "+" + hex32(p.size) + " exceeds flash size " + hex32(chipSize));
      }
      table.partitions.push(p);
    } else if (magic === 0xebeb) {
      if (table.md5Checked) throw otaError("PT_MD5", "second MD5 entry at " + hex32(off));
      if (!sameBytes(md5(bytes.subarray(0, off)), bytes, off + 16, 16)) throw otaError("PT_MD5", "MD5 entry does not match the table");
      table.md5Checked = true;
    } else if (off !== 0 && entryIsTerminator(bytes, off)) {
      terminated = true;
      break;
    } else {
      throw otaError("PT_MAGIC", "invalid entry magic " + hex32(magic) + " at " + hex32(off));
    }
  }
  if (!terminated) throw otaError("PT_NO_TERMINATOR", "no end-of-table entry within " + hex32(limit) + " bytes");
  const parts = table.partitions;
  for (let i = 0; i < parts.length; i++) {
    for (let j = i + 1; j < parts.length; j++) {
      if (overlaps(parts[i], parts[j])) throw otaError("PT_OUT_OF_RANGE", parts[i].label + " overlaps " + parts[j].label);
    }
  }
  classify(table);
  return table;
}

/** "factory", "ota_3", "test", or the label for anything else. */
export function slotName(table: PartitionTable, p: Partition): string {
  if (p === table.factory) return "factory";
  if (p === table.test) return "test";
  const i = table.ota.indexOf(p);
  return i >= 0 ? "ota_" + i : p.label;
}

/** The app partition that starts at `offset`, or null. */
export function appAt(table: PartitionTable, offset: number): Partition | null {
  if (table.factory && table.factory.offset === offset) return table.factory;
  for (let i = 0; i < table.ota.length; i++) if (table.ota[i].offset === offset) return table.ota[i];
  return null;
}
