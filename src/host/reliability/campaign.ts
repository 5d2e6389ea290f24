// The whole campaign as a list of scenarios. The power-cut matrix is built from calibration
// runs (one clean update per board variant, its flash operations counted and labelled), so
// it follows the agent when its flash traffic changes.
//
// Full: every flash operation of a 128 KB update on host-sim with four NOR seeds, every
// operation with a rollback bootloader, a sample on the factory + ota_0 layout, seeded
// double cuts, every flash and Storage operation of an application update (app-power-cut.ts),
// and every network, MQTT and hostile-input scenario.
// Quick (CI): a seeded sample of the matrix (every operation outside the download, a
// stride through it), every 6th operation of the application update, and the scenarios marked quick.
import { hostileScenarios } from "./hostile";
import { mqttScenarios } from "./mqtt";
import { networkScenarios } from "./network";
import { FACTORY, HOST_SIM, ROLLBACK, calibrate, doubleCuts, fullMatrix, sampledMatrix, type Calibration } from "./power-cut";
import type { Scenario } from "./types";
import { appPowerCutMatrix, calibrateApp } from "./app-power-cut";

export interface CampaignOptions {
  quick?: boolean;
  /** Seeds the fault offsets, the matrix sample and the double cuts. */
  seed?: number;
}

export interface Campaign {
  scenarios: Scenario[];
  calibrations: Calibration[];
}

export const FULL_MATRIX_SEEDS = [1, 2, 3, 4];
export const DOUBLE_CUTS = 40;

/** Network, MQTT and hostile-input scenarios (the quick ones only when asked). */
export function faultScenarios(quick = false): Scenario[] {
  const all = [...networkScenarios(), ...mqttScenarios(), ...hostileScenarios()];
  return quick ? all.filter((s) => s.quick) : all;
}

/** The CI sample of the matrix: every operation outside the download and every 12th inside it. */
export async function quickMatrix(seed = 1): Promise<{ scenarios: Scenario[]; calibration: Calibration }> {
  const ab = await calibrate(HOST_SIM);
  return { scenarios: sampledMatrix(ab, seed, 12, true), calibration: ab };
}

export async function buildCampaign(o: CampaignOptions = {}): Promise<Campaign> {
  const seed = o.seed ?? 1;
  const others = faultScenarios(o.quick);
  const appOps = await calibrateApp();
  if (o.quick) {
    const m = await quickMatrix(seed);
    return { scenarios: [...m.scenarios, ...appPowerCutMatrix(appOps, seed, 6), ...others], calibrations: [m.calibration] };
  }
  const ab = await calibrate(HOST_SIM);
  const rollback = await calibrate(ROLLBACK);
  const factory = await calibrate(FACTORY);
  return {
    scenarios: [
      ...fullMatrix(ab, FULL_MATRIX_SEEDS),
      ...fullMatrix(rollback, [seed]),
      ...sampledMatrix(factory, seed, 4),
      ...doubleCuts(ab, seed, DOUBLE_CUTS),
      ...appPowerCutMatrix(appOps, seed),
      ...others,
    ],
    calibrations: [ab, rollback, factory],
  };
}
