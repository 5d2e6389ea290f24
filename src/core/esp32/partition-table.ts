// Reads the ESP-IDF partition table exactly as the bootloader judges it
// (esp_partition_table_verify, docs/esp32-formats.md#partition-md5) plus the extra rules the agent relies on
// to write flash safely. Anything the bootloader and the app could read differently is
// refused: the agent never guesses where a slot is.
//
// Memory (Espruino): one function for the whole parse (a function costs JsVars, its code
// does not) and numbers from a const enum, inlined; the exported constants are for host
// tools and tests, the device bundle does not reference them.

import { otaError } from "../errors";
import { u32le, cString } from "./bytes";

/** Inlined by the compiler: no constant lives in RAM on the device. */
export const enum PT {
  MaxLen = 0xc00,
  Entry = 32,
  Sector = 0x1000,
  App = 0x00,
  Data = 0x01,
  Factory = 0x00,
  OtaMin = 0x10,
  Test = 0x20,
  DataOta = 0x00,
}

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

/**
 * Parses the table at the start of `bytes` (the 0xC00-byte table, or the whole 4 KB sector), or
 * read through `bytes(offset, length)` from the table's start. `md5` is injected so that the
 * device can choose its MD5 backend.
 *
 * Memory (Espruino): the device reads one 32-byte entry at a time (and the entries before the
 * MD5 entry once more, for the MD5): the whole 0xC00 bytes read at once were ~220 JsVars on the
 * ESP32 format, the peak of a switch.
 */
export function parsePartitionTable(bytes: Uint8Array | ((offset: number, length: number) => Uint8Array), md5: (data: Uint8Array) => Uint8Array, chipSize: number): PartitionTable {
  const table: PartitionTable = { partitions: [], factory: null, ota: [], test: null, otadata: null, md5Checked: false };
  const parts = table.partitions;
  const limit = typeof bytes === "function" ? PT.MaxLen : Math.min(bytes.length, PT.MaxLen);
  const read = typeof bytes === "function" ? bytes : (o: number, n: number) => bytes.subarray(o, o + n);
  let terminated = false;
  // Declared once: Espruino creates a var only when its declaration runs.
  let i = 0;
  let p: Partition;
  let e: Uint8Array;
  for (let off = 0; off + PT.Entry <= limit; off += PT.Entry) {
    e = read(off, PT.Entry);
    const magic = e[0] | (e[1] << 8);
    if (magic === 0x50aa) {
      if (table.md5Checked) throw otaError("PT_MD5", "entry after the MD5 entry at 0x" + off.toString(16) + " (bootloader and app would disagree)");
      p = {
        label: cString(e, 12, 16),
        type: e[2],
        subtype: e[3],
        offset: u32le(e, 4),
        size: u32le(e, 8),
        flags: u32le(e, 28),
      };
      if (p.offset > chipSize || p.size > chipSize - p.offset) {
        throw otaError("PT_OUT_OF_RANGE", p.label + " 0x" + p.offset.toString(16) + "+0x" + p.size.toString(16) + " exceeds flash size 0x" + (chipSize >>> 0).toString(16));
      }
      parts.push(p);
    } else if (magic === 0xebeb) {
      if (table.md5Checked) throw otaError("PT_MD5", "second MD5 entry at 0x" + off.toString(16));
      const sum = md5(read(0, off));
      let same = sum.length >= 16;
      for (i = 0; same && i < 16; i++) same = sum[i] === e[16 + i];
      if (!same) throw otaError("PT_MD5", "MD5 entry does not match the table");
      table.md5Checked = true;
    } else if (off !== 0 && magic === 0xffff && e[2] === 0xff && e[3] === 0xff) {
      terminated = true;
      break;
    } else {
      throw otaError("PT_MAGIC", "invalid entry magic 0x" + magic.toString(16) + " at 0x" + off.toString(16));
    }
  }
  if (!terminated) throw otaError("PT_NO_TERMINATOR", "no end-of-table entry within 0x" + limit.toString(16) + " bytes");
  for (i = 0; i < parts.length; i++) {
    for (let j = i + 1; j < parts.length; j++) {
      const a = parts[i];
      const b = parts[j];
      if (a.offset < b.offset + b.size && b.offset < a.offset + a.size) throw otaError("PT_OUT_OF_RANGE", a.label + " overlaps " + b.label);
    }
  }
  // Sort the app and otadata entries into their roles, refusing anything ambiguous.
  // Pre-filled: Espruino has no array holes.
  const ota: (Partition | null)[] = [];
  for (i = 0; i < 16; i++) ota.push(null);
  for (i = 0; i < parts.length; i++) {
    p = parts[i];
    // Geometry each role needs: slot alignment and minimum size (0: no role, nothing to check).
    let align = 0;
    let min = PT.Sector;
    if (p.type === PT.App) {
      if (p.subtype === PT.Factory || p.subtype === PT.Test) {
        if ((p.subtype === PT.Factory ? table.factory : table.test) !== null) {
          throw otaError("PT_DUPLICATE", "second " + (p.subtype === PT.Factory ? "factory" : "test") + " app: " + p.label);
        }
        if (p.subtype === PT.Factory) table.factory = p;
        else table.test = p;
        align = 0x10000;
      } else if ((p.subtype & 0xf0) === PT.OtaMin) {
        const n = p.subtype & 0x0f;
        if (ota[n]) throw otaError("PT_DUPLICATE", "ota_" + n + " appears twice");
        ota[n] = p;
        align = 0x10000;
      }
    } else if (p.type === PT.Data && p.subtype === PT.DataOta) {
      if (table.otadata !== null) throw otaError("PT_DUPLICATE", "second otadata partition: " + p.label);
      table.otadata = p;
      align = PT.Sector;
      min = 2 * PT.Sector;
    }
    if (align && (p.offset % align !== 0 || p.size % PT.Sector !== 0 || p.size < min)) {
      throw otaError("PT_OUT_OF_RANGE", p.label + " at 0x" + p.offset.toString(16) + " size 0x" + p.size.toString(16) + " is misaligned or too small");
    }
  }
  // The bootloader counts ota entries, the app counts until the first missing index:
  // they agree only when the indices are 0..n-1 (docs/esp32-formats.md#partition-table).
  for (i = 0; i < 16; i++) {
    const slot = ota[i];
    if (slot) {
      if (table.ota.length !== i) throw otaError("PT_OTA_GAP", "ota_" + i + " present but ota_" + table.ota.length + " missing");
      table.ota.push(slot);
    }
  }
  const count = table.ota.length;
  if (count > 0 && table.otadata === null) throw otaError("PT_NO_OTADATA", count + " OTA slot(s) but no otadata partition");
  if (table.factory === null && count === 0) throw otaError("PT_NO_TARGET", "no factory or OTA app partition");
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
