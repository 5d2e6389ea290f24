// The campaign's invariant checks are not vacuous: sabotage a simulated board the agent
// would never touch that way, and the checks the runner applies after every scenario
// must report it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Harness } from "../../src/host/reliability/harness";
import { compare } from "../../src/host/reliability/runner";
import { buildAppImage } from "../../src/host/image/app-image-builder";
import { OTA_VALID, writeOtadataEntry } from "../../src/host/image/otadata-entry";

async function sabotaged(act: (h: Harness) => void) {
  const h = await Harness.start({ imageSize: 96 * 1024, seed: 3 });
  try {
    await h.powerOn();
    act(h);
    return h.observe("1.1.0", { outcome: "ignored" });
  } finally {
    await h.close();
  }
}

const part = (h: Harness, label: string) => h.board.partitionTable.partitions.find((p) => p.label === label)!;

test("a write to nvs is counted as a write outside the allowed regions", async () => {
  const o = await sabotaged((h) => {
    const nvs = part(h, "nvs");
    h.run.sim.flash.erase(nvs.offset);
    h.run.sim.flash.write(nvs.offset, new Uint8Array([1, 2, 3, 4]));
  });
  assert.ok(o.invariants.outsideWrites >= 2, JSON.stringify(o.invariants));
  assert.match(o.invariants.details.join("\n"), /erase of 4096 bytes at 0x9000 \(nvs\)/);
  assert.ok(compare({ outcome: "ignored" }, o).some((m) => m.startsWith("invariants:")));
});

test("a flipped byte in the running image leaves nothing bootable, and that is counted", async () => {
  const o = await sabotaged((h) => {
    h.run.sim.flash.bytes[part(h, "ota_0").offset + 5000] ^= 0x01;
  });
  assert.ok(o.invariants.unbootable >= 1, JSON.stringify(o.invariants));
  assert.equal(o.runs, null);
});

test("a bootable image that is neither the old nor the new one counts as a corrupt image accepted", async () => {
  const o = await sabotaged((h) => {
    // a valid image of another build in ota_1, and otadata pointing at it (seq 2 = ota_1)
    const other = buildAppImage({ version: "6.6.6", projectName: "espruino", size: 96 * 1024, seed: 77 });
    const bytes = h.run.sim.flash.bytes;
    bytes.set(other, part(h, "ota_1").offset);
    writeOtadataEntry(bytes, part(h, "otadata").offset, 1, { seq: 2, state: OTA_VALID });
  });
  assert.equal(o.runs, "6.6.6");
  assert.equal(o.invariants.corruptAccepted, 1, JSON.stringify(o.invariants));
  assert.match(o.invariants.details.join("\n"), /ota_1 holds bytes that are neither the old nor a new image/);
});

test("an illegal NOR operation (setting bits without an erase) is counted", async () => {
  const o = await sabotaged((h) => {
    const j = h.board.journal;
    h.run.sim.flash.write(j.offset + j.size - 16, new Uint8Array([0x00]));
    h.run.sim.flash.write(j.offset + j.size - 16, new Uint8Array([0xff]));
  });
  assert.ok(o.invariants.flashViolations >= 1, JSON.stringify(o.invariants));
});
