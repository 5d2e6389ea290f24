// A strict model of the SPI NOR flash on an ESP32 board, for tests and the simulator.
// Real NOR can only clear bits when programming and only sets them back by erasing a whole
// 4 KB sector; code that forgets an erase "works" on a RAM array but corrupts data on a chip,
// so every illegal request is recorded in `violations`. Power cuts leave the interrupted
// operation half done in a seeded, repeatable way, which is what journaling code must survive.

import type { FlashPort } from "../../core/ports";
import { seededRandom } from "../seeded-random";

export const SECTOR_SIZE = 4096;
/** Largest single program request we accept: Espruino copies Flash.write data onto a 25 KB task stack. */
export const MAX_WRITE_BYTES = 4096;

export class PowerCutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PowerCutError";
  }
}

export interface FlashStats {
  erases: number;
  writes: number;
  bytesWritten: number;
  reads: number;
  bytesRead: number;
}

export interface NorFlashOptions {
  size: number;
  /** Initial contents (copied); shorter images are padded with 0xFF. */
  image?: Uint8Array;
  /** Seed of the generator that decides how interrupted operations are left. */
  seed?: number;
}

function hex(n: number): string {
  return "0x" + n.toString(16);
}

export class NorFlash {
  readonly size: number;
  /** The raw chip contents, for inspection. Mutating it directly bypasses all checks. */
  readonly bytes: Uint8Array;
  readonly violations: string[] = [];
  readonly stats: FlashStats = { erases: 0, writes: 0, bytesWritten: 0, reads: 0, bytesRead: 0 };
  /**
   * Mutating operations (erase, write, or one of a model kept outside `bytes`, see
   * externalOperation) started so far, including an interrupted one.
   */
  ops = 0;
  poweredOff = false;
  /** Called once when a scheduled power cut fires (after the interrupted op is left half done). */
  onPowerCut?: () => void;

  private cutCountdown: number | null = null;
  private readonly random: () => number;

  constructor(opts: NorFlashOptions) {
    if (!(opts.size > 0) || opts.size % SECTOR_SIZE !== 0) {
      throw new Error("NorFlash size must be a positive multiple of " + SECTOR_SIZE + ", got " + opts.size);
    }
    this.size = opts.size;
    this.bytes = new Uint8Array(opts.size).fill(0xff);
    if (opts.image) {
      if (opts.image.length > opts.size) throw new Error("NorFlash image is larger than the chip");
      this.bytes.set(opts.image);
    }
    this.random = seededRandom(opts.seed ?? 1);
  }

  /**
   * Arms a power cut: the n-th mutating operation from now (1-based) is interrupted halfway
   * and the chip stays dead until powerOn(). `null` disarms.
   */
  cutPowerAfter(n: number | null): void {
    if (n !== null && !(Number.isInteger(n) && n >= 1)) throw new Error("cutPowerAfter needs an integer >= 1 or null");
    this.cutCountdown = n;
  }

  /** Ends a power cut; a pending cutPowerAfter stays disarmed. */
  powerOn(): void {
    this.poweredOff = false;
    this.cutCountdown = null;
  }

  read(offset: number, length: number): Uint8Array {
    this.assertPowered("read");
    this.assertRange("read", offset, length);
    this.stats.reads++;
    this.stats.bytesRead += length;
    return this.bytes.slice(offset, offset + length);
  }

  write(offset: number, data: Uint8Array): void {
    this.assertPowered("write");
    this.assertRange("write", offset, data.length);
    if (data.length > MAX_WRITE_BYTES) {
      this.fail("write of " + data.length + " bytes at " + hex(offset) + " exceeds " + MAX_WRITE_BYTES + " bytes per call");
    }
    for (let i = 0; i < data.length; i++) {
      const old = this.bytes[offset + i];
      if ((data[i] & ~old & 0xff) !== 0) {
        this.violations.push(
          "write at " + hex(offset + i) + " tries to set bits: old " + hex(old) + " new " + hex(data[i]) + " (sector not erased?)",
        );
        break; // one entry per write call keeps the list readable
      }
    }
    this.ops++;
    this.stats.writes++;
    this.stats.bytesWritten += data.length;
    if (this.cutDue()) {
      this.programPartially(offset, data);
      this.die("write of " + data.length + " bytes at " + hex(offset));
    }
    for (let i = 0; i < data.length; i++) this.bytes[offset + i] &= data[i];
  }

  erase(sectorOffset: number): void {
    this.assertPowered("erase");
    this.assertRange("erase", sectorOffset, SECTOR_SIZE);
    if (sectorOffset % SECTOR_SIZE !== 0) this.fail("erase at " + hex(sectorOffset) + " is not sector aligned");
    this.ops++;
    this.stats.erases++;
    if (this.cutDue()) {
      this.erasePartially(sectorOffset);
      this.die("erase of sector " + hex(sectorOffset));
    }
    this.bytes.fill(0xff, sectorOffset, sectorOffset + SECTOR_SIZE);
  }

  /**
   * One mutating operation of a model whose bytes live outside `bytes` but on this chip (the
   * Storage model, storage-module.ts): it needs power like write()/erase() (PowerCutError when
   * off) and counts in `ops` and in the cutPowerAfter countdown. When the scheduled cut lands on
   * it, `leaveHalfDone` runs, the chip powers off (onPowerCut) and PowerCutError is thrown;
   * otherwise it returns and the caller carries the operation out.
   */
  externalOperation(what: string, leaveHalfDone?: () => void): void {
    this.assertPowered(what);
    this.ops++;
    if (this.cutDue()) {
      leaveHalfDone?.();
      this.die(what);
    }
  }

  snapshot(): Uint8Array {
    return this.bytes.slice();
  }

  /** A FlashPort view for core unit tests; `base` is subtracted from every offset the caller passes. */
  asPort(base = 0): FlashPort {
    return {
      read: (offset, length) => this.read(offset - base, length),
      write: (offset, data) => this.write(offset - base, data),
      eraseSector: (offset) => this.erase(offset - base),
    };
  }

  private cutDue(): boolean {
    if (this.cutCountdown === null) return false;
    this.cutCountdown--;
    return this.cutCountdown === 0;
  }

  private die(what: string): never {
    this.poweredOff = true;
    this.cutCountdown = null;
    if (this.onPowerCut) this.onPowerCut();
    throw new PowerCutError("power cut during " + what);
  }

  /** Programming goes byte by byte from the start; the byte in flight has only some of its bits cleared. */
  private programPartially(offset: number, data: Uint8Array): void {
    const done = Math.floor(this.random() * data.length);
    for (let i = 0; i < done; i++) this.bytes[offset + i] &= data[i];
    if (done < data.length && this.random() < 0.5) {
      const someBits = Math.floor(this.random() * 256);
      this.bytes[offset + done] &= data[done] | someBits;
    }
  }

  /**
   * NOR erase first pre-programs the sector to 0x00 and then erases it. A cut leaves an erased
   * prefix, a pre-programmed run after it, and the rest untouched.
   */
  private erasePartially(sectorOffset: number): void {
    const erased = 1 + Math.floor(this.random() * (SECTOR_SIZE - 1));
    const zeroed = Math.floor(this.random() * (SECTOR_SIZE - erased));
    this.bytes.fill(0xff, sectorOffset, sectorOffset + erased);
    this.bytes.fill(0x00, sectorOffset + erased, sectorOffset + erased + zeroed);
  }

  private assertPowered(what: string): void {
    if (this.poweredOff) throw new PowerCutError("flash is powered off (" + what + ")");
  }

  private assertRange(what: string, offset: number, length: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      this.fail(what + " of " + length + " bytes at " + hex(offset) + " is outside the " + hex(this.size) + "-byte chip");
    }
  }

  private fail(message: string): never {
    this.violations.push(message);
    throw new Error("NorFlash: " + message);
  }
}
