// require("Storage") as Espruino 2v29 has it (src/jsflash.c, src/jswrap_storage.c), over a model
// of its area (StorageModel, kept in Device.storage). Files lie one after another, each a 32-byte
// header plus its data padded to 4 bytes. Erasing a file, or replacing it (a write at offset 0
// with other data, another size, or into bytes already written), only marks the old one deleted:
// its bytes become trash that nothing reuses until a compaction, and the new file goes after the
// last one. getFree() is what is left after the last file. When a new file does not fit there,
// Espruino compacts Storage on its own (moves every live file down through RAM over the trash)
// and tries again, and fails when it still does not fit. Compaction is not power-safe on a board:
// each one is counted (StorageModel.compactions, Device.storageCompactions, a Device event
// "storage compacted (not power-safe)") so tests can demand that code never causes one.
// The write rules that bite on the board hold too: offset writes only into still-erased (0xFF)
// bytes, 28-char names, no empty files.
//
// Power cuts: the files are not laid out in the NorFlash image, but every mutating operation
// (creating a file with its data, a write at an offset, an erase, a compaction, eraseAll) is one
// operation of the device's NorFlash (NorFlash.externalOperation): it throws like the chip when
// the power is off, and a cut scheduled with cutPowerAfter(n) can land on it. Replacing a file is
// an erase, maybe a compaction, then a creation: up to three operations. A cut leaves:
// - a creation or a write at an offset: the file (created, header written) with the first half
//   of the bytes being written, rounded down to 4 bytes, and the rest still erased (0xFF);
// - an erase: the file as it was, not deleted (on a chip a half-cleared name word could also
//   leave it under a garbled name, which is not modelled);
// - a compaction: nothing moved (the model's compaction is atomic), the compaction counted, and
//   a device violation, because on a board the files in RAM at that moment are lost;
// - eraseAll: an empty Storage (the first page goes first, so no file is reachable any more).
// Changes through the Map itself (Device's files at power on, Device.setFile, storage.delete in
// tests) follow the same layout rules but are not flash operations and cannot be cut.

import { binaryToBytes, bytesToBinary, viewBytes } from "./bytes";
import { PowerCutError, type NorFlash } from "./nor-flash";
import type { Session } from "./session";

export const STORAGE_BYTES = 896 * 1024;
/** Each file's header (JsfFileHeader): size and flags (4 bytes), then the 28-byte name. */
export const STORAGE_HEADER_BYTES = 32;
const MAX_NAME = 28;

/** What Storage.getStats() returns. */
export interface StorageStats {
  totalBytes: number;
  /** Free bytes after the last file (live or trash): the largest file that fits without compacting. */
  freeBytes: number;
  fileBytes: number;
  fileCount: number;
  trashBytes: number;
  trashCount: number;
}

/** The bytes a file of `size` data bytes takes in Storage: header plus data padded to 4 bytes. */
export function storageFootprint(size: number): number {
  return ((size + 3) & ~3) + STORAGE_HEADER_BYTES;
}

/**
 * Espruino's Storage area: a Map of the live files (name to contents, in the order they lie in
 * flash) plus the trash before the end. Map changes (set, delete, clear) follow Storage's rules:
 * set() and delete() leave the old file as trash, set() puts the file at the end and compacts
 * when needed. Storage's module (createStorageModule) adds the power-cut model on top.
 */
export class StorageModel extends Map<string, Uint8Array> {
  readonly totalBytes: number;
  /** Bytes (headers included) and number of deleted files not yet reclaimed by a compaction. */
  trashBytes = 0;
  trashCount = 0;
  /** Compactions so far (automatic or Storage.compact()); none of them is power-safe on a board. */
  compactions = 0;
  /** Called at every compaction (also one a power cut interrupted). */
  onCompact?: () => void;
  /** Data bytes of the trash (no headers, not padded): what _jsfCreateFile weighs before compacting. */
  private trashData = 0;

  constructor(totalBytes = STORAGE_BYTES) {
    super();
    if (!(Number.isInteger(totalBytes) && totalBytes > 0)) throw new Error("StorageModel needs a positive size, got " + totalBytes);
    this.totalBytes = totalBytes;
  }

  /** Bytes taken by the live files, headers included. */
  get fileBytes(): number {
    let n = 0;
    for (const f of this.values()) n += storageFootprint(f.length);
    return n;
  }

  /** Free bytes after the last file: what getFree() returns. */
  get freeBytes(): number {
    return this.totalBytes - this.fileBytes - this.trashBytes;
  }

  stats(): StorageStats {
    return {
      totalBytes: this.totalBytes,
      freeBytes: this.freeBytes,
      fileBytes: this.fileBytes,
      fileCount: this.size,
      trashBytes: this.trashBytes,
      trashCount: this.trashCount,
    };
  }

  /**
   * Whether a new file of `size` bytes fits after the last file ("fits"), would fit after the
   * compaction Espruino then does ("compact"; it only compacts when sure that helps), or not ("full").
   */
  room(size: number): "fits" | "compact" | "full" {
    const need = storageFootprint(size);
    const free = this.freeBytes;
    if (need <= free) return "fits";
    return this.trashCount > 0 && need < free + this.trashData ? "compact" : "full";
  }

  /** Marks a file deleted (jsfEraseFileInternal): its bytes become trash. False when there is no such file. */
  trash(name: string): boolean {
    const file = super.get(name);
    if (!file) return false;
    this.trashBytes += storageFootprint(file.length);
    this.trashData += file.length;
    this.trashCount++;
    super.delete(name);
    return true;
  }

  /** A new file of `size` erased bytes after the last one (room() must have said "fits"). */
  append(name: string, size: number): Uint8Array {
    if (super.has(name)) throw new Error("StorageModel.append: " + name + " exists");
    if (storageFootprint(size) > this.freeBytes) throw new Error("StorageModel.append: no room for " + name);
    const file = new Uint8Array(size).fill(0xff);
    super.set(name, file);
    return file;
  }

  /**
   * jsfCompact: moves every live file down over the trash, keeping their order. Without trash it
   * does nothing and counts nothing (jsfBankCompact returns at once). `interrupted`: a power cut
   * hit it, so it is counted but nothing moved.
   */
  compact(interrupted = false): boolean {
    if (this.trashCount === 0) return false;
    this.compactions++;
    if (!interrupted) {
      this.trashBytes = 0;
      this.trashData = 0;
      this.trashCount = 0;
    }
    this.onCompact?.();
    return true;
  }

  /** jsfEraseAll: every page erased, no file and no trash left. */
  eraseAll(): void {
    super.clear();
    this.trashBytes = 0;
    this.trashData = 0;
    this.trashCount = 0;
  }

  /** Writes a whole file like Storage.write(name, data): the old one becomes trash, compacting if needed. */
  override set(name: string, data: Uint8Array): this {
    this.trash(name);
    if (this.room(data.length) === "compact") this.compact();
    if (this.room(data.length) !== "fits") {
      throw new Error("Storage: no room for " + name + " (" + data.length + " bytes, " + this.freeBytes + " free)");
    }
    super.set(name, data);
    return this;
  }

  /** Like Storage.erase(name): the file becomes trash. */
  override delete(name: string): boolean {
    return this.trash(name);
  }

  /** Like Storage.eraseAll(). */
  override clear(): void {
    this.eraseAll();
  }
}

export interface StorageEnv {
  session: Session;
  area: StorageModel;
  /** The chip Storage lives on: its power and its cutPowerAfter countdown. */
  flash: NorFlash;
  /** Called when the chip lost power in the middle of a Storage operation (or was off). */
  powerCut(reason: string): void;
  /** Something that would go wrong on a real board. */
  violation(message: string): void;
}

function toBytes(data: unknown): Uint8Array {
  if (typeof data === "string") return binaryToBytes(data);
  const view = viewBytes(data);
  if (view) return view.slice();
  if (Array.isArray(data)) return Uint8Array.from(data.map((x) => Number(x) & 0xff));
  return binaryToBytes(JSON.stringify(data));
}

/** Espruino's integer argument: undefined and NaN are 0. */
function intArg(v: unknown): number {
  const n = Math.trunc(Number(v));
  return Number.isFinite(n) ? n : 0;
}

function isErased(file: Uint8Array, start: number, length: number): boolean {
  for (let i = start; i < start + length; i++) if (file[i] !== 0xff) return false;
  return true;
}

/** What a power cut leaves of a write of `bytes`: the first half, rounded down to 4 bytes. */
function halfWritten(bytes: Uint8Array): Uint8Array {
  return bytes.subarray(0, (bytes.length >> 1) & ~3);
}

export function createStorageModule(env: StorageEnv): Record<string, unknown> {
  const { session, area, flash } = env;
  const api = session.api;
  const nameOf = (name: unknown): string => String(name).slice(0, MAX_NAME);

  const lostPower = (e: PowerCutError): never => {
    env.powerCut(e.message);
    throw api.error("power cut");
  };
  /**
   * One mutating Storage operation on the chip. Returns when the caller may carry it out;
   * when a scheduled power cut lands on it, `leaveHalfDone` runs and the device dies.
   */
  const onChip = (what: string, leaveHalfDone?: () => void): void => {
    session.assertAlive();
    try {
      flash.externalOperation("Storage " + what, leaveHalfDone);
    } catch (e) {
      if (e instanceof PowerCutError) lostPower(e);
      throw e;
    }
  };
  const assertPowered = (what: string): void => {
    if (flash.poweredOff) lostPower(new PowerCutError("flash is powered off (Storage " + what + ")"));
  };

  const eraseFile = (n: string): boolean => {
    session.assertAlive();
    if (!area.has(n)) return false;
    onChip('erase of "' + n + '"');
    area.trash(n);
    return true;
  };
  const compact = (): boolean => {
    session.assertAlive();
    if (area.trashCount === 0) return false;
    onChip("compaction", () => {
      area.compact(true);
      env.violation("power cut during a Storage compaction: on a board the files being moved are lost");
    });
    return area.compact();
  };
  const createFile = (n: string, size: number, bytes: Uint8Array): void => {
    let room = area.room(size);
    if (room === "compact") {
      compact();
      room = area.room(size);
    }
    if (room !== "fits") throw api.error("Unable to find or create file");
    onChip("write of " + bytes.length + ' bytes to new file "' + n + '" of ' + size + " bytes", () => {
      area.append(n, size).set(halfWritten(bytes));
    });
    area.append(n, size).set(bytes);
  };

  // jsfWriteFile
  const write = (name: unknown, data: unknown, offset?: unknown, size?: unknown): boolean => {
    session.assertAlive();
    const n = nameOf(name);
    const bytes = toBytes(data);
    const off = intArg(offset);
    let total = intArg(size);
    if (off < 0 || total < 0) return false;
    if (total === 0) total = bytes.length;
    if (total === 0) throw api.error("Can't create zero length file");
    const file = area.get(n);
    // At offset 0 an existing file is used as it is only when it has this size and is still all erased.
    if (off === 0 && !(file && file.length === total && isErased(file, 0, total))) {
      if (file && file.length === total && bytes.length === total && file.every((b, i) => b === bytes[i])) return true;
      if (file) eraseFile(n);
      // The file is created before its data is checked against its size.
      const tooMuch = bytes.length > total;
      createFile(n, total, tooMuch ? new Uint8Array(0) : bytes);
      if (tooMuch) throw api.error("Too much data for file size");
      return true;
    }
    if (!file) throw api.error("Unable to find or create file");
    if (off + bytes.length > file.length) throw api.error("Too much data for file size");
    if (!isErased(file, off, bytes.length)) throw api.error("File already written with different data");
    onChip("write of " + bytes.length + ' bytes at ' + off + ' of "' + n + '"', () => file.set(halfWritten(bytes), off));
    file.set(bytes, off);
    return true;
  };

  const mod = api.object();
  mod.write = api.bridge(write, "write");
  mod.writeJSON = api.bridge((name: unknown, obj: unknown) => write(name, JSON.stringify(obj)), "writeJSON");
  // jsfReadFile: offset and length are clipped to the file; a length <= 0 means up to its end.
  mod.read = api.bridge((name: unknown, offset?: unknown, length?: unknown) => {
    assertPowered("read");
    const file = area.get(nameOf(name));
    if (!file) return undefined;
    const start = Math.min(Math.max(intArg(offset), 0), file.length);
    let len = intArg(length);
    if (len <= 0) len = file.length;
    return bytesToBinary(file.subarray(start, Math.min(start + len, file.length)));
  }, "read");
  mod.readArrayBuffer = api.bridge((name: unknown) => {
    assertPowered("read");
    const file = area.get(nameOf(name));
    if (!file) return undefined;
    const out = api.arrayBuffer(file.length);
    new Uint8Array(out).set(file);
    return out;
  }, "readArrayBuffer");
  mod.readJSON = api.bridge((name: unknown, noExceptions?: unknown) => {
    assertPowered("read");
    const file = area.get(nameOf(name));
    if (!file) return undefined;
    const text = bytesToBinary(file);
    try {
      return (session.api.evalGlobal("JSON") as JSON).parse(text);
    } catch (e) {
      if (noExceptions) return undefined;
      throw e;
    }
  }, "readJSON");
  mod.erase = api.bridge((name: unknown) => {
    eraseFile(nameOf(name));
  }, "erase");
  mod.eraseAll = api.bridge(() => {
    session.assertAlive();
    onChip("eraseAll", () => area.eraseAll());
    area.eraseAll();
  }, "eraseAll");
  mod.compact = api.bridge(() => {
    compact();
  }, "compact");
  mod.list = api.bridge((pattern?: unknown) => {
    const names = [...area.keys()].filter((n) =>
      pattern && typeof (pattern as RegExp).test === "function" ? (pattern as RegExp).test(n) : true,
    );
    return api.array(names);
  }, "list");
  mod.getFree = api.bridge(() => area.freeBytes, "getFree");
  mod.getStats = api.bridge(() => {
    const s = area.stats();
    const o = api.object();
    for (const [k, v] of Object.entries(s)) o[k] = v;
    return o;
  }, "getStats");
  return mod;
}
