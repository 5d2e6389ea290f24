// Signed updates end to end (docs/security.md): the simulated board installs only files that
// carry the product's tag, on aedes and on a real mosquitto when it is installed (skipped
// otherwise, unless CI is set). Every refused update ends in fail -4 naming the check, with the
// old image still the one the bootloader boots and nothing outside the target slot and the
// journal touched.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mosquittoAvailable, type BrokerKind } from "../../src/host/sim/broker";
import { runOta, resolveBoard } from "../../src/host/sim/ota-run";
import { attackRun, type Attack } from "../../src/host/sim/attacks";
import { bootedVersion, checkUntouched, story } from "../../src/host/sim/story";
import { buildBundle } from "../../src/host/build/bundle";
import { SIGN_TRAILER } from "../../src/core/sign/verify";

const board = resolveBoard("host-sim");
const SIZE = 128 * 1024;

const expected: Record<Attack, { old: string; msg: RegExp }> = {
  "swap-image": { old: "1.0.0", msg: /^signature check failed: bad tag \(not signed with this product's key\)$/ },
  "swap-image-unsigned": { old: "1.0.0", msg: /^signature check failed: unsigned \(no signature trailer\)$/ },
  downgrade: { old: "1.1.0", msg: /^signature check failed: downgrade from 1\.1\.0 to 1\.0\.5$/ },
};

function attacks(broker: BrokerKind): void {
  for (const attack of Object.keys(expected) as Attack[]) {
    test(`${broker}: --attack ${attack} ends in fail -4 and the board stays on its version`, async () => {
      let before = new Uint8Array(0);
      let after = new Uint8Array(0);
      const r = await runOta({
        broker,
        imageSize: SIZE,
        ...attackRun(attack, { imageSize: SIZE }),
        inspect: (run) => {
          before = run.initialFlash;
          after = run.sim.flash.snapshot();
        },
      });
      const e = expected[attack];
      assert.equal(r.result, "fail");
      assert.equal(r.resultCode, "-4");
      assert.match(r.resultMsg!, e.msg);
      assert.equal(r.running, e.old);
      assert.equal(bootedVersion(after, board), e.old, "otadata still boots the old slot");
      assert.deepEqual(story(r.reports).slice(-1), ["fail -4"]);
      assert.equal(r.reboots, 0, "no switch, no reboot");
      checkUntouched(before, after, board, [board.partitionTable.partitions.find((p) => p.subtype === "ota_0")!.label]);
    });
  }
}

attacks("aedes");
if (mosquittoAvailable()) attacks("mosquitto");
else if (process.env.CI) {
  test("mosquitto is installed in CI", () => {
    throw new Error("mosquitto is not on PATH: .ci/run must install it");
  });
} else test("signed updates on mosquitto", { skip: "mosquitto is not installed (apt-get install mosquitto)" }, () => undefined);

test("a power cut right after the trailer is written resumes at the image end's sector and still ends done", async () => {
  const file = SIZE + SIGN_TRAILER;
  const r = await runOta({ imageSize: SIZE, powerCutsAtBytes: [file] });
  assert.equal(r.result, "done");
  assert.equal(r.powerCuts, 1);
  assert.ok(r.bytesFetched <= file + 4096 + SIGN_TRAILER, `only the last sector is fetched again (fetched ${r.bytesFetched} of ${file})`);
});

test("a correctly signed downgrade installs where the board allows downgrades", async () => {
  const b = { ...board, sign: { required: true, allowDowngrade: true } };
  const r = await runOta({ board: b, bundle: await buildBundle(b), imageSize: SIZE, ...attackRun("downgrade", { imageSize: SIZE }) });
  assert.equal(r.result, "done");
  assert.equal(r.running, "1.0.5");
});

test("a lab board with sign.required false says so once at boot and installs an unsigned file", async () => {
  const b = { ...board, sign: { required: false, allowDowngrade: false } };
  let log: string[] = [];
  const r = await runOta({ board: b, bundle: await buildBundle(b), imageSize: SIZE, sign: false, inspect: (run) => (log = run.sim.device.log) });
  assert.equal(r.result, "done");
  const notices = log.filter((l) => l.includes("updates are NOT authenticated"));
  assert.ok(notices.length >= 1 && notices.length <= r.reboots + 1, "once per boot: " + notices.length);
  assert.ok(!log.some((l) => l.includes(board.provision!.signKey!)), "the key is never logged");
});

test("the key never appears in the device log of a signed update", async () => {
  let log: string[] = [];
  const r = await runOta({ imageSize: SIZE, inspect: (run) => (log = run.sim.device.log) });
  assert.equal(r.result, "done");
  assert.ok(log.length > 10);
  assert.ok(!log.some((l) => l.includes(board.provision!.signKey!) || l.includes("NOT authenticated")));
});

test("npm run sim -- --json --attack downgrade prints one line ending in fail, running the old version", () => {
  const out = spawnSync(process.execPath, ["--import", "tsx", "src/host/sim/main.ts", "--json", "--attack", "downgrade", "--size", String(SIZE)], { encoding: "utf8" });
  assert.equal(out.status, 1, out.stderr);
  const j = JSON.parse(out.stdout.trim());
  assert.equal(j.result, "fail");
  assert.equal(j.running, "1.1.0");
  const bad = spawnSync(process.execPath, ["--import", "tsx", "src/host/sim/main.ts", "--attack", "nope"], { encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^sim: --attack must be one of swap-image, swap-image-unsigned, downgrade, got "nope"/);
});
