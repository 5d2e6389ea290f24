// What the espruino CLI needs to know about the board, written to a local file so it never
// downloads www.espruino.com/json/<BOARD>.json: the firmware version (without it the CLI
// refuses to upload into Storage), the modules built into the firmware (so it does not look
// them up online), and where Storage lives. Also the size limit a bundle must respect.
import type { BoardConfig } from "../../core/board";
import { FORMATS_FILE, JOB_FILE } from "../../core/provision";

/** Espruino's ESP32 firmware keeps Storage here (boards/ESP32.py saved_code) when the board file has no "storage" partition. */
export const ESPRUINO_ESP32_STORAGE = { offset: 0x320000, size: 0xe0000 };

/**
 * Storage left free for what else lives there: Espruino's own files (Wifi.save(), .boot0...)
 * and the trash an earlier .bootcde leaves until Storage compacts itself.
 */
export const STORAGE_RESERVE_BYTES = 64 * 1024;

/** Every Storage file starts with a 32-byte header (docs/espruino-runtime.md#storage-and-flash). */
const STORAGE_FILE_HEADER = 32;

/** Modules built into Espruino 2v29's ESP32 firmware (the libraries of Espruino's boards/ESP32.py, https://github.com/espruino/Espruino/blob/master/boards/ESP32.py). */
export const ESP32_BUILTIN_MODULES = ["Flash", "Storage", "heatshrink", "fs", "net", "dgram", "http", "NetworkJS", "Wifi", "ESP32", "TelnetServer", "crypto", "tls", "neopixel"];

const ESPRUINO_BOARD_NAMES: Record<BoardConfig["chip"], string> = { esp32: "ESP32", esp32s2: "ESP32S2", esp32s3: "ESP32S3", esp32c3: "ESP32C3" };

export interface StorageArea {
  offset: number;
  size: number;
  /** Where the numbers come from, for messages. */
  source: string;
}

/** The Storage area of the board: its data partition labelled "storage", else Espruino's default. */
export function storageArea(board: BoardConfig): StorageArea {
  const p = board.partitionTable.partitions.find((x) => x.label === "storage" && x.type === "data");
  if (p) return { offset: p.offset, size: p.size, source: `partition "storage" (0x${p.size.toString(16)} bytes at 0x${p.offset.toString(16)})` };
  return { ...ESPRUINO_ESP32_STORAGE, source: "Espruino's ESP32 Storage area (no \"storage\" partition in the board file)" };
}

/** Largest bundle that may go into Storage as .bootcde on this board. */
export function bundleLimit(board: BoardConfig): number {
  return Math.max(0, storageArea(board).size - STORAGE_RESERVE_BYTES - STORAGE_FILE_HEADER);
}

/** Parses "2v29" into the numbers the CLI checks (VERSION_MAJOR > 1 or VERSION_MINOR >= 96 means Storage exists). */
export function parseEspruinoVersion(v: string): { major: number; minor: number } {
  const m = /^(\d+)v(\d+)/.exec(v);
  if (!m) throw new Error(`Espruino version "${v}" is not of the form 2v29`);
  return { major: Number(m[1]), minor: Number(m[2]) };
}

/** The local board description handed to `espruino --board file.json`. */
export function espruinoBoardJson(board: BoardConfig, espruinoVersion = "2v29"): Record<string, unknown> {
  const { major, minor } = parseEspruinoVersion(espruinoVersion);
  const storage = storageArea(board);
  return {
    BOARD: ESPRUINO_BOARD_NAMES[board.chip],
    VERSION: espruinoVersion,
    VERSION_MAJOR: major,
    VERSION_MINOR: minor,
    MODULES: ESP32_BUILTIN_MODULES.join(","),
    info: { builtin_modules: ESP32_BUILTIN_MODULES },
    chip: { family: "ESP32", saved_code: { address: storage.offset, page_size: 4096, pages: storage.size / 4096 } },
  };
}

/**
 * Module names the bundle loads with require("...") that neither the firmware has built in nor the
 * install writes to Storage itself (the job, JOB_FILE, and the flash formats, FORMATS_FILE, which require() finds there).
 */
export function missingModules(bundle: string): string[] {
  const out = new Set<string>();
  const re = /\brequire\(\s*["']([^"']+)["']\s*\)/g;
  for (let m = re.exec(bundle); m; m = re.exec(bundle)) if (!ESP32_BUILTIN_MODULES.includes(m[1]) && m[1] !== JOB_FILE && m[1] !== FORMATS_FILE) out.add(m[1]);
  return [...out];
}
