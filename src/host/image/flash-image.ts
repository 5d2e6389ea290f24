// A whole flash chip as bytes, as `esptool write_flash` would leave it: partition table
// at its offset, apps in their slots, otadata as given, 0xFF everywhere else.

import { buildPartitionTable, PartitionInput, partitionTypeCode, partitionSubtypeCode } from "./partition-table-builder";
import { writeOtadataEntry, OtadataEntryInput } from "./otadata-entry";

/** The parts of BoardConfig (src/core/board.ts) a flash image needs. */
export interface FlashLayout {
  flash: { size: number };
  partitionTable: { offset: number; partitions: PartitionInput[] };
}

export interface FlashImageOptions {
  /** Written to the slot the bootloader boots with blank otadata: factory, else ota_0. */
  bootApp?: Uint8Array;
  /** More apps by partition label. */
  apps?: Record<string, Uint8Array>;
  /** Otadata copies 0 and 1 (null or missing = erased). */
  otadata?: (OtadataEntryInput | null)[];
  /** A stand-in second-stage bootloader at 0x1000, so tests can see it is never touched. */
  bootloaderStub?: boolean;
}

export function findPartition(layout: FlashLayout, type: string, subtype: string): PartitionInput | undefined {
  const t = partitionTypeCode(type);
  const s = partitionSubtypeCode(t, subtype);
  return layout.partitionTable.partitions.find((p) => {
    const pt = partitionTypeCode(p.type);
    return pt === t && partitionSubtypeCode(pt, p.subtype) === s;
  });
}

export function buildFlashImage(layout: FlashLayout, opts: FlashImageOptions = {}): Uint8Array {
  const flash = new Uint8Array(layout.flash.size).fill(0xff);
  if (opts.bootloaderStub !== false) {
    const stub = new Uint8Array(0x100);
    for (let i = 0; i < stub.length; i++) stub[i] = (i * 7 + 0xe9) & 0xff;
    stub[0] = 0xe9;
    flash.set(stub, 0x1000);
  }
  flash.set(buildPartitionTable(layout.partitionTable.partitions), layout.partitionTable.offset);
  const put = (p: PartitionInput | undefined, app: Uint8Array, what: string) => {
    if (!p) throw new RangeError("no partition for " + what);
    if (app.length > p.size) throw new RangeError(what + " (" + app.length + " bytes) does not fit " + p.label);
    flash.set(app, p.offset);
  };
  if (opts.bootApp) put(findPartition(layout, "app", "factory") ?? findPartition(layout, "app", "ota_0"), opts.bootApp, "boot app");
  for (const label of Object.keys(opts.apps ?? {})) {
    put(layout.partitionTable.partitions.find((p) => p.label === label), opts.apps![label], label);
  }
  if (opts.otadata) {
    const od = findPartition(layout, "data", "ota");
    if (!od) throw new RangeError("layout has no otadata partition");
    for (let c = 0; c < 2; c++) writeOtadataEntry(flash, od.offset, c, opts.otadata[c] ?? null);
  }
  return flash;
}
