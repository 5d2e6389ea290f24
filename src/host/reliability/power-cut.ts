// The power-cut matrix: a full update of a small image is run once to count and label its
// flash operations (download, verify, switch, trial); then, for every operation k, a fresh
// board is cut off during operation k (the NOR model leaves it half done, seeded), powered
// on again and left to finish. At the cut and at every boot the bootloader model must find
// a valid, known image; afterwards the update must have completed with the new image byte
// for byte and at most one span fetched again.
import type { BoardConfig } from "../../core/board";
import { buildBundle } from "../build/bundle";
import type { AgentCode } from "../build/install";
import type { FlashPort } from "../../core/ports";
import { Journal } from "../../core/journal/journal";
import { loadOtaState } from "../../core/journal/ota-state";
import { resolveBoard } from "../sim/ota-run";
import { between, rng } from "./common";
import { sleep, withHarness } from "./harness";
import { checkBootable } from "./invariants";
import type { Expected, Scenario } from "./types";

export type Phase = "download" | "verify" | "switch" | "trial";
export const PHASES: Phase[] = ["download", "verify", "switch", "trial"];

export interface Variant {
  id: string;
  label: string;
  imageSize: number;
  make: () => Promise<{ board: BoardConfig; bundle?: AgentCode }>;
}

export interface Calibration {
  variant: Variant;
  /** phases[k - 1]: the phase of flash operation k after the push. */
  phases: Phase[];
  /** journal[k - 1]: the phase the journal holds when operation k starts (what a cut there falls back to). */
  journal: string[];
}

/** The OTA state committed in the journal of this flash image (read in place, nothing copied). */
export function committedPhase(bytes: Uint8Array, board: BoardConfig): string {
  const port: FlashPort = {
    read: (offset, length) => bytes.slice(offset, offset + length),
    write: () => {
      throw new Error("read-only");
    },
    eraseSector: () => {
      throw new Error("read-only");
    },
  };
  try {
    const st = loadOtaState(new Journal(port, board.journal));
    return st ? st.phase : "empty";
  } catch (e) {
    return "unreadable";
  }
}

const OFF_MS = 100;

/** The shipped simulated board (A/B, agent-side trial). */
export const HOST_SIM: Variant = {
  id: "ab",
  label: "host-sim (A/B slots, agent trial)",
  imageSize: 128 * 1024,
  make: async () => ({ board: resolveBoard("host-sim") }),
};

/** host-sim with a rollback bootloader (PENDING_VERIFY, ESP32.setOTAValid). */
export const ROLLBACK: Variant = {
  id: "rollback",
  label: "host-sim with a rollback bootloader",
  imageSize: 128 * 1024,
  make: async () => {
    const board: BoardConfig = { ...resolveBoard("host-sim"), bootloaderRollback: true };
    return { board, bundle: await buildBundle(board) };
  },
};

/** host-sim on the official Espruino layout: factory + ota_0, the update goes factory -> ota_0. */
export const FACTORY: Variant = {
  id: "factory",
  label: "host-sim on the Espruino factory + ota_0 layout",
  imageSize: 128 * 1024,
  make: async () => {
    const b = resolveBoard("host-sim");
    const parts = b.partitionTable.partitions.map((p) => ({ ...p }));
    const app0 = parts.find((p) => p.label === "ota_0")!;
    const app1 = parts.find((p) => p.label === "ota_1")!;
    app0.label = "factory";
    app0.subtype = "factory";
    app1.label = "ota_0";
    app1.subtype = "ota_0";
    const board: BoardConfig = { ...b, partitionTable: { ...b.partitionTable, partitions: parts } };
    return { board, bundle: await buildBundle(board) };
  },
};

const made = new Map<string, Promise<{ board: BoardConfig; bundle?: AgentCode }>>();
function materialise(v: Variant): Promise<{ board: BoardConfig; bundle?: AgentCode }> {
  let p = made.get(v.id);
  if (!p) {
    p = v.make();
    made.set(v.id, p);
  }
  return p;
}

function inside(offset: number, start: number, size: number): boolean {
  return offset >= start && offset < start + size;
}

/** Runs one clean update and labels every flash operation after the push with its phase. */
export async function calibrate(v: Variant, seed = 1): Promise<Calibration> {
  const { board, bundle } = await materialise(v);
  const ops: { offset: number; boot: number; journal: string }[] = [];
  let recording = false;
  let target: { offset: number; size: number } | null = null;
  let boots = () => 0;
  let flashBytes: Uint8Array = new Uint8Array(0);
  const obs = await withHarness(
    { seed, board, bundle, imageSize: v.imageSize },
    { outcome: "done" },
    async (hh) => {
      const t = board.partitionTable.partitions.find((p) => p.type === "app" && hh.allowed.some((r) => r.name === p.label))!;
      target = { offset: t.offset, size: t.size };
      boots = () => hh.run.sim.device.boots;
      flashBytes = hh.run.sim.flash.bytes;
      await hh.powerOn();
      recording = true;
      hh.deploy();
      await hh.waitEnded("1.1.0", 30000);
      await sleep(200);
    },
    { onOp: (_k, offset) => void (recording && ops.push({ offset, boot: boots(), journal: committedPhase(flashBytes, board) })) },
  );
  if (obs.outcome !== "done") throw new Error(`calibration of ${v.id} did not complete: ${obs.problems.join("; ")}`);
  const parts = board.partitionTable.partitions;
  const slot = target as { offset: number; size: number } | null;
  if (!slot) throw new Error("calibration: no target slot");
  const otadata = parts.find((p) => p.type === "data" && p.subtype === "ota")!;
  const firstBoot = ops[0].boot;
  let lastSlot = -1;
  let firstOtadata = ops.length;
  ops.forEach((o, i) => {
    if (o.boot !== firstBoot) return;
    if (inside(o.offset, slot.offset, slot.size)) lastSlot = i;
    if (inside(o.offset, otadata.offset, otadata.size) && i < firstOtadata) firstOtadata = i;
  });
  const phases = ops.map((o, i): Phase => (o.boot !== firstBoot ? "trial" : i <= lastSlot ? "download" : i < firstOtadata ? "verify" : "switch"));
  return { variant: v, phases, journal: ops.map((o) => o.journal) };
}

const CLEAN_FINISH: Expected["shape"] = {
  pattern: /^version 1\.0\.0(, (downloading (0|100)|burning|version 1\.[01]\.0))*, version 1\.1\.0, done(, (done|version 1\.1\.0))*$/,
  text: "version 1.0.0 … version 1.1.0, done, never a fail (progress and report_version repeat after each restart; done may repeat when the cut fell between sending it and journaling that it was sent)",
};

export interface CutPoint {
  k: number;
  seed: number;
  /** A second cut this many operations after the first power-on that follows. */
  second?: number;
}

/** One point of the matrix as a scenario. */
export function cutScenario(cal: Calibration, p: CutPoint, quick = false): Scenario {
  const v = cal.variant;
  const n = cal.phases.length;
  const phase = cal.phases[p.k - 1];
  const journal = cal.journal[p.k - 1];
  const expected: Expected = {
    outcome: "done",
    runs: "1.1.0",
    shape: CLEAN_FINISH,
    notes: "bootable at the cut and at every boot, completes after the restart, at most one span fetched again per cut, new image byte for byte",
  };
  const twice = p.second !== undefined;
  return {
    id: `cut-${v.id}-op${p.k}-s${p.seed}` + (twice ? `-then${p.second}` : ""),
    name: `${v.label}: power cut during flash op ${p.k}/${n} (${phase}, journal ${journal})` + (twice ? `, again ${p.second} ops after power-on` : "") + `, seed ${p.seed}`,
    group: "power-cut",
    quick,
    expected,
    timeoutSec: 90,
    tags: { variant: v.id, phase, journal, cuts: twice ? "2" : "1" },
    run: async () => {
      const { board, bundle } = await materialise(v);
      const obs = await withHarness({ seed: p.seed, board, bundle, imageSize: v.imageSize }, expected, async (h) => {
        await h.powerOn();
        const { sim, initialFlash } = h.run;
        const flash = sim.flash;
        let pending = p.second;
        flash.onPowerCut = () => {
          h.powerCuts++;
          checkBootable(h.counts, `at the cut (op ${p.k}, cut ${h.powerCuts})`, flash.bytes, initialFlash, board, h.images);
          setTimeout(() => {
            sim.powerOn();
            if (pending !== undefined) {
              flash.cutPowerAfter(pending);
              pending = undefined;
            }
          }, OFF_MS).unref();
        };
        h.deploy();
        flash.cutPowerAfter(p.k);
        await h.waitEnded("1.1.0", 60000);
        await sleep(150);
        h.check(h.powerCuts >= 1, `the cut at op ${p.k} never happened (the update took another path than the calibration run)`);
        const target = board.partitionTable.partitions.find((x) => x.type === "app" && h.allowed.some((r) => r.name === x.label))!;
        h.check(Buffer.from(h.slotBytes(target.label, h.run.image.length)).equals(Buffer.from(h.run.image)), `${target.label} does not hold the new image byte for byte`);
        // each cut may cost the span that was in flight, nothing more
        const extra = h.bytesFetched - h.run.image.length;
        const allowed = Math.max(1, h.powerCuts) * board.download.spanBytes;
        h.check(extra <= allowed, `fetched ${extra} bytes again after ${h.powerCuts} cut(s), more than one span (${board.download.spanBytes}) per cut`);
      });
      obs.metrics.cutAtOp = p.k;
      obs.metrics.phase = phase;
      obs.metrics.journal = journal;
      return obs;
    },
  };
}

/** Every operation k with each seed. */
export function fullMatrix(cal: Calibration, seeds: number[]): Scenario[] {
  const out: Scenario[] = [];
  for (const seed of seeds) for (let k = 1; k <= cal.phases.length; k++) out.push(cutScenario(cal, { k, seed }));
  return out;
}

/** Every operation outside the download, and every `stride`-th one inside it. */
export function sampledMatrix(cal: Calibration, seed: number, stride: number, quick = false): Scenario[] {
  const out: Scenario[] = [];
  let d = 0;
  cal.phases.forEach((ph, i) => {
    if (ph !== "download" || d++ % stride === Math.floor(stride / 2)) out.push(cutScenario(cal, { k: i + 1, seed }, quick));
  });
  return out;
}

/** Seeded pairs: a cut anywhere, and a second one during the recovery that follows. */
export function doubleCuts(cal: Calibration, seed: number, count: number): Scenario[] {
  const r = rng(seed);
  const out: Scenario[] = [];
  for (let i = 0; i < count; i++) out.push(cutScenario(cal, { k: between(r, 1, cal.phases.length), seed: 100 + i, second: between(r, 1, 40) }));
  return out;
}
