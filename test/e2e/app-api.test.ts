// The application's API (docs/app-api.md), with the application in Storage's .bootcde beside
// the agent: it hears E.emit("OTA", {state, version, percent}); with the board's
// trial.waitForApp a new image is healthy only once the application says so
// (E.emit("OTA:healthy")), else it is rolled back; E.emit("OTA:hold", ms) holds off the
// agent's reboot, never longer than trial.maxHoldMs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runOta, resolveBoard } from "../../src/host/sim/ota-run";
import { buildBundle } from "../../src/host/build/bundle";
import { story } from "../../src/host/sim/story";

const SIZE = 128 * 1024;
const board = resolveBoard("host-sim");
const LISTEN = 'E.on("OTA", function (e) { print("app: " + e.state + " " + e.version + " " + e.percent); });';

test("the application hears the agent's states and download progress", async () => {
  let log: string[] = [];
  let events: string[] = [];
  const r = await runOta({ imageSize: SIZE, files: { ".bootcde": LISTEN }, inspect: (run) => { log = run.sim.device.log; events = run.sim.device.events; } });
  assert.equal(r.result, "done");
  assert.ok(log.includes("app: downloading 1.1.0 -1"), log.join("\n"));
  assert.ok(log.includes("app: downloading 1.1.0 0"));
  assert.ok(log.includes("app: downloading 1.1.0 100"));
  assert.ok(log.includes("app: switching 1.1.0 -1"), log.join("\n") + "\nEVENTS " + events.join("\n"));
  // the new image's trial, then idle on the new version
  assert.ok(log.includes("app: trial 1.1.0 -1"));
  assert.ok(log.includes("app: idle 1.1.0 -1"));
});

test("with trial.waitForApp, the application's OTA:healthy confirms the new image", async () => {
  const b = { ...board, trial: { ...board.trial, waitForApp: true } };
  const app = LISTEN + ' setTimeout(function () { E.emit("OTA:healthy"); }, 300);';
  const r = await runOta({ board: b, bundle: await buildBundle(b), imageSize: SIZE, files: { ".bootcde": app } });
  assert.equal(r.result, "done");
  assert.equal(r.running, "1.1.0");
});

test("with trial.waitForApp, an application that never says healthy has its image rolled back", async () => {
  const b = { ...board, trial: { ...board.trial, waitForApp: true } };
  let log: string[] = [];
  const r = await runOta({
    board: b,
    bundle: await buildBundle(b),
    imageSize: SIZE,
    files: { ".bootcde": LISTEN },
    inspect: (run) => (log = run.sim.device.log),
    until: (d) => d.task === "failed" && d.reports[d.reports.length - 1].type === "report_version",
    timeoutMs: 30000,
  });
  // the new image reports its version (a working uplink) but never gets the application's word
  assert.deepEqual(story(r.reports), ["version 1.0.0", "downloading 0", "downloading 100", "burning", "version 1.1.0", "fail -5", "version 1.0.0"]);
  assert.ok(log.includes("ota: rolling back: the application did not say it is healthy within 3000 ms"), log.join("\n"));
  assert.match(r.resultMsg!, /image 1\.1\.0 did not prove healthy; back on ota_0 running 1\.0\.0/);
  assert.equal(r.running, "1.0.0");
});

test("OTA:hold delays the agent's reboot, never beyond trial.maxHoldMs", async () => {
  const b = { ...board, trial: { ...board.trial, maxHoldMs: 800 } };
  // asks for far longer than the board allows: the reboot comes after at most 800 ms
  const app = 'E.emit("OTA:hold", 600000);';
  let log: string[] = [];
  const t0 = Date.now();
  const r = await runOta({ board: b, bundle: await buildBundle(b), imageSize: SIZE, files: { ".bootcde": app }, inspect: (run) => (log = run.sim.device.log) });
  assert.equal(r.result, "done");
  const held = log.filter((l) => /^ota: reboot held by the application for \d+ ms$/.test(l));
  assert.ok(held.length >= 1, log.join("\n"));
  for (const l of held) assert.ok(Number(/for (\d+) ms/.exec(l)![1]) <= 800, l);
  assert.ok(Date.now() - t0 >= 800);
});
