// Application updates end to end (docs/app-ota.md): the host-sim bundle in the host runtime with
// application 1.0.0 installed as a package in ota.app0, a real broker (aedes, and mosquitto when
// installed), the simulated cloud pushing 1.1.0 with fw_type "app", and the firmware server.
// Each scenario checks the reports the cloud received, which application runs at the end, and
// what Storage holds: the old application byte for byte until the new one is confirmed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mosquittoAvailable, type BrokerKind } from "../../src/host/sim/broker";
import { APP_FILES, runAppOta, testApp, type AppRunOptions } from "../../src/host/sim/app-run";
import { buildAppPackage } from "../../src/host/app/package";
import { resolveBoard, startRun, type OtaRun } from "../../src/host/sim/ota-run";
import { bytesToBinary } from "../../src/host/runtime/bytes";

const board = resolveBoard("host-sim");
const key = Buffer.from(board.provision!.signKey!, "base64");
const installed = buildAppPackage(testApp("1.0.0"), { version: "1.0.0", signKey: key }).bytes;

/** "state@version" for progress, "app version" / "fw version" for report_version. */
function story(reports: Record<string, any>[]): string[] {
  return reports.map((r) => {
    if (r.type === "report_version") return (r.report.fw_type === "app" ? "app " : "fw ") + r.report.version;
    const p = r.report.progress;
    assert.equal(r.report.fw_type, "app", "every progress report of an application update carries its fw_type");
    return p.state + (p.state === "downloading" ? " " + p.percent : p.state === "fail" ? " " + p.result_code : "");
  });
}

async function appRun(broker: BrokerKind, o: AppRunOptions) {
  let files: Map<string, Uint8Array> | undefined;
  let events: string[] = [];
  const r = await runAppOta({
    broker,
    ...o,
    inspect: (run: OtaRun) => {
      files = new Map([...run.sim.device.storage].map(([k, v]) => [k, new Uint8Array(v)]));
      events = [...run.sim.device.events];
    },
  });
  // at every boot the agent starts one application, a whole package, once
  assert.equal(new Set(r.appStarts.map((a) => a.boot)).size, r.appStarts.length, "an application started twice in one boot");
  assert.deepEqual(r.appStarts.filter((a) => !a.complete), [], "an application file that is not a whole package was started");
  assert.deepEqual(r.bootsWithoutApp, []);
  return { r, files: files!, events, story: story(r.reports).filter((s) => !s.startsWith("fw ")) };
}

function appSuite(broker: BrokerKind): void {
  test(`${broker}: an application update ends done, runs the new application and erases the old one`, async () => {
    const { r, files, story: s } = await appRun(broker, {});
    assert.equal(r.result, "done", r.resultMsg);
    assert.deepEqual(s, ["app 1.0.0", "downloading 0", "downloading 100", "burning", "app 1.1.0", "done"]);
    assert.equal(r.running, "1.1.0");
    assert.equal(files.has(APP_FILES[0]), false, "the old application is erased once the new one is confirmed");
    assert.equal(r.imageBytes, files.get(APP_FILES[1])!.length);
    assert.equal(r.storageCompactions, 0);
    assert.equal(r.reports.filter((x) => x.type === "report_version" && !x.report.fw_type).every((x) => x.report.version === "1.0.0"), true, "the firmware's version is reported alongside, unchanged");
  });

  test(`${broker}: a dropped connection and a power cut during the download resume at the journaled offset`, async () => {
    const { r, story: s } = await appRun(broker, { faults: (sv) => sv.faults.push({ kind: "reset-after", atOffset: 8000 }), powerCutsAtBytes: [12000] });
    assert.equal(r.result, "done", r.resultMsg);
    assert.equal(r.powerCuts, 1);
    assert.equal(r.running, "1.1.0");
    assert.equal(s.at(-1), "done");
    // resumed, not restarted: less than the package again on top of the package
    assert.ok(r.bytesFetched < 2 * r.imageBytes, `fetched ${r.bytesFetched} for ${r.imageBytes}`);
    assert.ok(r.requests >= 3, "the drop and the cut each cost a request");
  });

  test(`${broker}: a package whose MD5 does not match fails -4 and leaves the old application untouched`, async () => {
    const { r, files, story: s } = await appRun(broker, { announceMd5: "0".repeat(32) });
    assert.equal(r.result, "fail");
    assert.equal(r.resultCode, "-4");
    assert.deepEqual(s.slice(-1), ["fail -4"]);
    assert.deepEqual(files.get(APP_FILES[0]), new Uint8Array(installed));
    assert.equal(files.has(APP_FILES[1]), false, "the refused file is erased");
    assert.equal(r.running, "1.0.0");
  });

  test(`${broker}: an application that throws at load is rolled back and reported -5 with the reason`, async () => {
    const { r, files } = await appRun(broker, { newApp: testApp("1.1.0", { throwAtLoad: true }) });
    assert.equal(r.result, "fail");
    assert.equal(r.resultCode, "-5");
    assert.match(r.resultMsg!, /application 1\.1\.0 threw an uncaught exception; rolled back/);
    assert.equal(r.running, "1.0.0");
    assert.deepEqual(files.get(APP_FILES[0]), new Uint8Array(installed));
    assert.equal(files.has(APP_FILES[1]), false);
  });

  test(`${broker}: an application that never says it is healthy (confirm api) is rolled back`, async () => {
    const { r, files } = await appRun(broker, { newApp: testApp("1.1.0", { healthyAfterMs: null }) });
    assert.equal(r.result, "fail");
    assert.equal(r.resultCode, "-5");
    assert.match(r.resultMsg!, /did not say it is healthy \(OTA:healthy\) within 3000 ms; rolled back/);
    assert.equal(r.running, "1.0.0");
    assert.deepEqual(files.get(APP_FILES[0]), new Uint8Array(installed));
  });

  test(`${broker}: confirm time: an application that runs the trial without an exception is confirmed without the API`, async () => {
    const { r } = await appRun(broker, { newApp: testApp("1.1.0", { healthyAfterMs: null }), confirm: "time" });
    assert.equal(r.result, "done", r.resultMsg);
    assert.equal(r.running, "1.1.0");
  });

  test(`${broker}: Storage without room for the package fails -5 before anything is written, and never compacts`, async () => {
    // less free space at the end of Storage than the package needs (24 KB)
    const { r, files, story: s } = await appRun(broker, { freeBytes: 20000 });
    assert.equal(r.result, "fail");
    assert.equal(r.resultCode, "-5");
    assert.match(r.resultMsg!, /Storage full/);
    assert.deepEqual(s.slice(-1), ["fail -5"]);
    assert.equal(files.has(APP_FILES[1]), false);
    assert.deepEqual(files.get(APP_FILES[0]), new Uint8Array(installed));
    assert.equal(r.storageCompactions, 0);
    assert.equal(r.requests, 0, "nothing was downloaded");
  });

  test(`${broker}: a board without an application gets its first one over the air`, async () => {
    const { r, files, story: s } = await appRun(broker, { installed: null });
    assert.equal(r.result, "done", r.resultMsg);
    assert.deepEqual(s, ["downloading 0", "downloading 100", "burning", "app 1.1.0", "done"], "no application version is reported before there is one");
    assert.equal(r.running, "1.1.0");
    assert.deepEqual([...files.keys()].filter((k) => k.startsWith("ota.app")), [APP_FILES[0]]);
  });

  test(`${broker}: a firmware push during an application's trial waits: one job at a time, the versions are reported again when it ends`, async () => {
    let pushed = false;
    const { r, story: s } = await appRun(broker, {
      timeoutMs: 20000,
      until: (d, run) => {
        // once the new application's trial boot reported its version, push firmware 2.0.0 as a raw
        // update_firmware (a push during the download is followed by the reboot's own version reports)
        if (!pushed && d.reports.some((x) => x.type === "report_version" && x.report.fw_type === "app" && x.report.version === "1.1.0")) {
          pushed = true;
          run.cloud.sendRaw(board.provision!.productId, board.provision!.deviceName, JSON.stringify({ type: "update_firmware", version: "2.0.0", url: "http://127.0.0.1:1/fw.bin", md5sum: "0".repeat(32), file_size: 1000 }));
        }
        const done = d.reports.findIndex((x) => x.report?.progress?.state === "done");
        const after = done < 0 ? [] : story(d.reports.slice(done + 1));
        return after.includes("app 1.1.0") && after.includes("fw 1.0.0");
      },
    });
    assert.equal(r.result, "done", r.resultMsg);
    assert.ok(pushed);
    assert.equal(r.reports.filter((x) => x.report?.version === "2.0.0").length, 0, "nothing was reported for the firmware push");
    // done, then the versions again (the application's and the firmware's), which is what makes a platform push the waiting task again
    const after = story(r.reports.slice(r.reports.findIndex((x) => x.report?.progress?.state === "done") + 1));
    assert.deepEqual(after.slice(0, 2).sort(), ["app 1.1.0", "fw 1.0.0"]);
    assert.ok(s.includes("done"));
  });

  test(`${broker}: an application in .bootcde is not updated (Espruino would run it beside the new one)`, async () => {
    const { r, files } = await appRun(broker, { files: { ".bootcde": 'console.log("ide app");' } });
    assert.equal(r.result, "fail");
    assert.match(r.resultMsg!, /\.bootcde/);
    assert.equal(files.has(APP_FILES[1]), false);
  });
}

test("without a working agent (a malformed ota.cfg) the one application package still runs, without its signature trailer", async () => {
  const run = await startRun({ board, files: { "ota.app0": bytesToBinary(installed), "ota.cfg": "{not json" } });
  try {
    run.sim.powerOn();
    const deadline = Date.now() + 5000;
    while (!run.sim.device.log.some((l) => l.includes("app-running 1.0.0")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(run.sim.device.log.some((l) => l.includes("ota: agent disabled")), "the agent says it is disabled");
    assert.ok(run.sim.device.log.some((l) => l.includes("app-running 1.0.0")), "the application ran: " + run.sim.device.log.slice(-5).join(" | "));
    assert.deepEqual(run.sim.device.uncaught, [], "the trailer was not evaluated");
  } finally {
    await run.close();
  }
});

appSuite("aedes");
if (mosquittoAvailable()) appSuite("mosquitto");
else if (process.env.CI) {
  test("mosquitto is installed in CI", () => {
    throw new Error("mosquitto is not on PATH: .ci/run must install it");
  });
} else test("application updates on mosquitto", { skip: "mosquitto is not installed (apt-get install mosquitto)" }, () => undefined);
