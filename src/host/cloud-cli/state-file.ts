// The last known state of every device `ota-cloud serve` followed, kept in a small JSON
// file (default .ota-cloud/state.json in the working directory) so `ota-cloud status` can
// show it later. Devices of earlier runs stay in the file until a run names them again.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { DeviceStatus } from "../cloud/service";

export const DEFAULT_STATE_FILE = ".ota-cloud/state.json";

export interface RunInfo {
  broker: string;
  firmware: { file: string; version: string; md5: string; size: number };
  startedAt: number;
  /** Set when the serve that wrote the file ended. */
  endedAt: number | null;
  pid: number;
}

export interface StateFile {
  updatedAt: number;
  run: RunInfo;
  devices: Record<string, DeviceStatus & { run: RunInfo["firmware"] }>;
}

export function readState(file: string): StateFile | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return null;
  }
  try {
    return JSON.parse(text) as StateFile;
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message}); delete it to start afresh`);
  }
}

/** Merges this run's devices into the file (written atomically: a reader never sees half a file). */
export function writeState(file: string, run: RunInfo, statuses: DeviceStatus[]): void {
  const old = (() => {
    try {
      return readState(file);
    } catch {
      return null;
    }
  })();
  const devices = { ...(old?.devices ?? {}) };
  for (const s of statuses) devices[s.key] = { ...s, run: run.firmware };
  const state: StateFile = { updatedAt: Date.now(), run, devices };
  mkdirSync(dirname(file), { recursive: true });
  const tmp = file + "." + process.pid + ".tmp";
  writeFileSync(tmp, JSON.stringify(state, null, 2) + "\n");
  renameSync(tmp, file);
}
