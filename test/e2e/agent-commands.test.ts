// How the agent answers the cloud while busy or idle, its trial modes, and HTTPS.
import { test } from "node:test";
import assert from "node:assert/strict";
import { simProvision } from "../../src/host/boards/load-board";
import { createHash } from "node:crypto";
import { runOta, startRun, resolveBoard, type OtaRun } from "../../src/host/sim/ota-run";
import { buildBundle } from "../../src/host/build/bundle";
import { readOtadata, activeCopy, OTA_STATE_VALID } from "../../src/core/esp32/otadata";
import { parsePartitionTable, PARTITION_TABLE_MAX_LEN } from "../../src/core/esp32/partition-table";
import { md5Bytes } from "../../src/core/crypto/md5";
import { bootedVersion, story } from "../../src/host/sim/story";

const board = resolveBoard("host-sim");
const { productId, deviceName } = simProvision(board);
const SIZE = 192 * 1024;
const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");

/** Starts a run, boots the board and waits for its first version report. */
async function booted(o: Parameters<typeof startRun>[0] = {}): Promise<OtaRun> {
  const run = await startRun({ imageSize: SIZE, ...o });
  run.server.setFile("/fw.bin", run.image);
  run.sim.powerOn();
  await run.cloud.waitFor(productId, deviceName, (d) => d.reportedVersion !== undefined, 20000, "first report_version");
  return run;
}

function offer(run: OtaRun, over: Partial<{ version: string; md5: string }> = {}) {
  let n = 0;
  return { version: "1.1.0", md5: md5(run.image), size: run.image.length, url: () => run.server.url("/fw.bin") + "?n=" + ++n, ...over };
}

const ended = (d: { task: string; reports: Record<string, any>[] }) => d.task === "failed" || (d.task === "done" && d.reports.some((r) => r.report?.progress?.state === "done"));

test("https:// firmware URLs download the same way", async () => {
  const r = await runOta({ imageSize: SIZE, https: true });
  assert.equal(r.result, "done");
  assert.deepEqual(story(r.reports), ["version 1.0.0", "downloading 0", "downloading 100", "burning", "version 1.1.0", "done"]);
});

test("the same update pushed again mid-download continues with the fresh URL, nothing refetched", async () => {
  const run = await booted();
  try {
    const o = offer(run);
    // repeat the push while the first span is still arriving, so later spans can take it
    run.server.faults.push({ onRequest: 1, kind: "trickle", pieceBytes: 8192, delayMs: 20 });
    run.watch.whenSlotReaches(16384, () => run.cloud.deploy(productId, deviceName, o));
    run.cloud.deploy(productId, deviceName, o);
    const d = await run.cloud.waitFor(productId, deviceName, ended, 30000, "done");
    assert.equal(d.task, "done");
    assert.equal(d.pushes.length, 2);
    assert.equal(run.server.requests.reduce((n, q) => n + q.bytesSent, 0), run.image.length, "no byte fetched twice");
    assert.equal(run.server.requests[0].query, "?n=1");
    assert.equal(run.server.requests[run.server.requests.length - 1].query, "?n=2", "later spans use the fresh URL");
  } finally {
    await run.close();
  }
});

test("an update to the version already running is answered with report_version only", async () => {
  const run = await booted();
  try {
    run.cloud.deploy(productId, deviceName, offer(run, { version: "1.0.0" }));
    const d = await run.cloud.waitFor(productId, deviceName, (x) => x.reports.length >= 2, 10000, "the answer");
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(story(d.reports), ["version 1.0.0", "version 1.0.0"]);
    assert.equal(d.task, "done", "the cloud counts the task as done: the device runs the target");
    assert.equal(run.server.requests.length, 0, "nothing downloaded");
  } finally {
    await run.close();
  }
});

test("an image that failed its MD5 twice is refused without downloading it again", async () => {
  const run = await booted();
  try {
    const bad = offer(run, { md5: "00112233445566778899aabbccddeeff" });
    const fails = (n: number) => (x: { reports: Record<string, any>[] }) => x.reports.filter((r) => r.report?.progress?.state === "fail").length >= n;
    run.cloud.deploy(productId, deviceName, bad);
    await run.cloud.waitFor(productId, deviceName, fails(1), 20000, "first fail");
    run.cloud.deploy(productId, deviceName, bad); // the operator presses "retry"
    await run.cloud.waitFor(productId, deviceName, fails(2), 20000, "second fail");
    const fetched = run.server.requests.length;
    run.cloud.deploy(productId, deviceName, bad);
    const d = await run.cloud.waitFor(productId, deviceName, fails(3), 20000, "third fail");
    assert.deepEqual(story(d.reports).filter((s) => s.startsWith("fail")), ["fail -4", "fail -4", "fail -4"]);
    assert.match(d.resultMsg!, /failed verification twice/);
    assert.equal(run.server.requests.length, fetched, "the third push fetched nothing");
    assert.equal(bootedVersion(run.sim.flash.snapshot(), board), "1.0.0");
  } finally {
    await run.close();
  }
});

test("a new image that crash-loops is rolled back after trial.maxBoots boots", async () => {
  const r = await runOta({
    imageSize: SIZE,
    // crashes before it could connect: never healthy
    broken: [{ version: "1.1.0", mode: "crash", crashAfterMs: 1 }],
    until: (d) => d.task === "failed" && d.reports[d.reports.length - 1].type === "report_version",
    timeoutMs: 30000,
  });
  assert.deepEqual(story(r.reports), ["version 1.0.0", "downloading 0", "downloading 100", "burning", "fail -5", "version 1.0.0"]);
  assert.equal(r.running, "1.0.0");
  assert.ok(r.reboots >= board.trial.maxBoots + 1, `the new image booted ${board.trial.maxBoots} times first (reboots ${r.reboots})`);
});

test("with a rollback bootloader the new image confirms itself with ESP32.setOTAValid(true)", async () => {
  const rb = { ...board, bootloaderRollback: true };
  const bundle = await buildBundle(rb);
  let validCalls: boolean[] = [];
  let state = -1;
  const r = await runOta({
    board: rb,
    bundle,
    imageSize: SIZE,
    inspect: (run) => {
      validCalls = run.sim.device.otaValidCalls;
      const port = run.sim.flash.asPort();
      const table = parsePartitionTable(port.read(rb.partitionTable.offset, PARTITION_TABLE_MAX_LEN), md5Bytes, rb.flash.size);
      const copies = readOtadata(port, table.otadata!);
      state = copies[activeCopy(copies)].state;
    },
  });
  assert.equal(r.result, "done");
  assert.deepEqual(validCalls, [true]);
  assert.equal(state, OTA_STATE_VALID, "the active otadata entry is VALID");
});

test("with a rollback bootloader an image that never gets an uplink goes back and says so", async () => {
  const rb = { ...board, bootloaderRollback: true };
  const r = await runOta({
    board: rb,
    bundle: await buildBundle(rb),
    imageSize: SIZE,
    broken: [{ version: "1.1.0", mode: "offline" }],
    until: (d) => d.task === "failed" && d.reports[d.reports.length - 1].type === "report_version",
    timeoutMs: 30000,
  });
  assert.deepEqual(story(r.reports), ["version 1.0.0", "downloading 0", "downloading 100", "burning", "fail -5", "version 1.0.0"]);
  assert.match(r.resultMsg!, /bootloader rollback/);
  assert.equal(r.running, "1.0.0");
});

test("the ROM MD5 backend (E.nativeCall into the modelled mask ROM) passes its self-test and verifies the update", async () => {
  const romBoard = { ...board, md5: "rom" as const };
  let log: string[] = [];
  const r = await runOta({ board: romBoard, bundle: await buildBundle(romBoard), imageSize: SIZE, powerCutsAtBytes: [SIZE / 2], inspect: (run) => (log = run.sim.device.log) });
  assert.equal(r.result, "done");
  assert.ok(log.some((l) => l.includes("md5 backend rom")), "the ROM backend was selected after its self-test");
  assert.ok(!log.some((l) => l.includes("md5 backend js")), "and never fell back to JS");
});

test("MQTT over TLS when the board asks for it", async () => {
  const tlsBoard = { ...board, mqtt: { ...board.mqtt, tls: true } };
  const r = await runOta({ board: tlsBoard, bundle: await buildBundle(tlsBoard), imageSize: SIZE });
  assert.equal(r.result, "done");
  assert.deepEqual(story(r.reports), ["version 1.0.0", "downloading 0", "downloading 100", "burning", "version 1.1.0", "done"]);
});

test("an image whose MD5 matches but whose ESP32 checksum is wrong is refused before the switch (-5)", async () => {
  const { buildAppImage } = await import("../../src/host/image/app-image-builder");
  const image = buildAppImage({ version: "1.1.0", projectName: "espruino", size: SIZE, seed: 5 });
  image[image.length - 33] ^= 0xff; // the checksum byte, just before the appended SHA-256
  let flash = new Uint8Array(0);
  const r = await runOta({ image, inspect: (run) => (flash = run.sim.flash.snapshot()) });
  assert.deepEqual(story(r.reports), ["version 1.0.0", "downloading 0", "downloading 100", "fail -5"]);
  assert.match(r.resultMsg!, /image check/);
  assert.equal(bootedVersion(flash, board), "1.0.0", "otadata was never switched");
});

test("a server that ignores Range (200 with the whole file every time) still ends in one pass, not a loop", async () => {
  const r = await runOta({ imageSize: SIZE, faults: (s) => s.faults.every({ kind: "ignore-range" }), timeoutMs: 30000 });
  assert.equal(r.result, "done");
  assert.ok(r.bytesFetched <= 3 * r.imageBytes, `bounded refetching (fetched ${r.bytesFetched} for ${r.imageBytes})`);
});

test("an update_firmware with a readable version but an unusable URL is answered with fail -5 naming the field", async () => {
  const run = await booted();
  try {
    run.cloud.sendRaw(productId, deviceName, JSON.stringify({ type: "update_firmware", version: "9.9.9", url: "ftp://x/fw.bin", md5sum: "0".repeat(32), file_size: 1000 }));
    const d = await run.cloud.waitFor(productId, deviceName, (x) => x.reports.some((r) => r.report?.progress?.state === "fail"), 10000, "a fail report");
    const fail = d.reports.find((r) => r.report?.progress?.state === "fail")!;
    assert.equal(fail.report.version, "9.9.9");
    assert.equal(fail.report.progress.result_code, "-5");
    assert.match(fail.report.progress.result_msg, /url/);
    assert.equal(run.server.requests.length, 0);
  } finally {
    await run.close();
  }
});
