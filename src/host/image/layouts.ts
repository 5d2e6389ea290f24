// The two partition layouts the project ships, as flash layouts for tests and tools.
// They are read from the board files, which stay the single source of truth.
import { join } from "node:path";
import { BOARDS_DIR, loadBoard } from "../boards/load-board";
import type { FlashLayout } from "./flash-image";

/** Espruino's legacy OTA layout: factory + a single ota_0 (boards/esp32-espruino-stock.json). */
export const STOCK_LAYOUT: FlashLayout = loadBoard(join(BOARDS_DIR, "esp32-espruino-stock.json"));

/** Two equal OTA slots, no factory, 4 MB (boards/esp32-4mb-ab.json). */
export const AB_4MB_LAYOUT: FlashLayout = loadBoard(join(BOARDS_DIR, "esp32-4mb-ab.json"));
