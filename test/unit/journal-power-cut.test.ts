// Power cut at every flash operation of a long run of journal appends, progress notes, sector
// switches and clears: after each cut the journal must hold exactly the state of the last operation that
// returned (or the one in flight), never garbage and never anything older, and it must go on
// working from there.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Journal, JournalRegion } from "../../src/core/journal/journal";
import { writeU32 } from "../../src/core/journal/record";
import { OtaState, loadOtaState, saveOtaState } from "../../src/core/journal/ota-state";
import { jsMd5 } from "../../src/core/crypto/md5";
import { NorFlash, PowerCutError } from "../../src/host/runtime/nor-flash";
import type { FlashPort } from "../../src/core/ports";

const GUARD = 0x1000;
const SIZE = 1200000;

/** `progress`: only offset and midstate changed since the last save, so a progress note may stand for it. */
type Action = { save: OtaState; progress?: boolean } | { clear: true };

/** A midstate of `bytes` hashed: the chaining words depend on both, the input buffer on the salt only (a note keeps it). */
function midstate(bytes: number, salt: number): Uint8Array {
  const st = new Uint8Array(88);
  for (let i = 0; i < 88; i++) st[i] = (i * 11 + salt * 3 + (i < 16 ? bytes / 4096 : 0)) & 255;
  writeU32(st, 16, bytes * 8);
  writeU32(st, 20, 0);
  return st;
}

function state(version: string, phase: OtaState["phase"], offset: number, extra?: Partial<OtaState>): OtaState {
  return {
    phase,
    version,
    md5: version.indexOf("3.0.0") === 0 ? "c3fcd3d76192e4007dfb496cca67e13b" : "d41d8cd98f00b204e9800998ecf8427e",
    size: SIZE,
    targetSlot: 0x190000,
    offset,
    md5State: midstate(offset, version.length),
    attempts: offset % 3,
    freshUrlRequests: 0,
    failedMd5Count: 0,
    previousSlot: 0x10000,
    bootCount: 0,
    ...extra,
  };
}

/**
 * Three updates: a good one with trial boots, one that fails its MD5 twice, one cleared mid-way,
 * then the same again with other versions, so that even a 3-sector region wraps.
 */
function scenario(): Action[] {
  return updates("").concat(updates("-b"));
}

function updates(suffix: string): Action[] {
  const a: Action[] = [];
  for (let off = 0; off < SIZE; off += 65536) {
    const full = state("2.0.0" + suffix, "downloading", off, { taskId: "77" });
    a.push({ save: full });
    // progress notes between the whole records, as the agent notes every 4 KB sector
    for (let k = 1; k <= 3 && off + k * 4096 < SIZE; k++) a.push({ save: progressed(full, off + k * 4096), progress: true });
  }
  a.push({ save: state("2.0.0" + suffix, "verified", SIZE) });
  a.push({ save: state("2.0.0" + suffix, "switching", SIZE) });
  a.push({ save: state("2.0.0" + suffix, "trial", SIZE, { bootCount: 1 }) });
  a.push({ save: state("2.0.0" + suffix, "trial", SIZE, { bootCount: 2 }) });
  a.push({ clear: true });
  for (let attempt = 1; attempt <= 2; attempt++) {
    for (let off = 0; off <= 327680; off += 65536) {
      a.push({ save: state("3.0.0" + suffix, "downloading", off, { failedMd5Count: attempt - 1, fwType: "mcu" }) });
    }
    a.push({ save: state("3.0.0" + suffix, "failed", 327680, { failedMd5Count: attempt }) });
  }
  a.push({ clear: true });
  // more notes than fit in what is left of a journal sector: the state moves on as a whole record
  const start = state("4.1.0" + suffix, "downloading", 0);
  a.push({ save: start });
  for (let off = 4096; off <= 130 * 4096; off += 4096) a.push({ save: progressed(start, off), progress: true });
  a.push({ clear: true });
  a.push({ save: state("4.1.1" + suffix, "downloading", 0) });
  return a;
}

/** `s` moved on to `offset` (a note's change). */
function progressed(s: OtaState, offset: number): OtaState {
  return { ...s, offset, md5State: midstate(offset, s.version.length) };
}

const ACTIONS = scenario();

function expected(a: Action): OtaState | null {
  return "save" in a ? a.save : null;
}

function apply(j: Journal, a: Action): void {
  if ("save" in a) saveOtaState(j, a.save, a.progress);
  else j.clear();
}

interface Rig {
  nor: NorFlash;
  port: FlashPort;
  region: JournalRegion;
  /** Kind of every mutating flash op, in order. */
  log: string[];
}

function makeRig(region: JournalRegion, seed: number, junk: boolean): Rig {
  const nor = new NorFlash({ size: region.size + 2 * GUARD, seed });
  nor.bytes.fill(0x5a, 0, GUARD);
  nor.bytes.fill(0x5a, GUARD + region.size);
  if (junk) for (let i = GUARD; i < GUARD + region.size; i++) nor.bytes[i] = (i * 2654435761) >>> 27;
  const inner = nor.asPort(region.offset - GUARD);
  const log: string[] = [];
  const port: FlashPort = {
    read: (o, n) => inner.read(o, n),
    write: (o, d) => {
      log.push(d.length === 4 ? "commit" : d.length === 32 ? "note" : "write");
      inner.write(o, d);
    },
    eraseSector: (o) => {
      log.push("erase");
      inner.eraseSector(o);
    },
  };
  return { nor, port, region, log };
}

function assertUntouchedOutside(r: Rig): void {
  assert.deepEqual(r.nor.violations, []);
  for (let i = 0; i < GUARD; i++) {
    assert.equal(r.nor.bytes[i], 0x5a);
    assert.equal(r.nor.bytes[GUARD + r.region.size + i], 0x5a);
  }
}

/**
 * Runs the whole scenario as a device would: `cuts[k]` arms the k-th power cut that many flash
 * ops after the previous reboot. After every cut the journal is reloaded on a fresh Journal and
 * checked, then the interrupted action is redone and the run goes on. Returns the number of cuts.
 */
function runDevice(r: Rig, cuts: number[]): number {
  let committed: OtaState | null = null;
  let i = 0;
  let fired = 0;
  let next = 0;
  while (i < ACTIONS.length) {
    if (next < cuts.length) r.nor.cutPowerAfter(cuts[next++]);
    const j = new Journal(r.port, r.region);
    try {
      for (; i < ACTIONS.length; i++) {
        apply(j, ACTIONS[i]);
        committed = expected(ACTIONS[i]);
      }
    } catch (e) {
      if (!(e instanceof PowerCutError)) throw e;
      fired++;
      r.nor.powerOn();
      const got = loadOtaState(new Journal(r.port, r.region));
      const inFlight = expected(ACTIONS[i]);
      const where = "cut " + fired + " during action " + i + " (op " + r.log.length + ": " + r.log[r.log.length - 1] + ")";
      try {
        assert.deepEqual(got, committed, where);
      } catch (notCommitted) {
        assert.deepEqual(got, inFlight, where + ": neither the last committed state nor the one in flight");
      }
      committed = got;
      continue;
    }
  }
  r.nor.cutPowerAfter(null);
  assert.deepEqual(loadOtaState(new Journal(r.port, r.region)), expected(ACTIONS[ACTIONS.length - 1]));
  assertUntouchedOutside(r);
  return fired;
}

const REGIONS: JournalRegion[] = [
  { offset: 0x310000, size: 0x2000 },
  { offset: 0x310000, size: 0x3000 },
];

test("the scenario wraps the region and its baseline needs no cut", () => {
  for (const region of REGIONS) {
    const r = makeRig(region, 1, false);
    assert.equal(runDevice(r, []), 0);
    const slots = (region.size / 0x1000) * 16;
    assert.ok(ACTIONS.length > slots + 16, ACTIONS.length + " actions should wrap " + slots + " slots");
    assert.ok(r.log.filter((k) => k === "erase").length >= region.size / 0x1000 + 1);
  }
});

test("a single power cut at every flash operation, including erases, commits and clears", () => {
  for (const region of REGIONS) {
    for (const junk of [false, true]) {
      const baseline = makeRig(region, 1, junk);
      runDevice(baseline, []);
      const total = baseline.log.length;
      const cutKinds: Record<string, number> = { erase: 0, write: 0, commit: 0, note: 0 };
      for (let n = 1; n <= total; n++) {
        const r = makeRig(region, 1000 + n, junk);
        assert.equal(runDevice(r, [n]), 1, "cut " + n + " fired");
        cutKinds[baseline.log[n - 1]]++;
      }
      // Every erase of the run was interrupted once (a sector switch or the first sector).
      assert.equal(cutKinds.erase, baseline.log.filter((k) => k === "erase").length);
      assert.ok(cutKinds.erase >= 3 && cutKinds.commit > 30 && cutKinds.write > 30 && cutKinds.note > 150, JSON.stringify(cutKinds));
    }
  }
});

test("a second power cut while recovering from the first", () => {
  const region = REGIONS[0];
  const total = (() => {
    const r = makeRig(region, 1, false);
    runDevice(r, []);
    return r.log.length;
  })();
  let doubles = 0;
  for (let n = 1; n <= total; n++) {
    const r = makeRig(region, 5000 + n, false);
    const fired = runDevice(r, [n, 1 + ((n * 7) % 5)]);
    assert.ok(fired >= 1);
    if (fired === 2) doubles++;
  }
  // Only cuts in the last few ops leave too little work for the second one.
  assert.ok(doubles >= total - 8, doubles + " of " + total);
});

test("many random power cuts in a row", () => {
  for (let seed = 1; seed <= 30; seed++) {
    let x = seed;
    const cuts: number[] = [];
    for (let k = 0; k < 40; k++) {
      x = (x * 1103515245 + 12345) >>> 0;
      cuts.push(1 + (x >>> 28)); // 1..16 ops between cuts, often several within one sector switch
    }
    const r = makeRig(REGIONS[seed % 2], seed, seed % 3 === 0);
    assert.ok(runDevice(r, cuts) >= 10);
  }
});

test("a download resumed after power cuts from the journaled offset and midstate gives the exact MD5, with whole records or progress notes", () => {
  const image = new Uint8Array(700000);
  for (let i = 0; i < image.length; i++) image[i] = (i * 2654435761) >>> 24;
  const want = createHash("md5").update(image).digest("hex");
  const region = REGIONS[0];
  // every 64 KB as a whole record; every 4 KB sector as a progress note (the MD5's input buffer then comes from an older record)
  for (const [span, progress, seeds] of [[65536, false, 12], [4096, true, 6]] as const) {
    for (let seed = 1; seed <= seeds; seed++) {
      const r = makeRig(region, seed, false);
      const base: OtaState = { ...state("9.9.9", "downloading", 0), md5: want, size: image.length, md5State: jsMd5.create().saveState() };
      saveOtaState(new Journal(r.port, region), base);
      let boots = 0;
      for (;;) {
        boots++;
        // Each boot: resume from the journal, hash and "write" spans, checkpointing after each span.
        const j = new Journal(r.port, region);
        const st = loadOtaState(j)!;
        assert.ok(st && st.phase === "downloading" && (st.offset % span === 0 || st.offset === image.length), "boot " + boots);
        if (st.offset === image.length) break;
        const md5 = jsMd5.restore(st.md5State);
        r.nor.cutPowerAfter(progress ? 20 + seed * 7 + boots * 3 : seed + boots * 3);
        try {
          for (let off = st.offset; off < image.length; off += span) {
            const n = Math.min(span, image.length - off);
            md5.update(image, off, n);
            saveOtaState(j, { ...st, offset: off + n, md5State: md5.saveState() }, progress);
          }
        } catch (e) {
          if (!(e instanceof PowerCutError)) throw e;
          r.nor.powerOn();
        }
        r.nor.cutPowerAfter(null);
        assert.ok(boots < 60, "download makes progress");
      }
      assert.ok(boots > 2, "power was cut along the way");
      const final = loadOtaState(new Journal(r.port, region))!;
      const digest = Buffer.from(jsMd5.restore(final.md5State).digest()).toString("hex");
      assert.equal(digest, want);
      assertUntouchedOutside(r);
    }
  }
});
