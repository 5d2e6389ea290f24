// The install shape: the agent in Storage's .boot0 with its provisioning file, the user's
// application in .bootcde. The application keeps running through a whole update (drop, power
// cut, reboots into the new image) and is never written; a board without a usable
// provisioning file logs one line, runs no agent, and still runs the application.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runOta, resolveBoard, bundleFor, startRun } from "../../src/host/sim/ota-run";
import { simProvision } from "../../src/host/boards/load-board";
import { SimDevice } from "../../src/host/sim/sim-device";
import { buildAppImage } from "../../src/host/image/app-image-builder";
import { bytesToBinary } from "../../src/host/runtime/bytes";

const board = resolveBoard("host-sim");
// Its global `n` is also a name the minified agent uses inside its own scope.
const APP = 'var n = 0; print("app started"); setInterval(function () { n++; if (n % 10 === 0) print("app alive " + n); }, 20);';

test("an application in .bootcde runs beside the agent through a whole update and is never written", async () => {
  let storage: Map<string, Uint8Array> | undefined;
  let log: string[] = [];
  let ticks = 0;
  let boots = 0;
  const r = await runOta({
    imageSize: 256 * 1024,
    powerCutsAtBytes: [128 * 1024],
    files: { ".bootcde": APP },
    inspect: (run) => {
      storage = run.sim.device.storage;
      log = run.sim.device.log;
      ticks = run.sim.device.evaluate("n") as number;
      boots = run.sim.device.boots;
    },
  });
  assert.equal(r.result, "done");
  assert.equal(r.running, "1.1.0");
  assert.equal(bytesToBinary(storage!.get(".bootcde")!), APP);
  // the application started in every boot (before the power cut, after it, in the new image)
  // and its timer kept running in the last one
  assert.ok(boots >= 3, `expected at least 3 boots, saw ${boots}`);
  assert.equal(log.filter((l) => l === "app started").length, boots, "the application did not start in every boot");
  assert.ok(ticks > 0, "the application's timer did not run in the new image");
});

for (const [what, cfg, line] of [
  ["missing", undefined, /^ota: agent disabled: ota\.cfg: missing or not JSON$/],
  ["not JSON", "{productId:", /^ota: agent disabled: ota\.cfg: missing or not JSON$/],
  ["without a secret", JSON.stringify({ productId: "P", deviceName: "d" }), /^ota: agent disabled: ota\.cfg: deviceSecret is required$/],
] as const) {
  test(`a provisioning file ${what}: one log line, no agent, the application runs`, async (t) => {
    const sim = new SimDevice({
      board,
      bundle: bundleFor(board),
      initialImage: buildAppImage({ version: "1.0.0", projectName: "espruino", size: 0x40000, seed: 5 }),
      routes: [],
      files: { ".bootcde": APP },
    });
    t.after(() => sim.stop());
    if (cfg === undefined) sim.device.storage.delete("ota.cfg");
    else sim.device.setFile("ota.cfg", cfg);
    sim.powerOn();
    await new Promise((r) => setTimeout(r, 400));
    const ota = sim.device.log.filter((l) => l.startsWith("ota:"));
    assert.equal(ota.length, 1, ota.join("\n"));
    assert.match(ota[0], line);
    assert.ok(sim.device.log.some((l) => /^app alive \d+$/.test(l)), sim.device.log.join("\n"));
    assert.deepEqual(sim.device.uncaught, []);
    assert.ok(!sim.device.log.join("\n").includes("c2ltdWxhdGVk"), "a secret reached the log");
  });
}

test("idle, the job is loaded once at boot and let go: the cloud's report_version_rsp does not load it again", async (t) => {
  const run = await startRun({ imageSize: 64 * 1024 });
  t.after(() => run.close());
  run.sim.powerOn();
  const p = simProvision(run.board);
  await run.cloud.waitFor(p.productId, p.deviceName, (d) => d.reportedVersion !== undefined, 20000, "report_version");
  const log = run.sim.device.log;
  const until = Date.now() + 3000;
  while (!log.includes("ota: report_version_rsp") && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.ok(log.includes("ota: report_version_rsp"), log.join("\n"));
  assert.equal(log.filter((l) => l.startsWith("ota: md5 backend")).length, 1, log.join("\n"));
});
