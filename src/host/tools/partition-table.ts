// `node --import tsx src/host/tools/partition-table.ts --board boards/<name>.json --out partitions.bin`
//
// Writes the board's partition table as the binary the bootloader reads at
// partitionTable.offset (what ESP-IDF's gen_esp32part.py makes from a CSV: entries, the MD5
// entry, 0xFF padding), so a board can be prepared without installing ESP-IDF. Prints the
// esptool command that puts the bootloader, this table and the Espruino firmware in place
// for the board's layout, and erases otadata so the first boot picks the first slot.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import type { BoardConfig } from "../../core/board";
import { BoardError, loadBoard } from "../boards/load-board";
import { buildPartitionTable } from "../image/partition-table-builder";

const hex = (n: number) => "0x" + n.toString(16);

export function partitionTableBinary(board: BoardConfig): Uint8Array {
  return buildPartitionTable(board.partitionTable.partitions, { md5: true });
}

/** The slot Espruino is flashed into first: factory when there is one, else ota_0 (what the bootloader boots with blank otadata). */
export function firstAppSlot(board: BoardConfig) {
  const apps = board.partitionTable.partitions.filter((p) => p.type === "app");
  return apps.find((p) => p.subtype === "factory") ?? apps.find((p) => p.subtype === "ota_0") ?? apps[0];
}

/** Where the second-stage bootloader goes: 0x1000 on ESP32 and ESP32-S2, 0x0 on the S3 and C3. */
export function bootloaderOffset(board: BoardConfig): number {
  return board.chip === "esp32" || board.chip === "esp32s2" ? 0x1000 : 0;
}

/** The esptool commands that prepare a blank board for this layout. */
export function esptoolCommands(board: BoardConfig, tableFile: string, port = "/dev/ttyUSB0"): string[] {
  const app = firstAppSlot(board);
  const otadata = board.partitionTable.partitions.find((p) => p.type === "data" && p.subtype === "ota");
  const chip = board.chip;
  const out = [
    `esptool.py --chip ${chip} --port ${port} erase_flash`,
    `esptool.py --chip ${chip} --port ${port} --baud 921600 write_flash -z --flash_mode dio --flash_freq 40m --flash_size detect ` +
      `${hex(bootloaderOffset(board))} bootloader.bin ${hex(board.partitionTable.offset)} ${tableFile} ${hex(app.offset)} espruino_esp32.bin`,
  ];
  if (otadata) out.push(`# otadata (${hex(otadata.offset)}, ${hex(otadata.size)} bytes) is blank after erase_flash: the bootloader starts "${app.label}"`);
  out.push(`# espruino_esp32.bin must fit "${app.label}": at most ${app.size} bytes`);
  return out;
}

const USAGE = `usage: npm run partition-table -- --board boards/<name>.json --out partitions.bin [--port /dev/ttyUSB0]
  --board FILE   board file (validated against boards/board.schema.json)
  --out FILE     where to write the binary partition table
  --port PORT    serial port to name in the printed esptool commands (default /dev/ttyUSB0)`;

async function main(argv: string[]): Promise<number> {
  let values: { board?: string; out?: string; port?: string; help?: boolean };
  try {
    values = parseArgs({ args: argv, options: { board: { type: "string" }, out: { type: "string" }, port: { type: "string" }, help: { type: "boolean", short: "h" } } }).values;
  } catch (e) {
    process.stderr.write(`partition-table: ${(e as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  if (!values.board || !values.out) {
    process.stderr.write(USAGE + "\n");
    return 2;
  }
  try {
    const board = loadBoard(values.board);
    writeFileSync(values.out, partitionTableBinary(board));
    process.stdout.write(`wrote ${values.out}: the partition table of ${board.name} (goes at ${hex(board.partitionTable.offset)})\n\n`);
    process.stdout.write(esptoolCommands(board, values.out, values.port).join("\n") + "\n");
    return 0;
  } catch (e) {
    if (e instanceof BoardError) {
      process.stderr.write(`partition-table: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.exitCode = await main(process.argv.slice(2));
}
