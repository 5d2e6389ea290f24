// The ROM MD5's boot-loop guard on the simulated board (docs/rom-md5.md#boot-loop-guard): a ROM
// call that faults the chip resets it once, and from the next boot on the job uses the JS MD5
// without calling the ROM again, while the update goes on to done.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runOta, resolveBoard } from "../../src/host/sim/ota-run";
import { buildBundle } from "../../src/host/build/bundle";
import { romFunction } from "../../src/host/runtime/rom-model";
import type { RomFunctionFactory } from "../../src/host/runtime/rom-types";
import { bytesToBinary } from "../../src/host/runtime/bytes";
import { story } from "../../src/host/sim/story";

const romBoard = { ...resolveBoard("host-sim"), md5: "rom" as const };
const SIZE = 192 * 1024;

test("a ROM call that faults the chip once: one reset, then the JS MD5 for good and the update completes", async () => {
  let calls = 0;
  let callsAfterFault = 0;
  // The modelled ROM, except that the very first call faults (Guru Meditation and reset).
  const faultOnce: RomFunctionFactory = (addr, sig, mem) => {
    const f = romFunction(addr, sig, mem);
    return f && ((...a: number[]) => {
      if (calls++ === 0) throw new Error("injected fault in the ROM");
      callsAfterFault++;
      return f(...a);
    });
  };
  let log: string[] = [];
  let events: string[] = [];
  let mark: string | undefined;
  const r = await runOta({
    board: romBoard,
    bundle: await buildBundle(romBoard),
    imageSize: SIZE,
    romFunction: faultOnce,
    // and a power cut half way: the JS backend resumes from the journal's MD5 state
    powerCutsAtBytes: [SIZE / 2],
    inspect: (run) => {
      log = run.sim.device.log;
      events = run.sim.device.events;
      const f = run.sim.device.storage.get("ota.md5");
      mark = f && bytesToBinary(f);
    },
  });
  assert.equal(r.result, "done", r.resultMsg);
  const s = story(r.reports);
  assert.equal(s[s.length - 1], "done");
  assert.ok(!s.some((x) => x.startsWith("fail")), s.join(", "));
  assert.equal(events.filter((e) => e.includes("crash")).length, 1, "one crash: " + events.join(" | "));
  assert.match(events[1], /^reboot: crash: .*injected fault/, "at the first boot, before the update was pushed");
  assert.equal(callsAfterFault, 0, "the ROM was never called again");
  assert.equal(mark, "probe", "the mark stays: no later boot tries the ROM");
  const guardLines = log.filter((l) => l.includes("probe of an earlier boot never passed"));
  assert.ok(guardLines.length >= 3, `every later boot says why it uses JS (${guardLines.length} boots)`);
  assert.ok(log.some((l) => l.includes("md5 backend js")));
  assert.ok(!log.some((l) => l.includes("md5 backend rom")));
});

test("a ROM that passes its self-test is recorded once and used after every reboot", async () => {
  let log: string[] = [];
  let mark: string | undefined;
  const r = await runOta({
    board: romBoard,
    bundle: await buildBundle(romBoard),
    imageSize: SIZE,
    powerCutsAtBytes: [SIZE / 2],
    inspect: (run) => {
      log = run.sim.device.log;
      const f = run.sim.device.storage.get("ota.md5");
      mark = f && bytesToBinary(f);
    },
  });
  assert.equal(r.result, "done", r.resultMsg);
  assert.match(mark ?? "", /^rom ESP32 \S+$/);
  const rom = log.filter((l) => l.includes("md5 backend rom")).length;
  assert.ok(rom >= 3, `the ROM after the first boot, the power cut and the new image's boot (${rom})`);
  assert.ok(!log.some((l) => l.includes("md5 backend js")));
});
