// The two partition layouts the project ships, as flash layouts for tests and the
// simulator. Board files (boards/*.json) are the source of truth for real builds.

import type { FlashLayout } from "./flash-image";

/** Espruino's legacy OTA layout: factory + a single ota_0 (targets/esp32/Changes_V3.1/partitions_espruino.csv). */
export const STOCK_LAYOUT: FlashLayout = {
  flash: { size: 0x400000 },
  partitionTable: {
    offset: 0x8000,
    partitions: [
      { label: "nvs", type: "data", subtype: "nvs", offset: 0x9000, size: 0x3000 },
      { label: "otadata", type: "data", subtype: "ota", offset: 0xc000, size: 0x2000 },
      { label: "factory", type: "app", subtype: "factory", offset: 0x10000, size: 0x180000 },
      { label: "ota_0", type: "app", subtype: "ota_0", offset: 0x190000, size: 0x180000 },
      { label: "data", type: "data", subtype: "undefined", offset: 0x310000, size: 0x10000 },
      { label: "storage", type: "data", subtype: "spiffs", offset: 0x320000, size: 0xe0000 },
    ],
  },
};

/** Two equal OTA slots, no factory, 4 MB. */
export const AB_4MB_LAYOUT: FlashLayout = {
  flash: { size: 0x400000 },
  partitionTable: {
    offset: 0x8000,
    partitions: [
      { label: "nvs", type: "data", subtype: "nvs", offset: 0x9000, size: 0x4000 },
      { label: "otadata", type: "data", subtype: "ota", offset: 0xd000, size: 0x2000 },
      { label: "phy_init", type: "data", subtype: "phy", offset: 0xf000, size: 0x1000 },
      { label: "ota_0", type: "app", subtype: "ota_0", offset: 0x10000, size: 0x180000 },
      { label: "ota_1", type: "app", subtype: "ota_1", offset: 0x190000, size: 0x180000 },
      { label: "data", type: "data", subtype: "undefined", offset: 0x310000, size: 0x10000 },
      { label: "storage", type: "data", subtype: "spiffs", offset: 0x320000, size: 0xe0000 },
    ],
  },
};
