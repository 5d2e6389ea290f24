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

/** Storage starts each file at a multiple of 4 bytes (JSF_ALIGNMENT of a 32-bit build without FLASH_64BITS_ALIGNMENT). */
export const STORAGE_ALIGNMENT = 4;

/** A file to put in the emulated flash's Storage (binary string, one char per byte). */
export interface LinuxStorageFile {
  name: string;
  data: string;
}

/** Bytes of Storage (headers, data and alignment) that fit before the layout (Storage must see an erased page after the last file). */
export function storageCapacity(board: BoardConfig): number {
  const start = layoutStart(board);
  // The last file must end at least one whole erased page before the layout: Storage looks for
  // the next header after the file and then at the next page start, and must find 0xFF there.
  return Math.floor(start / LINUX_PAGE_SIZE) * LINUX_PAGE_SIZE - LINUX_PAGE_SIZE;
}

/** Bytes of code that fit as a lone .bootcde before the layout. */
export function bootCodeCapacity(board: BoardConfig): number {
  return storageCapacity(board) - STORAGE_HEADER_SIZE;
}

const align = (n: number) => Math.ceil(n / STORAGE_ALIGNMENT) * STORAGE_ALIGNMENT;

/** Storage bytes `files` take laid end to end: header, data, padding to the next file. */
export function storageBytes(files: LinuxStorageFile[]): number {
  return files.reduce((n, f, i) => n + (i === files.length - 1 ? STORAGE_HEADER_SIZE + f.data.length : align(STORAGE_HEADER_SIZE + f.data.length)), 0);
}

/**
 * The whole espruino.flash: the board's ESP32 layout with `bootApp` in its first app slot and
 * `files` in Storage at the start, one after the other as the build lays them out. A string
 * stands for a lone `.bootcde`, which Espruino runs at power-on. Boot files (`.boot0`..`.boot3`,
 * then `.bootcde`) run in that order whatever their place in flash.
 */
export function linuxFlashFile(board: BoardConfig, bootApp: Uint8Array, files: LinuxStorageFile[] | string): Uint8Array {
  if (board.flash.size !== LINUX_FLASH_SIZE || board.flash.base !== LINUX_FLASH_BASE) {
    throw new RangeError(board.name + ": the Linux build emulates " + LINUX_FLASH_SIZE + " bytes at 0x" + LINUX_FLASH_BASE.toString(16) + ", the board says " + board.flash.size + " at 0x" + board.flash.base.toString(16));
  }
  const list = typeof files === "string" ? [{ name: ".bootcde", data: files }] : files;
  const names = new Set<string>();
  for (const f of list) {
    if (names.has(f.name)) throw new RangeError("Storage file " + JSON.stringify(f.name) + " given twice");
    names.add(f.name);
    if (/[^\x00-\x7f]/.test(f.data) && isBootFile(f.name)) throw new RangeError(f.name + " must be ASCII (the Linux build decodes UTF-8, an ESP32 does not)");
  }
  const capacity = storageCapacity(board);
  const used = storageBytes(list);
  if (used > capacity) {
    const what = list.length === 1 ? list[0].name + " is " + list[0].data.length + " bytes but only " + (capacity - STORAGE_HEADER_SIZE) : "Storage files " + list.map((f) => f.name + " (" + f.data.length + ")").join(", ") + " take " + used + " bytes but only " + capacity;
    throw new RangeError(what + " fit before the layout at 0x" + layoutStart(board).toString(16) + " of " + board.name);
  }
  const flash = buildFlashImage(board, { bootApp, bootloaderStub: false });
  let at = 0;
  for (const f of list) {
    const file = storageFile(f.name, Buffer.from(f.data, "latin1"));
    flash.set(file, at);
    at += align(file.length);
  }
  return flash;
}

/** Files Espruino evaluates at power-on, in the order it runs them. */
export const BOOT_ORDER = [".boot0", ".boot1", ".boot2", ".boot3", ".bootcde"];

export function isBootFile(name: string): boolean {
  return BOOT_ORDER.includes(name);
}
