// CI's share of the power-cut matrix (src/host/reliability/power-cut.ts): a clean 128 KB
// update is calibrated (its flash operations counted and labelled), then power is cut
// during every operation outside the download and every 12th inside it. Each point must
// stay bootable, finish the update with the new image byte for byte, and refetch at most
// one span. `npm run reliability` runs every operation with four NOR seeds and more.
import { test } from "node:test";
import assert from "node:assert/strict";
import { quickMatrix } from "../../src/host/reliability/campaign";
import { assertScenario, CI_SEED } from "../../src/host/reliability/ci";
import { knownBugOf } from "../../src/host/reliability/known-bugs";

const { scenarios, calibration } = await quickMatrix(CI_SEED);
const list = scenarios.filter((s) => !knownBugOf(s));

test("the sample reaches every phase of an update", () => {
  for (const phase of ["download", "verify", "switch", "trial"]) {
    assert.ok(list.some((s) => s.tags?.phase === phase), `no cut point in the ${phase} phase`);
  }
  assert.ok(list.length >= 15, `only ${list.length} points (of ${calibration.phases.length} operations)`);
});

for (const s of list) test(s.name, () => assertScenario(s));
