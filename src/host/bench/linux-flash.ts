// The espruino.flash file that Espruino's Linux build reads from its working directory:
// FLASH_TOTAL (256 KB) of emulated NOR flash at 0x10000000, 1 KB pages, and Storage spanning
// all of it (targets/linux/jshardware.c, gen/platform_config.h of a BOARD=LINUX build).
//
// A board keeps the agent in Storage as `.bootcde`, where function code stays in flash and
// costs no RAM. The bench does the same here: the bundle goes in as a Storage file at the
// start of the emulated flash, and the ESP32 layout of boards/espruino-linux.json sits after
// it. The file format was taken from what the build itself writes for
// `require("Storage").write(".bootcde", code)`: a 32-byte header (u32 little-endian length,
// top 8 bits flags = 0, then the name zero-padded to 28 bytes) followed by the bytes.
import type { BoardConfig } from "../../core/board";
import { buildFlashImage } from "../image/flash-image";

export const LINUX_FLASH_SIZE = 0x40000;
export const LINUX_FLASH_BASE = 0x10000000;
export const LINUX_PAGE_SIZE = 1024;
export const STORAGE_HEADER_SIZE = 32;
const STORAGE_NAME_MAX = 28;

/** One Storage file as the Linux build lays it out in flash: header, then data. */
export function storageFile(name: string, data: Uint8Array): Uint8Array {
  if (name.length === 0 || name.length > STORAGE_NAME_MAX) throw new RangeError("Storage file name must be 1.." + STORAGE_NAME_MAX + " characters: " + JSON.stringify(name));
  if (data.length >= 0x1000000) throw new RangeError("Storage file too large: " + data.length + " bytes");
  const out = new Uint8Array(STORAGE_HEADER_SIZE + data.length);
  new DataView(out.buffer).setUint32(0, data.length, true);
  out.set(Buffer.from(name, "latin1"), 4);
  out.set(data, STORAGE_HEADER_SIZE);
  return out;
}

/** Lowest flash offset the board's ESP32 layout uses: Storage must end before it. */
export function layoutStart(board: BoardConfig): number {
  const offsets = [board.partitionTable.offset, board.journal.offset, ...board.partitionTable.partitions.map((p) => p.offset)];
  return Math.min(...offsets);
}

/** Bytes of code that fit as .bootcde before the layout (Storage must see an erased page after the file). */
export function bootCodeCapacity(board: BoardConfig): number {
  const start = layoutStart(board);
  // The file must end at least one whole erased page before the layout: Storage looks for the
  // next header after the file and then at the next page start, and must find 0xFF there.
  return Math.floor(start / LINUX_PAGE_SIZE) * LINUX_PAGE_SIZE - LINUX_PAGE_SIZE - STORAGE_HEADER_SIZE;
}

/**
 * The whole espruino.flash: the board's ESP32 layout with `bootApp` in its first app slot and
 * `bootCode` stored as Storage's `.bootcde` at the start, which Espruino runs at power-on.
 */
export function linuxFlashFile(board: BoardConfig, bootApp: Uint8Array, bootCode: string): Uint8Array {
  if (board.flash.size !== LINUX_FLASH_SIZE || board.flash.base !== LINUX_FLASH_BASE) {
    throw new RangeError(board.name + ": the Linux build emulates " + LINUX_FLASH_SIZE + " bytes at 0x" + LINUX_FLASH_BASE.toString(16) + ", the board says " + board.flash.size + " at 0x" + board.flash.base.toString(16));
  }
  const code = Buffer.from(bootCode, "latin1");
  if (/[^\x00-\x7f]/.test(bootCode)) throw new RangeError(".bootcde must be ASCII (the Linux build decodes UTF-8, an ESP32 does not)");
  const capacity = bootCodeCapacity(board);
  if (code.length > capacity) {
    throw new RangeError(".bootcde is " + code.length + " bytes but only " + capacity + " fit before the layout at 0x" + layoutStart(board).toString(16) + " of " + board.name);
  }
  const flash = buildFlashImage(board, { bootApp, bootloaderStub: false });
  flash.set(storageFile(".bootcde", code), 0);
  return flash;
}
