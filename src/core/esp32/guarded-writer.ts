// Every flash mutation of an update goes through GuardedFlash: it knows the few regions
// the current step may touch and refuses anything else *before* calling the port, so a
// wrong offset (bad table, arithmetic slip, hostile input) cannot reach the bootloader,
// the partition table or the running image. SlotWriter streams an image into a slot,
// erasing each sector only when the data reaches it.

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

/**
 * Appends an image to a slot. A sector is erased right before the first byte lands in it
 * (never the whole slot up front, so a power cut costs at most one sector of work and the
 * erase time is spread over the download). Bytes are programmed in 4-byte words; up to 3
 * bytes wait in a carry until more arrive or finish() pads them with 0xFF.
 */
export class SlotWriter {
  private flash: FlashPort;
  private base: number;
  private size: number;
  /** Slot-relative: bytes programmed so far (a multiple of 4). */
  private programmed: number;
  /** Slot-relative end of the sectors erased by this writer. */
  private erasedTo: number;
  private carry = new Uint8Array(4);
  private carryLen = 0;

  /**
   * `startAt` resumes an interrupted download: it must be a sector boundary, because a
   * sector whose programming was cut by a power loss is only trustworthy after a new erase.
   */
  constructor(flash: FlashPort, slot: FlashRegion, startAt: number) {
    if (!isWhole(startAt) || startAt % SECTOR_SIZE !== 0 || startAt > slot.size) {
      throw otaError("FLASH_RANGE", "resume offset " + startAt + " is not a sector boundary inside " + slot.name);
    }
    this.flash = flash;
    this.base = slot.offset;
    this.size = slot.size;
    this.programmed = startAt;
    this.erasedTo = startAt;
  }

  /** Bytes accepted so far, counted from the start of the slot. */
  position(): number {
    return this.programmed + this.carryLen;
  }

  write(data: Uint8Array, off: number, len: number): void {
    if (this.position() + len > this.size) throw otaError("FLASH_RANGE", "image does not fit the slot (" + (this.position() + len) + " > " + this.size + ")");
    while (this.carryLen > 0 && len > 0) {
      this.carry[this.carryLen++] = data[off++];
      len--;
      if (this.carryLen === 4) {
        this.carryLen = 0;
        this.program(this.carry, 0, 4);
      }
    }
    const whole = len & ~3;
    if (whole > 0) this.program(data, off, whole);
    for (let i = whole; i < len; i++) this.carry[this.carryLen++] = data[off + i];
  }

  /** Programs the last partial word (padded with 0xFF, which leaves flash as erased). */
  finish(): void {
    if (this.carryLen === 0) return;
    for (let i = this.carryLen; i < 4; i++) this.carry[i] = 0xff;
    this.carryLen = 0;
    this.program(this.carry, 0, 4);
  }

  private program(data: Uint8Array, off: number, len: number): void {
    while (len > 0) {
      const sectorEnd = (this.programmed & ~(SECTOR_SIZE - 1)) + SECTOR_SIZE;
      const n = len < sectorEnd - this.programmed ? len : sectorEnd - this.programmed;
      while (this.erasedTo < this.programmed + n) {
        this.flash.eraseSector(this.base + this.erasedTo);
        this.erasedTo += SECTOR_SIZE;
      }
      this.flash.write(this.base + this.programmed, data.subarray(off, off + n));
      this.programmed += n;
      off += n;
      len -= n;
    }
  }
}
