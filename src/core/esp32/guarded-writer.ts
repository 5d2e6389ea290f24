// Every flash mutation of an update goes through GuardedFlash: it knows the few regions
// the current step may touch and refuses anything else *before* calling the port, so a
// wrong offset (bad table, arithmetic slip, hostile input) cannot reach the bootloader,
// the partition table or the running image.

import { FlashPort } from "../ports";
import { otaError } from "../errors";
import { hex32 } from "./bytes";
import { Partition, SECTOR_SIZE } from "./partition-table";

export interface FlashRegion {
  name: string;
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

const MAX_WRITE = 4096;

function isWhole(v: number): boolean {
  return typeof v === "number" && v >= 0 && Math.floor(v) === v;
}

function intersects(a: FlashRegion, offset: number, size: number): boolean {
  return offset < a.offset + a.size && a.offset < offset + size;
}

export function regionOf(p: Partition): FlashRegion {
  return { name: p.label, offset: p.offset, size: p.size };
}

/**
 * What an update must never touch: everything below the end of the partition table's
 * sector (second-stage bootloader + table) and the slot the device is running from.
 */
export function protectedRegions(tableOffset: number, running: Partition): FlashRegion[] {
  return [{ name: "bootloader+partition table", offset: 0, size: tableOffset + SECTOR_SIZE }, regionOf(running)];
}

export class GuardedFlash implements FlashPort {
  private flash: FlashPort;
  private chipSize: number;
  private allowed: FlashRegion[];

  constructor(flash: FlashPort, opts: GuardOptions) {
    this.flash = flash;
    this.chipSize = opts.chipSize;
    this.allowed = opts.allowed;
    for (let i = 0; i < opts.allowed.length; i++) {
      const r = opts.allowed[i];
      if (!isWhole(r.offset) || !isWhole(r.size) || r.offset % SECTOR_SIZE !== 0 || r.size % SECTOR_SIZE !== 0 || r.offset + r.size > opts.chipSize) {
        throw otaError("FLASH_FORBIDDEN", "allowed region " + r.name + " " + hex32(r.offset) + "+" + hex32(r.size) + " is not whole sectors inside the flash");
      }
      for (let j = 0; j < opts.forbidden.length; j++) {
        if (intersects(opts.forbidden[j], r.offset, r.size)) throw otaError("FLASH_FORBIDDEN", "region " + r.name + " overlaps " + opts.forbidden[j].name);
      }
    }
  }

  private check(what: string, offset: number, size: number): void {
    if (isWhole(offset) && isWhole(size) && offset + size <= this.chipSize) {
      for (let i = 0; i < this.allowed.length; i++) {
        const r = this.allowed[i];
        if (offset >= r.offset && offset + size <= r.offset + r.size) return;
      }
    }
    throw otaError("FLASH_FORBIDDEN", what + " " + offset + "+" + size + " is outside the regions of this step");
  }

  read(offset: number, length: number): Uint8Array {
    return this.flash.read(offset, length);
  }

  eraseSector(offset: number): void {
    this.check("erase", offset, SECTOR_SIZE);
    if (offset % SECTOR_SIZE !== 0) throw otaError("FLASH_RANGE", "erase at " + hex32(offset) + " is not sector aligned");
    this.flash.eraseSector(offset);
  }

  /** Any length; split into port writes of <= 4096 bytes. Offset and length must be multiples of 4 (Espruino Flash.write). */
  write(offset: number, data: Uint8Array): void {
    const len = data.length;
    this.check("write", offset, len);
    if (offset % 4 !== 0 || len % 4 !== 0) throw otaError("FLASH_RANGE", "write " + hex32(offset) + "+" + len + " is not 4-byte aligned");
    for (let done = 0; done < len; done += MAX_WRITE) {
      const n = len - done < MAX_WRITE ? len - done : MAX_WRITE;
      this.flash.write(offset + done, data.subarray(done, done + n));
    }
  }
}
