// Points otadata at an app slot (the switch, and a rollback's switch back), run from the formats
// module (formats.ts): the job needs it only at a switch, so on Espruino its code and the
// partition-table and otadata parsers it calls are loaded just for that and dropped after.
import type { BoardConfig } from "../board";
import type { FlashPort, Md5Factory } from "../ports";
import type { Partition, PartitionTable } from "../esp32/partition-table";
import { FlashRegion, GuardedFlash, protectedRegions } from "../esp32/guarded-writer";
import { Ota, OtaEntry, planSwitch, readOtadata } from "../esp32/otadata";
import { readTable } from "./layout";

/**
 * Plans the otadata writes that boot `slot` (`back`: a rollback's, whose target is VALID, not a
 * trial: the previous image already proved itself) and runs them through a guard that allows
 * exactly the sectors the plan touches and forbids every other partition, the bootloader, the
 * table and the running slot, so a planning slip cannot reach an app slot. The partition table is
 * parsed again here: the job does not hold it through the download (layout.ts), and the table in
 * flash is one the agent never writes.
 */
export function applyOtadata(board: BoardConfig, flash: FlashPort, md5: Md5Factory, running: FlashRegion, slot: number, back: boolean): void {
  let table: PartitionTable | null = readTable(board, flash, md5);
  let parts: Partition[] | null = table.partitions;
  let target: Partition | null = null;
  for (let i = 0; i < parts.length; i++) if (parts[i].offset === slot && parts[i].type === 0) target = parts[i];
  let copies: OtaEntry[] | null = readOtadata(flash, table.otadata!);
  const ops = planSwitch(table, copies, target, board.bootloaderRollback, back ? Ota.Valid : undefined);
  const allowed: FlashRegion[] = [];
  for (let i = 0; i < ops.length; i++) {
    const sector = ops[i].offset - (ops[i].offset % 4096);
    let seen = false;
    for (let k = 0; k < allowed.length; k++) if (allowed[k].offset === sector) seen = true;
    if (!seen) allowed.push({ label: "otadata copy", offset: sector, size: 4096 });
  }
  let forbidden: FlashRegion[] | null = protectedRegions(board.partitionTable.offset, running);
  for (let i = 0; i < parts.length; i++) if (parts[i] !== table.otadata) forbidden.push(parts[i]);
  const guard = new GuardedFlash(flash, { chipSize: board.flash.size, allowed: allowed, forbidden: forbidden });
  // The plan is all the writes need: the table, its partitions and the copies go now, not when
  // this function returns (Espruino keeps a local until then; they were a switch's peak).
  table = parts = forbidden = copies = target = null;
  // otadata.ts applyFlashOps written out: one function fewer.
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    if (op.kind === "erase") guard.eraseSector(op.offset);
    else guard.write(op.offset, op.data);
  }
}
