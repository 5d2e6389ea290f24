// The journal's flash format is read by deployed agents, host tools and the reliability campaign:
// a fixed scenario must leave exactly the bytes the first released format left (the hashes below
// were taken from that implementation), and read back exactly what it wrote. The same for the
// progress notes (record.ts), from their first implementation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Journal } from "../../src/core/journal/journal";
import { OtaState, decodeOtaState, loadOtaState, saveOtaState } from "../../src/core/journal/ota-state";
import { NorFlash } from "../../src/host/runtime/nor-flash";

const REGION = { offset: 0x310000, size: 0x2000 };

function state(n: number): OtaState {
  const phases: OtaState["phase"][] = ["downloading", "verified", "switching", "trial", "failed", "confirmed", "rolledback"];
  const phase = phases[n % 7];
  const size = 1000000 + n * 4099;
  const offset = phase === "downloading" ? n * 4096 : phase === "failed" ? 4096 : size;
  const md5State = new Uint8Array(88);
  for (let i = 0; i < 88; i++) md5State[i] = (i * 29 + n) & 255;
  const bits = (phase === "downloading" ? offset : n) * 8;
  for (let i = 0; i < 8; i++) md5State[16 + i] = i < 4 ? (bits >>> (8 * i)) & 255 : 0;
  const s: OtaState = {
    phase,
    version: "1." + n + ".0",
    md5: "9e107d9d372bb6826bd81d3542a419d6".slice(n % 32) + "9E107D9D372BB6826BD81D3542A419D6".slice(0, n % 32),
    size,
    targetSlot: n % 2 ? 0x10000 : 0x190000,
    offset,
    md5State,
    attempts: n * 3,
    freshUrlRequests: n % 4,
    failedMd5Count: n % 3,
    previousSlot: n % 2 ? 0x190000 : 0x10000,
    bootCount: n % 5,
  };
  if (n % 3) s.taskId = "task-" + n;
  if (n % 4) s.fwType = n % 8 ? "mcu" : "";
  return s;
}

test("a fixed run of saves and clears leaves the format's exact bytes and reads back", () => {
  const nor = new NorFlash({ size: REGION.size, seed: 3 });
  const port = nor.asPort(REGION.offset);
  const hashes: string[] = [];
  let journal = new Journal(port, REGION);
  for (let n = 0; n < 45; n++) {
    if (n % 11 === 10) {
      journal.clear();
      assert.equal(loadOtaState(new Journal(port, REGION)), null);
    } else {
      saveOtaState(journal, state(n));
      const back = loadOtaState(new Journal(port, REGION));
      assert.deepEqual(back, { ...state(n), md5: state(n).md5.toLowerCase() }, "state " + n);
    }
    if (n % 7 === 6) journal = new Journal(port, REGION);
    if (n % 15 === 14) hashes.push(createHash("sha256").update(nor.bytes).digest("hex").slice(0, 16));
  }
  assert.deepEqual(hashes, ["b24121220dcf2ce6", "4ce20e10c1530aa2", "03a8fb48d7160a52"]);
});

test("a fixed run with progress notes leaves the note format's exact bytes, and journals without notes read as before", () => {
  const nor = new NorFlash({ size: REGION.size, seed: 3 });
  const port = nor.asPort(REGION.offset);
  const journal = new Journal(port, REGION);
  const hashes: string[] = [];
  const start = state(0); // downloading, offset 0
  saveOtaState(journal, start);
  for (let k = 1; k <= 140; k++) {
    const md5State = new Uint8Array(start.md5State);
    for (let i = 0; i < 16; i++) md5State[i] = (i * 7 + k) & 255;
    md5State.set([(k * 4096 * 8) & 255, ((k * 4096 * 8) >> 8) & 255, ((k * 4096 * 8) >> 16) & 255, 0], 16);
    const s = { ...start, offset: k * 4096, md5State };
    saveOtaState(journal, s, true);
    if (k % 20 === 0) {
      assert.deepEqual(loadOtaState(new Journal(port, REGION)), { ...s, md5: s.md5.toLowerCase() }, "note " + k);
      hashes.push(createHash("sha256").update(nor.bytes).digest("hex").slice(0, 16));
    }
  }
  assert.deepEqual(hashes, ["a65bb3ef27b322ff", "c6b03b1308ffadfc", "9fe7a3689d3325d3", "5b826b02971ed6a9", "1c4995d10d9d8471", "e46219c6c1243f03", "9151ae9822a74393"]);
  // 120 notes fill the first sector after its record; the 121st checkpoint went to the next
  // sector as a whole record. Code that predates notes reads only records: that one, a valid
  // earlier checkpoint to resume from.
  const j = new Journal(port, REGION);
  const recordOnly = decodeOtaState(j.load())!;
  assert.equal(recordOnly.offset, 121 * 4096);
  assert.equal(loadOtaState({ load: () => j.load(), note: null })!.offset, 121 * 4096);
  assert.equal(loadOtaState(new Journal(port, REGION))!.offset, 140 * 4096);
});
