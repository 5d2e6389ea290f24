// What the agent learns from flash at start-up: the partition table, the slot that booted
// (by the bootloader's own rules, from the otadata copies) and the version inside it. The
// version reported as "running" always comes from the app descriptor of that slot, so the
// agent never claims a version it is not running.
import type { BoardConfig } from "../board";
import type { FlashPort } from "../ports";
import { otaError } from "../errors";
import { parsePartitionTable, Partition, PartitionTable, PT } from "../esp32/partition-table";
import { readOtadata, selectBootSlot, chooseTarget } from "../esp32/otadata";
import { readAppDescriptor } from "../esp32/app-image";

export interface Layout {
  table: PartitionTable;
  running: Partition;
  /** The slot updates are written to (never the running one). */
  target: Partition;
  /** Version from the running slot's app descriptor ("unknown" when it has none). */
  runningVersion: string;
}

export function readLayout(board: BoardConfig, flash: FlashPort, md5: (d: Uint8Array) => Uint8Array): Layout {
  const raw = flash.read(board.partitionTable.offset, PT.MaxLen);
  const table = parsePartitionTable(raw, md5, board.flash.size);
  if (!table.otadata) throw otaError("PT_NO_OTADATA", "the partition table has no otadata partition, so the boot slot cannot be switched");
  // A rollback bootloader has already turned an unconfirmed PENDING_VERIFY into ABORTED
  // before this app started; selecting as it did tells which slot is running. The copies
  // are not kept: every switch re-reads them (no entry objects held while the job runs).
  const running = selectBootSlot(table, readOtadata(flash, table.otadata), false).partition;
  const desc = readAppDescriptor(flash, running.offset);
  return {
    table: table,
    running: running,
    target: chooseTarget(table, running),
    runningVersion: desc ? desc.version : "unknown",
  };
}

export function slotByOffset(table: PartitionTable, offset: number): Partition | null {
  const parts = table.partitions;
  for (let i = 0; i < parts.length; i++) if (parts[i].offset === offset && parts[i].type === 0) return parts[i];
  return null;
}
