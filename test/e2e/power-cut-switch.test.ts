// Power cut during every flash operation between "last image byte written" and the new
// image running: the journal records, the otadata switch and the trial bookkeeping.
// Whatever the cut, the board boots a valid image and the update still ends with done.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runOta, resolveBoard } from "../../src/host/sim/ota-run";
import { bootedVersion, story } from "../../src/host/sim/story";

const board = resolveBoard("host-sim");
const SIZE = 128 * 1024;

test("a cut at each operation of the switch still ends with the new image running and done", async (t) => {
  let cutsThatHit = 0;
  for (let n = 1; n <= 16; n++) {
    let booted: (string | null)[] = [];
    let finalVersion: string | null = null;
    const r = await runOta({
      imageSize: SIZE,
      powerCutDuringSwitchOp: n,
      seed: n,
      inspect: (run) => {
        booted = run.sim.boots.map((b) => b.version);
        finalVersion = bootedVersion(run.sim.flash.snapshot(), board);
      },
    });
    t.diagnostic(`cut at op ${n}: powerCuts=${r.powerCuts} boots=${booted.join(",")}`);
    assert.equal(r.result, "done", `cut at op ${n}: ${r.resultMsg}`);
    assert.ok(!booted.includes(null), `cut at op ${n}: every boot found a valid image`);
    assert.equal(finalVersion, "1.1.0");
    const s = story(r.reports);
    assert.equal(s[s.length - 1], "done");
    assert.ok(!s.some((x) => x.startsWith("fail")), `cut at op ${n}: no failure reported (a dead board sends nothing)`);
    assert.ok(r.bytesFetched <= SIZE + board.download.spanBytes, `cut at op ${n}: a verified image is not fetched again (fetched ${r.bytesFetched})`);
    cutsThatHit += r.powerCuts;
  }
  assert.ok(cutsThatHit >= 10, `the cuts really happened during the switch (${cutsThatHit})`);
});
