// The end-to-end suite: the host-sim bundle in the host runtime, against a real broker,
// the simulated cloud and the firmware server. Each scenario asserts the exact sequence
// of reports the cloud received and the final flash. Run against aedes and mosquitto.
import { test } from "node:test";
import assert from "node:assert/strict";
import { simProvision } from "../../src/host/boards/load-board";
import { createHash } from "node:crypto";
import { runOta, resolveBoard, signedFile, type OtaRunOptions, type OtaRun } from "../../src/host/sim/ota-run";
import type { BrokerKind } from "../../src/host/sim/broker";
import { buildAppImage } from "../../src/host/image/app-image-builder";
import { RESUME_BYTES } from "../../src/core/agent/slot-writer";
import { bootedVersion, checkProgressShape, checkUntouched, journalState, story } from "../../src/host/sim/story";

const SIZE = 384 * 1024;
const board = resolveBoard("host-sim");
const HAPPY = ["version 1.0.0", "downloading 0", "downloading 100", "burning", "version 1.1.0", "done"];

interface Final {
  flash: Uint8Array;
  initial: Uint8Array;
  slot: Uint8Array;
}

async function run(broker: BrokerKind, o: OtaRunOptions) {
  let final: Final | undefined;
  const r = await runOta({
    broker,
    imageSize: SIZE,
    ...o,
    inspect: (run: OtaRun) => {
      final = { flash: run.sim.flash.snapshot(), initial: run.initialFlash, slot: run.image };
      o.inspect?.(run);
    },
  });
  checkProgressShape(r.reports);
  return { r, f: final! };
}

/** The new image is in ota_1, otadata boots it, the journal is empty, nothing else changed. */
function assertUpdated(f: Final, version = "1.1.0"): void {
  assert.equal(bootedVersion(f.flash, board), version);
  const ota1 = board.partitionTable.partitions.find((p) => p.label === "ota_1")!;
  assert.equal(createHash("md5").update(f.flash.subarray(ota1.offset, ota1.offset + f.slot.length)).digest("hex"), createHash("md5").update(f.slot).digest("hex"), "ota_1 holds the image byte for byte");
  const j = journalState(f.flash, board);
  // cleared once "done" is acknowledged; the snapshot may be taken just before that PUBACK
  assert.ok(j === null || j.phase === "confirmed", "journal cleared (or confirmed, waiting for the PUBACK of done)");
  checkUntouched(f.initial, f.flash, board, ["ota_0"]);
}

/** The device still boots the old image and nothing outside the writable regions changed. */
function assertNotUpdated(f: Final): void {
  assert.equal(bootedVersion(f.flash, board), "1.0.0");
  checkUntouched(f.initial, f.flash, board, ["ota_0"]);
}

export function endToEndSuite(broker: BrokerKind): void {
  test(`${broker}: happy path`, async () => {
    const { r, f } = await run(broker, {});
    assert.deepEqual(story(r.reports), HAPPY);
    assert.equal(r.result, "done");
    assert.equal(r.bytesFetched, r.imageBytes, "every byte fetched exactly once");
    assertUpdated(f);
  });

  test(`${broker}: connection dropped mid-download resumes at the exact byte`, async () => {
    const { r, f } = await run(broker, { faults: (s) => s.faults.push({ kind: "reset-after", atOffset: 100000 }) });
    assert.deepEqual(story(r.reports), HAPPY);
    assert.ok(r.requests >= SIZE / board.download.spanBytes + 1, "a request was cut and another one resumed");
    assert.equal(r.bytesFetched, r.imageBytes, "nothing fetched twice");
    assertUpdated(f);
  });

  test(`${broker}: power cut mid-download resumes from the journal`, async () => {
    const cut = SIZE / 2 + 5000;
    let ranges: (string | null)[] = [];
    const { r, f } = await run(broker, { powerCutsAtBytes: [cut], inspect: (x) => (ranges = x.server.requests.map((q) => q.range)) });
    const s = story(r.reports);
    assert.deepEqual(s, ["version 1.0.0", "downloading 0", "version 1.0.0", "downloading 100", "burning", "version 1.1.0", "done"]);
    assert.equal(r.powerCuts, 1);
    assert.ok(r.bytesFetched <= r.imageBytes + board.download.spanBytes, `at most one span fetched again (fetched ${r.bytesFetched})`);
    // every resume point reached was journaled: the resume starts at the last one before the cut
    const point = cut - (cut % RESUME_BYTES);
    assert.ok(ranges.some((x) => x !== null && x.startsWith("bytes=" + point + "-")), `a request resumes at ${point}: ${ranges.join(", ")}`);
    assertUpdated(f);
  });

  test(`${broker}: MD5 mismatch is reported as -4 and the old image keeps running`, async () => {
    const { r, f } = await run(broker, { announceMd5: "0123456789abcdef0123456789abcdef" });
    assert.deepEqual(story(r.reports), ["version 1.0.0", "downloading 0", "downloading 100", "fail -4"]);
    assert.match(r.resultMsg!, /expected 0123456789abcdef0123456789abcdef, flash holds [0-9a-f]{32}/);
    assertNotUpdated(f);
    assert.equal(journalState(f.flash, board)!.failedMd5Count, 1, "the failure is remembered against this md5");
  });

  test(`${broker}: 404 is reported as -2 before anything is written`, async () => {
    const { r, f } = await run(broker, { faults: (s) => s.faults.push({ kind: "status", status: 404 }) });
    assert.deepEqual(story(r.reports), ["version 1.0.0", "downloading 0", "fail -2"]);
    assertNotUpdated(f);
    const ota1 = board.partitionTable.partitions.find((p) => p.label === "ota_1")!;
    assert.ok(f.flash.subarray(ota1.offset, ota1.offset + ota1.size).every((b, i) => b === f.initial[ota1.offset + i]), "the target slot was never erased");
  });

  test(`${broker}: 403 asks the cloud for a fresh URL and continues with it`, async () => {
    let pushes: Record<string, any>[] = [];
    const { r, f } = await run(broker, {
      faults: (s) => s.faults.push({ onRequest: 3, kind: "status", status: 403 }),
      inspect: (run) => (pushes = run.cloud.device(simProvision(board).productId, simProvision(board).deviceName).pushes),
    });
    assert.deepEqual(story(r.reports), ["version 1.0.0", "downloading 0", "version 1.0.0", "downloading 100", "burning", "version 1.1.0", "done"]);
    assert.equal(pushes.length, 2);
    assert.match(pushes[1].url, /sign=2$/);
    assertUpdated(f);
  });
}

export function slowerScenarios(broker: BrokerKind): void {
  test(`${broker}: a different update replaces the one in progress`, async () => {
    const next = signedFile(board, buildAppImage({ version: "1.2.0", projectName: "espruino", size: SIZE - 4096, seed: 99 }), "1.2.0", undefined);
    let armed = false;
    const { r, f } = await run(broker, {
      faults: (s) => s.setFile("/next.bin", next),
      until: (d, rn) => {
        if (!armed) {
          // push 1.2.0 once a third of 1.1.0 is in flash
          armed = true;
          rn.watch.whenSlotReaches(SIZE / 3, () =>
            rn.cloud.deploy(simProvision(board).productId, simProvision(board).deviceName, {
              version: "1.2.0",
              md5: createHash("md5").update(next).digest("hex"),
              size: next.length,
              url: () => rn.server.url("/next.bin"),
            }),
          );
        }
        return d.task === "failed" || (d.task === "done" && d.reports.some((x) => x.report?.progress?.state === "done"));
      },
    });
    assert.deepEqual(story(r.reports, true), [
      "version 1.0.0",
      "downloading 0 @1.1.0",
      "downloading 0 @1.2.0",
      "downloading 100 @1.2.0",
      "burning @1.2.0",
      "version 1.2.0",
      "done @1.2.0",
    ]);
    f.slot = next;
    assertUpdated(f, "1.2.0");
  });

  test(`${broker}: an image that never gets a working uplink is rolled back and reported -5`, async () => {
    const { r, f } = await run(broker, {
      broken: [{ version: "1.1.0", mode: "offline" }],
      timeoutMs: 30000,
      // the old image reports fail -5, then its version once MQTT is up
      until: (d) => d.task === "failed" && d.reports[d.reports.length - 1].type === "report_version",
    });
    assert.deepEqual(story(r.reports), ["version 1.0.0", "downloading 0", "downloading 100", "burning", "fail -5", "version 1.0.0"]);
    assert.match(r.resultMsg!, /did not prove healthy.*agent trial/);
    assert.equal(r.running, "1.0.0");
    assertNotUpdated(f);
  });
}
