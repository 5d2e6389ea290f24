// A deliberately plain model of the ESP-IDF second-stage bootloader deciding what to boot
// (docs/esp32-formats.md#otadata-selection; bootloader_utility_get_selected_boot_partition and
// bootloader_utility_load_boot_image). Written apart from src/core/esp32/otadata.ts so
// that tests can check one against the other; it also stands in for the bootloader in
// power-cut and reliability runs. It follows the bootloader literally, quirks included.

import { createHash } from "node:crypto";
import { otaCrc, OTA_NEW, OTA_PENDING_VERIFY, OTA_VALID, OTA_INVALID, OTA_ABORTED } from "./otadata-entry";
import { validateAppImage } from "./validate-image";

export interface BootModelOptions {
  /** CONFIG_PARTITION_TABLE_OFFSET, default 0x8000. */
  tableOffset?: number;
  /** CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE in the bootloader's sdkconfig. */
  rollbackBootloader: boolean;
  /** esp_image_header_t.chip_id the bootloader accepts (ESP32: 0). */
  chipId?: number;
}

export interface ModelSlot {
  label: string;
  offset: number;
  size: number;
  /** -1 factory, 0..15 ota_N, -2 test (the bootloader's own index numbering). */
  index: number;
}

export interface BootOutcome {
  /**
   * The slot chosen from otadata, i.e. the first one the bootloader tries to load (null: the
   * table is unusable or has no app). Whether it holds a valid image is `selectedValid`.
   */
  selected: ModelSlot | null;
  /** Whether `selected` holds an image that passes verification. */
  selectedValid: boolean;
  /** What actually runs after the bootloader's fallback search; null = no bootable image (boot loop). */
  booted: ModelSlot | null;
  /** The flash after the bootloader's own otadata writes (the input array when it wrote nothing). */
  flash: Uint8Array;
  /** Bootloader-side log, for failure messages. */
  log: string[];
}

const FACTORY_INDEX = -1;
const TEST_INDEX = -2;
const SECTOR = 0x1000;

interface Layout {
  factory: ModelSlot | null;
  test: ModelSlot | null;
  ota: (ModelSlot | null)[];
  appCount: number;
  otadata: { offset: number; size: number } | null;
}

function u32(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

/** esp_partition_table_verify + bootloader_utility_load_partition_table. */
function loadTable(flash: Uint8Array, at: number, log: string[]): Layout | null {
  const layout: Layout = { factory: null, test: null, ota: new Array(16).fill(null), appCount: 0, otadata: null };
  let md5Seen = false;
  for (let i = 0; i < 96; i++) {
    const e = at + i * 32;
    const magic = flash[e] | (flash[e + 1] << 8);
    if (magic === 0x50aa) {
      const type = flash[e + 2];
      const subtype = flash[e + 3];
      const offset = u32(flash, e + 4);
      const size = u32(flash, e + 8);
      if (offset > flash.length || offset + size > flash.length) {
        log.push("partition " + i + " beyond flash");
        return null;
      }
      let label = "";
      for (let k = 0; k < 16 && flash[e + 12 + k] !== 0; k++) label += String.fromCharCode(flash[e + 12 + k]);
      if (type === 0x00) {
        if (subtype === 0x00) layout.factory = { label, offset, size, index: FACTORY_INDEX };
        else if (subtype === 0x20) layout.test = { label, offset, size, index: TEST_INDEX };
        else if ((subtype & 0xf0) === 0x10) {
          layout.ota[subtype & 0x0f] = { label, offset, size, index: subtype & 0x0f };
          layout.appCount++;
        }
      } else if (type === 0x01 && subtype === 0x00) {
        layout.otadata = { offset, size };
      }
    } else if (magic === 0xebeb) {
      if (md5Seen) return null;
      md5Seen = true;
      const digest = createHash("md5").update(flash.subarray(at, e)).digest();
      if (!digest.equals(flash.subarray(e + 16, e + 32))) {
        log.push("partition table MD5 mismatch");
        return null;
      }
    } else if (i !== 0 && magic === 0xffff && flash[e + 2] === 0xff && flash[e + 3] === 0xff) {
      return layout;
    } else {
      log.push("partition table: invalid magic at entry " + i);
      return null;
    }
  }
  log.push("partition table has no terminator");
  return null;
}

function firstPresent(layout: Layout): ModelSlot | null {
  for (let i = 0; i < layout.appCount; i++) if (layout.ota[i]) return layout.ota[i];
  return null;
}

interface Entry {
  seq: number;
  state: number;
  crc: number;
}

function readEntry(flash: Uint8Array, at: number): Entry {
  return { seq: u32(flash, at), state: u32(flash, at + 24), crc: u32(flash, at + 28) };
}

function entryInvalid(e: Entry): boolean {
  return e.seq === 0xffffffff || e.state === OTA_INVALID || e.state === OTA_ABORTED;
}

function entryValid(e: Entry): boolean {
  return !entryInvalid(e) && e.crc === otaCrc(e.seq);
}

/**
 * Runs one boot: otadata selection (with the rollback bootloader's state writes), then
 * the image search. Never modifies `flash`; the bootloader's writes go to a copy.
 */
export function simulateBoot(input: Uint8Array, opts: BootModelOptions): BootOutcome {
  const log: string[] = [];
  let flash = input;
  const writable = () => {
    if (flash === input) flash = new Uint8Array(input);
    return flash;
  };
  /** write_otadata: erase the sector, program the 32-byte struct (label bytes kept as read). */
  const writeEntry = (at: number, e: Entry) => {
    const f = writable();
    const label = f.slice(at + 4, at + 24);
    f.fill(0xff, at, at + SECTOR);
    const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
    dv.setUint32(at, e.seq, true);
    f.set(label, at + 4);
    dv.setUint32(at + 24, e.state, true);
    dv.setUint32(at + 28, e.crc, true);
  };
  const none = (): BootOutcome => ({ selected: null, selectedValid: false, booted: null, flash, log });

  const layout = loadTable(input, opts.tableOffset ?? 0x8000, log);
  if (!layout) return none();
  const slotAt = (index: number): ModelSlot | null =>
    index === FACTORY_INDEX ? layout.factory : index === TEST_INDEX ? layout.test : layout.ota[index];

  let start: number;
  let initialContents = false;
  const od = layout.otadata;
  if (!od) {
    start = FACTORY_INDEX;
  } else {
    if (od.size < 2 * SECTOR) {
      log.push("otadata smaller than two sectors");
      return none();
    }
    const two = [readEntry(input, od.offset), readEntry(input, od.offset + SECTOR)];
    if (opts.rollbackBootloader) {
      for (let i = 0; i < 2; i++) {
        if (two[i].state === OTA_PENDING_VERIFY) {
          log.push("otadata[" + i + "] PENDING_VERIFY -> ABORTED");
          two[i] = { ...two[i], state: OTA_ABORTED };
          writeEntry(od.offset + i * SECTOR, two[i]);
        }
      }
    }
    if ((entryInvalid(two[0]) && entryInvalid(two[1])) || layout.appCount === 0) {
      if (layout.factory) {
        start = FACTORY_INDEX;
      } else {
        start = 0;
        const blankOrBad = (e: Entry) => e.seq === 0xffffffff || e.crc !== otaCrc(e.seq);
        if (blankOrBad(two[0]) && blankOrBad(two[1])) initialContents = true;
      }
    } else {
      const v0 = entryValid(two[0]);
      const v1 = entryValid(two[1]);
      const active = v0 && v1 ? (Math.max(two[0].seq, two[1].seq) === two[0].seq ? 0 : 1) : v0 ? 0 : v1 ? 1 : -1;
      if (active >= 0) {
        start = ((two[active].seq - 1) >>> 0) % layout.appCount;
        log.push("otadata[" + active + "] seq " + two[active].seq + " -> ota_" + start);
        if (opts.rollbackBootloader && two[active].state === OTA_NEW) {
          log.push("otadata[" + active + "] NEW -> PENDING_VERIFY");
          writeEntry(od.offset + active * SECTOR, { ...two[active], state: OTA_PENDING_VERIFY });
        }
      } else {
        log.push("otadata invalid, factory or try all");
        start = FACTORY_INDEX;
      }
    }
  }

  // "Try all partitions" (start at factory without one) begins its search at ota_0.
  const selected = slotAt(start) ?? (start === FACTORY_INDEX ? firstPresent(layout) : null);
  const chipId = opts.chipId ?? 0;
  const loads = (s: ModelSlot | null) => !!s && s.size > 0 && validateAppImage(input, s.offset, s.size, chipId).ok;
  const selectedValid = loads(selected);
  const boot = (s: ModelSlot): BootOutcome => {
    if (s.index > FACTORY_INDEX && initialContents && od) {
      log.push("set actual ota_seq " + (s.index + 1) + " in otadata[0]");
      writeEntry(od.offset, { seq: s.index + 1, state: OTA_VALID, crc: otaCrc(s.index + 1) });
    }
    return { selected, selectedValid, booted: s, flash, log };
  };
  for (let i = start; i >= FACTORY_INDEX; i--) {
    const s = slotAt(i);
    if (loads(s)) return boot(s!);
    if (s) log.push(s.label + ": no valid image");
  }
  for (let i = start + 1; i < layout.appCount; i++) {
    const s = slotAt(i);
    if (loads(s)) return boot(s!);
    if (s) log.push(s.label + ": no valid image");
  }
  if (loads(layout.test)) {
    log.push("falling back to the test app");
    return { selected, selectedValid, booted: layout.test, flash, log };
  }
  log.push("no bootable image");
  return { selected, selectedValid, booted: null, flash, log };
}
