// The figures of issue #10, on the ESP32 memory model: the real interpreter in the ESP32's JsVar
// format (esp32-format.ts), a heap of `heap` JsVars (device-stub.ts), the agent in Storage as
// agentStorageFiles() installs it (install-plan.ts), an application beside it (app-program.ts).
import { join } from "node:path";
import { agentStorageFiles, readAgentCode } from "../build/install";
import { boardFiles, loadBoard } from "../boards/load-board";
import { DIST_DIR } from "./footprint";
import { installPlan } from "./install-plan";
import { BENCH_PROVISION } from "./provision";
import { runRealUpdate, RealRunFailure, type RealUpdateResult } from "./real-update";
import { runRealAppUpdate } from "./real-app-update";
import { failed, judged, type Figure } from "./report";

/** Issue #10's targets. */
export const TARGETS = { idle: 900, peak: 1600, residentKB: 20, appJsVars: 2000, gapMs: 2000 };
/** ESP32 boards without PSRAM report process.memory().total of about 3400-4100. */
export const DEFAULT_HEAP = 4100;
export const ITEM = 8;

export interface Esp32Run {
  bin: string;
  heap: number;
  echo?: boolean;
  progress?: (what: string) => void;
}

const firstLine = (s: string) => s.split("\n")[0];

/** A figure whose run could not complete: FAIL when the agent did not fit or finish, error when the bench broke. */
export function runFailed(key: string, label: string, unit: string, target: string | null, e: unknown, item = ITEM): Figure {
  if (!(e instanceof RealRunFailure)) return failed(key, item, label, unit, target, e);
  const tail = e.tail
    .map((l) => l.trim())
    .filter((l) => l && !/^\^+$/.test(l))
    .slice(-4);
  return { key, item, label, value: null, unit, target, verdict: "FAIL", note: firstLine(e.message) + (tail.length ? " | console: " + tail.join(" / ") : "") };
}

/** Code the agent keeps loaded while idle: its boot files from agentStorageFiles(), per board bundle in dist/. */
export function residentCode(dist = DIST_DIR): { board: string; bytes: number; files: string[] }[] {
  return boardFiles().map((f) => {
    const board = loadBoard(f).name;
    const plan = installPlan({ agentFiles: agentStorageFiles(readAgentCode(join(dist, board + ".js")), BENCH_PROVISION), stub: { flashBase: 0 } });
    return { board, bytes: plan.residentBytes, files: plan.agentBootFiles };
  });
}

export function residentFigure(dist = DIST_DIR): Figure {
  const label = "Agent code loaded while idle (Storage boot files, minified)";
  const target = "<= " + TARGETS.residentKB + " KB";
  try {
    const r = residentCode(dist);
    const worst = r.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    return judged(
      { key: "code.resident", item: ITEM, label, value: worst.bytes / 1024, unit: "KB", note: `largest ${worst.board} (${worst.files.join(" + ")}); ` + r.map((x) => x.board + " " + x.bytes).join(", ") + " bytes" },
      "<=",
      TARGETS.residentKB,
      target,
    );
  } catch (e) {
    return failed("code.resident", ITEM, label, "KB", target, e);
  }
}

/** Idle and peak of the agent alone on the heap: one clean update of the largest image the layout holds. */
export async function idleAndPeak(o: Esp32Run): Promise<Figure[]> {
  const idleLabel = `Agent JsVars, connected and idle (heap ${o.heap}, ESP32 format)`;
  const peakLabel = `Agent JsVars at the peak of an update (heap ${o.heap})`;
  o.progress?.(`idle and peak on a ${o.heap}-JsVar heap`);
  let r: RealUpdateResult;
  try {
    r = await runRealUpdate({ bin: o.bin, heap: o.heap, echo: o.echo });
  } catch (e) {
    return [runFailed("memory.idle", idleLabel, "JsVars", "<= " + TARGETS.idle, e), runFailed("memory.peak", peakLabel, "JsVars", "<= " + TARGETS.peak, e)];
  }
  const b = r.bootMemory[0];
  const heapNote = b ? `; interpreter ${b.start} + bench stub ${b.base - b.start} not counted, ${r.freeAtStart} JsVars free when the agent began` : "";
  const figs: Figure[] = [
    judged({ key: "memory.idle", item: ITEM, label: idleLabel, value: r.idleAgent, unit: "JsVars", note: `after report_version was acknowledged; code from Storage (${r.agentBootFiles.join(" + ")})` + heapNote }, "<=", TARGETS.idle),
  ];
  const kb = (r.imageBytes / 1024).toFixed(0);
  figs.push(
    r.result === "done"
      ? judged(
          {
            key: "memory.peak",
            item: ITEM,
            label: peakLabel,
            value: r.peakAgent,
            unit: "JsVars",
            note: `at ${r.peakAgentAt}; ${kb} KiB update (the largest the Linux layout's slots hold, not 1.5 MiB), download to trial boot, sampled at every flash call and every 250 ms`,
          },
          "<=",
          TARGETS.peak,
        )
      : { key: "memory.peak", item: ITEM, label: peakLabel, value: r.peakAgent, unit: "JsVars", target: "<= " + TARGETS.peak, verdict: "FAIL", note: `the update failed: ${r.resultCode} ${r.resultMsg}` },
  );
  return figs;
}

/**
 * The agent's peak during an application update (docs/app-ota.md), net of the application that
 * runs beside it: application 1.0.0 (the bench's, holding 300 JsVars) is replaced by a 3 KB package.
 * Small because the Linux build's Storage shares its 256 KB of flash with the board's layout.
 */
export async function appUpdatePeakFigure(o: Esp32Run): Promise<Figure> {
  const key = "memory.appUpdatePeak";
  const label = `Agent JsVars at the peak of an application update (heap ${o.heap}), net of the running application`;
  const target = "<= " + TARGETS.peak;
  o.progress?.(`an application update on a ${o.heap}-JsVar heap`);
  try {
    const r = await runRealAppUpdate({ bin: o.bin, heap: o.heap, echo: o.echo, appBytes: 3000 });
    if (r.result !== "done" || r.appHeld === null) {
      return { key, item: ITEM, label, value: null, unit: "JsVars", target, verdict: "FAIL", note: `the application update ended ${r.result} ${r.resultCode ?? ""} ${r.resultMsg ?? ""}, application held ${r.appHeld}` };
    }
    return judged(
      { key, item: ITEM, label, value: r.peak - r.appHeld, unit: "JsVars", note: `${r.peak} with the application (it held ${r.appHeld}) at ${r.peakAt}, boot ${r.peakBoot}; ${r.packageBytes}-byte package from Storage's ota.app0 to ota.app1, ended ${r.result} running ${r.running}` },
      "<=",
      TARGETS.peak,
    );
  } catch (e) {
    return runFailed(key, label, "JsVars", target, e);
  }
}

export interface AppFit {
  /** Largest application (JsVars) with which the update completed; null: not even without one. */
  largest: number | null;
  tried: { hold: number; ok: boolean; why: string }[];
}

/** Binary search over application sizes: the largest with which a clean full update completes on the heap. */
export async function largestApp(o: Esp32Run, precision = 50): Promise<AppFit> {
  const tried: AppFit["tried"] = [];
  const attempt = async (hold: number) => {
    o.progress?.(`update beside a ${hold}-JsVar application`);
    try {
      const r = await runRealUpdate({ bin: o.bin, heap: o.heap, echo: o.echo, app: { holdJsVars: hold } });
      const ok = r.result === "done" && (r.appHeld ?? 0) >= hold;
      tried.push({ hold, ok, why: r.result === "done" ? (ok ? "done" : `the application held only ${r.appHeld}`) : `${r.result} ${r.resultCode} ${r.resultMsg}` });
      return ok;
    } catch (e) {
      if (!(e instanceof RealRunFailure)) throw e;
      tried.push({ hold, ok: false, why: firstLine(e.message) });
      return false;
    }
  };
  if (!(await attempt(0))) return { largest: null, tried };
  let lo = 0;
  let hi = o.heap;
  // start at the target: most runs then decide on which side of it the agent is
  let mid = Math.min(TARGETS.appJsVars, hi - precision);
  while (hi - lo > precision) {
    if (await attempt(mid)) lo = mid;
    else hi = mid;
    mid = Math.round((lo + hi) / 2);
  }
  return { largest: lo, tried };
}

export async function largestAppFigure(o: Esp32Run): Promise<Figure> {
  const label = `Largest application beside the agent, update completes (heap ${o.heap})`;
  const target = ">= " + TARGETS.appJsVars;
  try {
    const fit = await largestApp(o);
    const trail = fit.tried.map((t) => t.hold + (t.ok ? " ok" : " no")).join(", ");
    if (fit.largest === null) {
      return { key: "memory.largestApp", item: ITEM, label, value: null, unit: "JsVars", target, verdict: "FAIL", note: "no update completes even without an application: " + fit.tried[0].why };
    }
    return judged({ key: "memory.largestApp", item: ITEM, label, value: fit.largest, unit: "JsVars", note: `clean 64 KiB update, application in Storage; tried ${trail}` }, ">=", TARGETS.appJsVars);
  } catch (e) {
    return failed("memory.largestApp", ITEM, label, "JsVars", target, e);
  }
}

/** The application's longest timer gap over a full update with dropped connections and two power cuts. */
export async function timerGapFigure(o: Esp32Run, slotBytes = 65536): Promise<Figure> {
  const label = `Longest gap of a ${TARGETS.appJsVars}-JsVar application's 100 ms timer during an update`;
  const target = "<= " + TARGETS.gapMs + " ms";
  const cuts = [Math.round(slotBytes / 3), Math.round((slotBytes * 2) / 3)];
  const dropEvery = 20000;
  o.progress?.(`update with drops and power cuts beside a ${TARGETS.appJsVars}-JsVar application`);
  try {
    const r = await runRealUpdate({ bin: o.bin, heap: o.heap, echo: o.echo, app: { holdJsVars: TARGETS.appJsVars, intervalMs: 100 }, dropEvery, powerCutsAtBytes: cuts });
    const how = `${r.requests} requests (each cut after ${dropEvery} bytes), ${r.powerCuts} power cuts, ${r.boots} boots` + (r.installNotes.length ? "; " + r.installNotes.join("; ") : "");
    if (r.result !== "done") return { key: "app.maxTimerGapMs", item: ITEM, label, value: r.appMaxGapMs, unit: "ms", target, verdict: "FAIL", note: `the update failed: ${r.resultCode} ${r.resultMsg}; ${how}` };
    const worst = r.appGaps.reduce((a, g) => (g.ms > a.ms ? g : a), { boot: 0, ms: 0, tick: 0 });
    return judged({ key: "app.maxTimerGapMs", item: ITEM, label, value: r.appMaxGapMs, unit: "ms", note: `in boot ${worst.boot}; ${how}; code from Storage on the Linux build` }, "<=", TARGETS.gapMs);
  } catch (e) {
    const f = runFailed("app.maxTimerGapMs", label, "ms", target, e);
    if (e instanceof RealRunFailure && e.appMaxGapMs !== null) f.note = `longest gap before it stopped ${e.appMaxGapMs} ms; ` + f.note;
    return f;
  }
}
