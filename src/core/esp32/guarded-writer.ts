// Every flash mutation of an update goes through GuardedFlash: it knows the few regions
// the current step may touch and refuses anything else *before* calling the port, so a
// wrong offset (bad table, arithmetic slip, hostile input) cannot reach the bootloader,
// the partition table or the running image.
//
// Memory (Espruino): the checks are written out where they are used rather than kept as
// small helper functions (each function costs JsVars, code does not), and the instance
// fields have short names (one JsVar each per instance).

import { FlashPort } from "../ports";
import { otaError } from "../errors";
import { PT } from "./partition-table";

/** `label` as a Partition spells it, so a partition serves as a region without a copy. */
export interface FlashRegion {
  label: string;
  offset: number;
  size: number;
}

export interface GuardOptions {
  chipSize: number;
  /** Regions this step may erase and write (whole sectors). */
  allowed: FlashRegion[];
  /** Regions no allowed region may overlap (bootloader + partition table, running slot). */
  forbidden: FlashRegion[];
}

/**
 * What an update must never touch: everything below the end of the partition table's
 * sector (second-stage bootloader + table) and the slot the device is running from.
 */
export function protectedRegions(tableOffset: number, running: FlashRegion): FlashRegion[] {
  return [
    { label: "bootloader+partition table", offset: 0, size: tableOffset + PT.Sector },
    running,
  ];
}

// A whole number, as the checks below spell it out: typeof v === "number" && v >= 0 && Math.floor(v) === v.

/** An instance: the port, the chip size and the allowed regions, under short names. */
interface Guarded extends FlashPort {
  f: FlashPort;
  cs: number;
  a: FlashRegion[];
}

/**
 * The FlashPort's read, write and eraseSector, all three this one function on the prototype
 * (each function costs JsVars on the board), told apart by the second argument as the port's
 * signatures give it: a length reads, bytes write, none erases the sector at `offset`.
 * Writes take any length, split into port writes of <= 4096 bytes; offset and length must be
 * multiples of 4 (Espruino Flash.write).
 */
function guardedOp(this: Guarded, offset: number, x?: number | Uint8Array): Uint8Array | void {
  if (typeof x === "number") return this.f.read(offset, x);
  const erase = x === undefined;
  const len = erase ? PT.Sector : (x as Uint8Array).length;
  let ok = false;
  if (typeof offset === "number" && offset >= 0 && Math.floor(offset) === offset && typeof len === "number" && len >= 0 && Math.floor(len) === len && offset + len <= this.cs) {
    for (let i = 0; i < this.a.length && !ok; i++) ok = offset >= this.a[i].offset && offset + len <= this.a[i].offset + this.a[i].size;
  }
  if (!ok) throw otaError("FLASH_FORBIDDEN", (erase ? "erase " : "write ") + offset + "+" + len + " is outside the regions of this step");
  if (erase) {
    if (offset % PT.Sector !== 0) throw otaError("FLASH_RANGE", "erase at 0x" + (offset >>> 0).toString(16) + " is not sector aligned");
    this.f.eraseSector(offset);
    return;
  }
  if (offset % 4 !== 0 || len % 4 !== 0) throw otaError("FLASH_RANGE", "write 0x" + (offset >>> 0).toString(16) + "+" + len + " is not 4-byte aligned");
  for (let done = 0; done < len; done += 4096) {
    const n = len - done < 4096 ? len - done : 4096;
    this.f.write(offset + done, (x as Uint8Array).subarray(done, done + n));
  }
}

/**
 * `new GuardedFlash(flash, opts)`: a FlashPort that passes on only what stays inside
 * opts.allowed. Throws FLASH_FORBIDDEN when an allowed region is not whole sectors inside the
 * chip or overlaps a forbidden one. A plain constructor, not a class: the class's ES5 form adds
 * a wrapper function and puts the methods one scope level deeper.
 */
export const GuardedFlash = function (this: Guarded, flash: FlashPort, opts: GuardOptions): void {
  this.f = flash;
  this.cs = opts.chipSize;
  this.a = opts.allowed;
  const fb = opts.forbidden;
  for (let i = 0; i < opts.allowed.length; i++) {
    const r = opts.allowed[i];
    const o = r.offset;
    const s = r.size;
    if (!(typeof o === "number" && o >= 0 && Math.floor(o) === o) || !(typeof s === "number" && s >= 0 && Math.floor(s) === s) || o % PT.Sector !== 0 || s % PT.Sector !== 0 || o + s > opts.chipSize) {
      throw otaError("FLASH_FORBIDDEN", "allowed region " + r.label + " 0x" + (o >>> 0).toString(16) + "+0x" + (s >>> 0).toString(16) + " is not whole sectors inside the flash");
    }
    for (let j = 0; j < fb.length; j++) {
      if (o < fb[j].offset + fb[j].size && fb[j].offset < o + s) throw otaError("FLASH_FORBIDDEN", "region " + r.label + " overlaps " + fb[j].label);
    }
  }
} as unknown as { new (flash: FlashPort, opts: GuardOptions): FlashPort; prototype: FlashPort };
GuardedFlash.prototype.read = GuardedFlash.prototype.write = GuardedFlash.prototype.eraseSector = guardedOp as never;
