// Host-side equivalent of ESP-IDF's gen_esp32part.py (binary output only): entries,
// the MD5 entry, 0xFF padding to 0xC00 bytes. Names follow the CSV vocabulary.

import { createHash } from "node:crypto";

export interface PartitionInput {
  label: string;
  /** "app" | "data" | "bootloader" | "partition_table", or a number / numeric string ("0x40"). */
  type: string | number;
  /** "factory" | "ota_0".."ota_15" | "test" | "ota" | "phy" | "nvs" | "spiffs" | ..., or a number / numeric string. */
  subtype: string | number;
  offset: number;
  size: number;
  flags?: number;
}

export const TABLE_LEN = 0xc00;

const TYPES: Record<string, number> = { app: 0x00, data: 0x01, bootloader: 0x02, partition_table: 0x03 };

const SUBTYPES: Record<number, Record<string, number>> = {
  0x00: { factory: 0x00, test: 0x20 },
  0x01: {
    ota: 0x00, phy: 0x01, nvs: 0x02, coredump: 0x03, nvs_keys: 0x04, efuse: 0x05, undefined: 0x06,
    esphttpd: 0x80, fat: 0x81, spiffs: 0x82, littlefs: 0x83,
  },
  0x02: { primary: 0x00, ota: 0x01, recovery: 0x02 },
  0x03: { primary: 0x00, ota: 0x01 },
};

function numeric(v: string): number | null {
  if (/^0x[0-9a-f]+$/i.test(v)) return parseInt(v.slice(2), 16);
  if (/^[0-9]+$/.test(v)) return parseInt(v, 10);
  return null;
}

export function partitionTypeCode(type: string | number): number {
  const n = typeof type === "number" ? type : TYPES[type] ?? numeric(type);
  if (n === null || n === undefined || n < 0 || n > 0xfe) throw new RangeError("unknown partition type " + JSON.stringify(type));
  return n;
}

export function partitionSubtypeCode(type: number, subtype: string | number): number {
  if (typeof subtype === "number") return subtype;
  const ota = /^ota_([0-9]+)$/.exec(subtype);
  if (type === 0x00 && ota && Number(ota[1]) < 16) return 0x10 + Number(ota[1]);
  const named = SUBTYPES[type]?.[subtype];
  const n = named ?? numeric(subtype);
  if (n === null || n < 0 || n > 0xfe) throw new RangeError("unknown subtype " + JSON.stringify(subtype) + " for type " + type);
  return n;
}

export function encodePartitionEntry(p: PartitionInput): Uint8Array {
  const e = new Uint8Array(32);
  const v = new DataView(e.buffer);
  const type = partitionTypeCode(p.type);
  e[0] = 0xaa;
  e[1] = 0x50;
  e[2] = type;
  e[3] = partitionSubtypeCode(type, p.subtype);
  v.setUint32(4, p.offset, true);
  v.setUint32(8, p.size, true);
  const label = Buffer.from(p.label, "ascii");
  if (label.length > 16) throw new RangeError("label longer than 16 bytes: " + p.label);
  e.set(label, 12);
  v.setUint32(28, p.flags ?? 0, true);
  return e;
}

/** 0xC00 bytes: the entries, an MD5 entry over them, then 0xFF (whose first slot is the terminator). */
export function buildPartitionTable(partitions: PartitionInput[], opts: { md5?: boolean } = {}): Uint8Array {
  const out = new Uint8Array(TABLE_LEN).fill(0xff);
  if ((partitions.length + 2) * 32 > TABLE_LEN) throw new RangeError("too many partitions");
  partitions.forEach((p, i) => out.set(encodePartitionEntry(p), i * 32));
  if (opts.md5 !== false) {
    const at = partitions.length * 32;
    out[at] = 0xeb;
    out[at + 1] = 0xeb;
    out.set(createHash("md5").update(out.subarray(0, at)).digest(), at + 16);
  }
  return out;
}
