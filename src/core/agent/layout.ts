// What the agent learns from flash at start-up: the slot that booted (by the bootloader's own
// rules, from the partition table and the otadata copies), the slot updates go to, and the
// version inside the running one. The version reported as "running" always comes from the app
// descriptor of that slot, so the agent never claims a version it is not running.
//
// Memory (Espruino): the parsed table (~8 partition objects, its arrays: 100+ JsVars) is not
// kept. The job holds the two slots it needs; a switch parses the table again (readTable), as
// it re-reads the otadata copies.
import type { BoardConfig } from "../board";
import type { FlashPort, Md5Factory } from "../ports";
import { otaError } from "../errors";
import { parsePartitionTable, PartitionTable } from "../esp32/partition-table";
import type { FlashRegion } from "../esp32/guarded-writer";
import { readOtadata, selectBootSlot, chooseTarget } from "../esp32/otadata";
import { readAppDescriptor } from "../esp32/app-image";

/**
 * The job keeps the two slots as plain regions: a partition object's type, subtype and flags
 * (three more properties, ~5 JsVars per slot on the board) are not read after start-up.
 */
export interface Layout {
  running: FlashRegion;
  /** The slot updates are written to (never the running one). */
  target: FlashRegion;
  /** Version from the running slot's app descriptor ("unknown" when it has none). */
  runningVersion: string;
}

/**
 * The partition table in flash, parsed and checked as the bootloader does, with the otadata
 * partition a switch needs. Its MD5 goes through the board's backend: with a proven ROM the JS
 * one (and its ~260 JsVars of pretokenised code) is never loaded (docs/rom-md5.md#memory).
 */
export function readTable(board: BoardConfig, flash: FlashPort, md5: Md5Factory): PartitionTable {
  const at = board.partitionTable.offset;
  const table = parsePartitionTable((o, n) => flash.read(at + o, n), (d) => {
    const m = md5.create();
    m.update(d, 0, d.length);
    return m.digest();
  }, board.flash.size);
  if (!table.otadata) throw otaError("PT_NO_OTADATA", "the partition table has no otadata partition, so the boot slot cannot be switched");
  return table;
}

export function readLayout(board: BoardConfig, flash: FlashPort, md5: Md5Factory): Layout {
  const table = readTable(board, flash, md5);
  // A rollback bootloader has already turned an unconfirmed PENDING_VERIFY into ABORTED
  // before this app started; selecting as it did tells which slot is running. The copies
  // are not kept: every switch re-reads them (no entry objects held while the job runs).
  const running = selectBootSlot(table, readOtadata(flash, table.otadata!), false).partition;
  const target = chooseTarget(table, running);
  const desc = readAppDescriptor(flash, running.offset);
  return {
    running: { label: running.label, offset: running.offset, size: running.size },
    target: { label: target.label, offset: target.offset, size: target.size },
    runningVersion: desc ? desc.version : "unknown",
  };
}
