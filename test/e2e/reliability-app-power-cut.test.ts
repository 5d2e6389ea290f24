// CI's share of the application update's power-cut matrix (src/host/reliability/app-power-cut.ts):
// a clean application update is calibrated (its flash and Storage operations counted), then the
// power is cut during every 6th of them. At every boot the agent must start a whole application,
// the old or the new one byte for byte, and the update must end done with the new one running.
// `npm run reliability` cuts during every operation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { appPowerCutMatrix, calibrateApp } from "../../src/host/reliability/app-power-cut";
import { assertScenario, CI_SEED } from "../../src/host/reliability/ci";

const ops = await calibrateApp();
const list = appPowerCutMatrix(ops, CI_SEED, 6);

test("the application update's matrix covers its operations", () => {
  // the download, the journal's switch, the trial boot, the confirmation and the old file's erase
  assert.ok(ops >= 20, `only ${ops} flash and Storage operations counted`);
  assert.equal(list.length, Math.ceil(ops / 6));
});

for (const s of list) test(s.name, () => assertScenario(s));
