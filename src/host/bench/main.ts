// `npm run bench`: the figures of issues #6 and #10 measured side by side in one run, each with
// its target beside it. `-- --json` prints one JSON line instead of the table; `-- --verbose`
// echoes the real interpreter's console; `-- --heap N` sets the modelled ESP32 heap. The
// real-interpreter figures need ESPRUINO_BIN (Espruino's Linux interpreter built in the ESP32's
// JsVar format, see docs/benchmarks.md); without it they say "not measured" and the host-runtime
// figures are printed on their own.
import { parseArgs } from "node:util";
import { SIGN_TRAILER } from "../../core/sign/verify";
import { join } from "node:path";
import { loadBoard, BOARDS_DIR } from "../boards/load-board";
import { espruinoBin } from "./espruino-process";
import { bundleSizes } from "./footprint";
import { cutsEvery256k, dropEvery64k, hostOta, type HostOtaResult } from "./host-ota";
import { md5OnEspruino, md5OnHostRuntime, romOverheadInHostModel } from "./md5-speed";
import { romCostFigures, romCostOnEspruino } from "./md5-rom-cost";
import { LINUX_BOARD } from "./real-board";
import { runLeakProbe, runRealUpdate, RealRunFailure, type RealUpdateResult, type LeakProbeResult } from "./real-update";
import { failed, info, judged, jsonLine, notMeasured, table, type Figure } from "./report";
import { probeFormat, formatProblem } from "./esp32-format";
import { signCostOnEspruino, signFigures, SIGN_ITEM, SIGN_JSVARS_TARGET } from "./sign-cost";
import { DEFAULT_HEAP, ITEM, TARGETS, appUpdatePeakFigure, idleAndPeak, largestAppFigure, residentFigure, runFailed, timerGapFigure } from "./esp32-figures";

const GROUPS = ["md5", "sim", "size", "real", "esp32", "sign"] as const;
const HELP = `usage: npm run bench -- [--json] [--verbose] [--heap N] [--only GROUP,...]

Measures the agent's figures against their targets (docs/benchmarks.md).
  --json        one JSON line of figures instead of the table
  --verbose     echo the real interpreter's console on stderr
  --heap N      JsVars of the modelled ESP32 heap (process.memory().total; default ${DEFAULT_HEAP})
  --only LIST   measure only these groups: ${GROUPS.join(", ")} (default: all)
  --help        this text
ESPRUINO_BIN=<path>  Espruino's Linux interpreter in the ESP32 JsVar format (blocksize 14)
`;

function usageError(msg: string): never {
  process.stderr.write("bench: " + msg.split("\n")[0] + " (see --help)\n");
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      json: { type: "boolean", default: false },
      verbose: { type: "boolean", default: false },
      heap: { type: "string" },
      only: { type: "string" },
      help: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
} catch (e) {
  usageError((e as Error).message);
}
const args = parsed.values;
if (args.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const heap = args.heap === undefined ? DEFAULT_HEAP : Number(args.heap);
if (!Number.isInteger(heap) || heap < 500 || heap > 100000) usageError("--heap wants a whole number of JsVars (500..100000), got " + JSON.stringify(args.heap));
const only = new Set(args.only === undefined ? GROUPS : args.only.split(",").map((g) => g.trim()));
for (const g of only) if (!(GROUPS as readonly string[]).includes(g)) usageError("--only: unknown group " + JSON.stringify(g) + "; groups: " + GROUPS.join(", "));
const want = (g: (typeof GROUPS)[number]) => only.has(g);

/** The application image: the largest whose signed file (docs/security.md) fits 1.5 MiB. */
const IMAGE = (1536 * 1024 - SIGN_TRAILER) & ~15;
const MiB = 1024 * 1024;
const LINK = 2000000;
const SIZE_TARGET = 24 * 1024;
/** Where the real-interpreter resume run cuts the power: half of its 64 KB image. */
const CUT_AT = 32768;
const t0 = Date.now();
const figures: Figure[] = [];
let errors = 0;

function progress(s: string): void {
  if (!args.json) process.stderr.write("bench: " + s + " (" + ((Date.now() - t0) / 1000).toFixed(0) + " s)\n");
}

async function attempt<T>(what: string, fn: () => Promise<T>): Promise<T | Error> {
  progress(what);
  try {
    return await fn();
  } catch (e) {
    // a run the agent could not finish (OUT OF MEMORY...) is a FAIL of its figure, not a bench error
    if (!(e instanceof RealRunFailure)) errors++;
    if (!args.json) process.stderr.write("bench: " + what + " failed: " + (e as Error).message + "\n");
    return e as Error;
  }
}

const kb = (bytesPerSecond: number) => (bytesPerSecond / 1024).toFixed(1);
let bin: string | null;
try {
  bin = espruinoBin();
} catch (e) {
  usageError((e as Error).message);
}
if (bin && (want("md5") || want("real") || want("esp32") || want("sign"))) {
  // The memory figures mean something only in the ESP32's JsVar format: refuse any other build.
  let problem: string | null;
  try {
    const f = await probeFormat(bin);
    problem = formatProblem(bin, f);
  } catch (e) {
    problem = (e as Error).message;
  }
  if (problem) {
    process.stderr.write("bench: refused: " + problem + "\n");
    process.exit(2);
  }
}
const linux = loadBoard(join(BOARDS_DIR, LINUX_BOARD + ".json"));
const noBin = "ESPRUINO_BIN is not set (see docs/benchmarks.md)";

// ---- 1. MD5 ----
if (!want("md5")) {
  // not asked for
} else if (bin) {
  const r = await attempt("MD5 on the real interpreter", () => md5OnEspruino(bin, linux));
  const label = "MD5 on the real interpreter: ours / naive loop";
  if (r instanceof Error) figures.push(failed("md5.espruino", 1, label, "x", ">= 6", r));
  else {
    figures.push(
      judged(
        { key: "md5.espruino", item: 1, label, value: r.agree ? r.ours / r.naive : null, unit: "x", note: `ours ${kb(r.ours)} KB/s, naive ${kb(r.naive)} KB/s, Espruino ${r.version}` + (r.agree ? "" : "; the baseline disagreed with ours, ratio withheld") },
        ">=",
        6,
        ">= 6x",
      ),
    );
  }
  const c = await attempt("MD5 per 4 KB, JS and ROM backends, on the real interpreter", () => romCostOnEspruino(bin, linux));
  for (const f of romCostFigures(c)) figures.push(f);
} else {
  figures.push(notMeasured("md5.espruino", 1, "MD5 on the real interpreter: ours / naive loop", "x", ">= 6x", noBin));
  figures.push(notMeasured("md5.jsPer4kMs", 1, "MD5 per 4 KB, JS backend (real interpreter, desktop CPU)", "ms", null, noBin));
  figures.push(notMeasured("md5.romJsPer4kMs", 1, "MD5 per 4 KB, ROM backend's JS side (real interpreter, ROM time excluded)", "ms", null, noBin));
}
if (want("md5")) {
  const r = await attempt("MD5 in the host runtime", () => md5OnHostRuntime(linux));
  const label = "MD5 in the host runtime (V8): ours / naive loop";
  if (r instanceof Error) figures.push(failed("md5.hostRuntime", 1, label, "x", null, r));
  else figures.push(info({ key: "md5.hostRuntime", item: 1, label, value: r.ours / r.naive, unit: "x", note: `ours ${kb(r.ours)} KB/s, naive ${kb(r.naive)} KB/s; a JIT: says nothing about a board` }));
}
if (want("md5")) {
  const r = await attempt("ROM MD5 backend in the host model", () => romOverheadInHostModel(linux));
  const label = "ROM MD5 backend, per update() call (host model)";
  if (r instanceof Error) figures.push(failed("md5.romPerCall", 1, label, "us", null, r));
  else if (!r) figures.push(notMeasured("md5.romPerCall", 1, label, "us", null, "the ROM backend refused to start in the host runtime"));
  else
    figures.push(
      info({
        key: "md5.romPerCall",
        item: 1,
        label,
        value: r.perCallUs,
        unit: "us",
        note: `${r.per4kUs.toFixed(1)} us per 4 KB (JS backend ${r.jsPer4kUs.toFixed(1)} us); ${r.nativeCallsPer4k} E.nativeCall per 4 KB`,
      }),
    );
}

// ---- 2, 3, 4, 6 in the simulation ----
if (want("sim")) await simFigures();
async function simFigures(): Promise<void> {
const drops = await attempt("1.5 MiB update, a drop every 64 KiB", () => hostOta({ imageSize: IMAGE, faults: dropEvery64k(IMAGE) }));
const cuts = await attempt("1.5 MiB update, a power cut every 256 KiB", () => hostOta({ imageSize: IMAGE, powerCutsAtBytes: cutsEvery256k(IMAGE) }));
const link = await attempt("1.5 MiB update through a 2 MB/s link", () => hostOta({ imageSize: IMAGE, linkBytesPerSecond: LINK }));

function done(r: HostOtaResult | Error): r is HostOtaResult {
  return !(r instanceof Error) && r.result === "done";
}
function hostFailure(r: HostOtaResult | Error): Error {
  return r instanceof Error ? r : new Error("update ended " + r.result + " " + (r.resultCode ?? "") + " " + (r.resultMsg ?? ""));
}

figures.push(
  done(drops)
    ? judged({ key: "wasted.drops", item: 2, label: "Wasted bytes, drop every 64 KiB (fetched / image)", value: drops.bytesFetched / drops.imageBytes, unit: "ratio", note: `${drops.requests} requests, 1.5 MiB image, simulation` }, "<=", 1.01)
    : failed("wasted.drops", 2, "Wasted bytes, drop every 64 KiB (fetched / image)", "ratio", "<= 1.01", hostFailure(drops)),
);
figures.push(
  done(cuts)
    ? judged(
        {
          key: "wasted.powerCuts",
          item: 2,
          label: "Wasted bytes, power cut every 256 KiB (fetched / image)",
          value: cuts.bytesFetched / cuts.imageBytes,
          unit: "ratio",
          note: `${cuts.powerCuts} cuts, ${cuts.bytesFetched - cuts.imageBytes} bytes fetched again (${((cuts.bytesFetched - cuts.imageBytes) / Math.max(1, cuts.powerCuts) / 1024).toFixed(1)} KiB per cut)`,
        },
        "<=",
        1.01,
      )
    : failed("wasted.powerCuts", 2, "Wasted bytes, power cut every 256 KiB (fetched / image)", "ratio", "<= 1.01", hostFailure(cuts)),
);
figures.push(
  done(cuts)
    ? judged(
        { key: "rehash.sim", item: 3, label: "Re-hash on resume: image bytes read back (simulation)", value: cuts.rehashBytesOnResume, unit: "bytes", note: `over ${cuts.resumes} resumes; the final image check reads ${cuts.verifyReadBytes} bytes once` },
        "<=",
        0,
        "0",
      )
    : failed("rehash.sim", 3, "Re-hash on resume: image bytes read back (simulation)", "bytes", "0", hostFailure(cuts)),
);
if (done(link)) {
  const ideal = (link.imageBytes / LINK) * 1000;
  const l = link.link;
  figures.push(
    judged(
      {
        key: "link.utilisation",
        item: 4,
        label: "Link utilisation: update time at 2 MB/s / (image / 2 MB/s)",
        value: link.downloadMs / ideal,
        unit: "ratio",
        note: l
          ? `${link.downloadMs.toFixed(0)} ms vs ${ideal.toFixed(0)} ms: ${link.requests} requests on ${l.connections} connection(s): link busy ${l.busy.toFixed(0)}, between spans ${l.betweenSpans.toFixed(0)}, before first request ${l.beforeFirstRequest.toFixed(0)}, after last byte ${l.afterLastByte.toFixed(0)} ms`
          : undefined,
      },
      "<=",
      1.15,
    ),
  );
  figures.push(
    judged(
      { key: "wear.journalPerMiB", item: 6, label: "Journal sector erases per MiB downloaded", value: link.journalErases / (link.bytesFetched / MiB), unit: "erases/MiB", note: `${link.journalErases} journal erases for ${(link.bytesFetched / MiB).toFixed(2)} MiB; with 5 power cuts: ${done(cuts) ? cuts.journalErases : "?"}` },
      "<=",
      4,
    ),
  );
  figures.push(info({ key: "wear.totalPerUpdate", item: 6, label: "Sector erases per update, all flash", value: link.flashErases, unit: "erases", note: `${link.slotErases} in the target slot, ${link.journalErases} journal, ${link.flashErases - link.slotErases - link.journalErases} otadata` }));
} else {
  figures.push(failed("link.utilisation", 4, "Link utilisation: update time at 2 MB/s / (image / 2 MB/s)", "ratio", "<= 1.15", hostFailure(link)));
  figures.push(failed("wear.journalPerMiB", 6, "Journal sector erases per MiB downloaded", "erases/MiB", "<= 4", hostFailure(link)));
}
}

// ---- 5. footprint ----
if (want("size")) try {
  for (const s of bundleSizes()) {
    figures.push(judged({ key: "size." + s.board, item: 5, label: "Minified bundle, " + s.board, value: s.bytes / 1024, unit: "KB", note: `${s.bytes} bytes` }, "<=", SIZE_TARGET / 1024, "<= 24 KB"));
  }
} catch (e) {
  errors++;
  figures.push(failed("size", 5, "Minified bundle per board", "KB", "<= 24 KB", e));
}

// ---- the real interpreter: memory, blocking turns, resume, leaks ----
const memLabel = "process.memory() usage, agent connected and idle (whole heap, no ballast)";
const peakLabel = "Peak usage during the update, above idle";
const turnLabel = "Longest blocking turn during the update (real interpreter)";
if (!want("real")) {
  // not asked for
} else if (bin) {
  const mem = await attempt("full update on the real interpreter (memory)", () => runRealUpdate({ bin, codeIn: "flash", echo: args.verbose }));
  const timing = await attempt("full update on the real interpreter (timing)", () => runRealUpdate({ bin, codeIn: "ram", echo: args.verbose }));
  const resume = await attempt("update with a power cut on the real interpreter", () => runRealUpdate({ bin, codeIn: "flash", powerCutAtBytes: CUT_AT, echo: args.verbose }));
  const leak = await attempt("leak probe on the real interpreter", () => runLeakProbe({ bin, echo: args.verbose }));
  memoryFigures(mem, leak);
  turnFigure(timing);
  resumeFigures(resume);
} else {
  figures.push(notMeasured("memory.idleFullHeap", 5, memLabel, "blocks", "<= 2000", noBin));
  figures.push(notMeasured("memory.peakAboveIdle", 5, peakLabel, "blocks", "<= 600", noBin));
  figures.push(notMeasured("turn.longest", 7, turnLabel, "ms", null, noBin));
  figures.push(notMeasured("rehash.real", 3, "Re-hash on resume (real interpreter)", "bytes", "0", noBin));
}

function memoryFigures(mem: RealUpdateResult | Error, leak: LeakProbeResult | Error): void {
  if (mem instanceof Error) {
    figures.push(runFailed("memory.idleFullHeap", memLabel, "blocks", "<= 2000", mem, 5));
    figures.push(runFailed("memory.peakAboveIdle", peakLabel, "blocks", "<= 600", mem, 5));
  } else {
    const boot = mem.bootMemory[0];
    const bs = mem.blockSize ? `${mem.blockSize}-byte blocks` : "blocks";
    figures.push(
      judged(
        { key: "memory.idleFullHeap", item: 5, label: memLabel, value: mem.idle, unit: "blocks", note: `interpreter ${boot?.start}, + loaded code ${boot ? boot.loaded - boot.start : "?"} (function code stays in flash), + running agent ${boot ? mem.idle - boot.loaded : "?"}; ${bs}` },
        "<=",
        2000,
      ),
    );
    figures.push(
      judged(
        { key: "memory.peakAboveIdle", item: 5, label: peakLabel, value: mem.peakDuringDownload - mem.idle, unit: "blocks", note: `peak ${mem.peakDuringDownload} at ${mem.peakAt} (update ${mem.result}, ${mem.imageBytes} bytes)` },
        "<=",
        600,
        "<= idle + 600",
      ),
    );
    figures.push(judged({ key: "memory.growthPerSector", item: 5, label: "Usage growth per 4 KB sector (bounded buffers)", value: mem.growthPerSector, unit: "blocks", note: `usage at each sector ${Math.min(...mem.perSector)}..${Math.max(...mem.perSector)}` }, "<=", 1, "~0"));
    const faults = mem.boardFaults.reduce((n, f) => n + f.count, 0);
    figures.push(
      judged(
        {
          key: "board.faults",
          item: 5,
          label: "Flash calls that throw on a board (stub repaired them)",
          value: faults,
          unit: "calls",
          note: faults ? mem.boardFaults.map((f) => `${f.what} (${f.count}x)`).join("; ") + "; unrepaired, the first one fails the job" : undefined,
        },
        "<=",
        0,
        "0",
      ),
    );
  }
  if (leak instanceof Error) figures.push(runFailed("memory.retainedPerJob", "Usage left behind per failed job (leak probe)", "blocks", "~0", leak, 5));
  else
    figures.push(
      judged(
        {
          key: "memory.retainedPerJob",
          item: 5,
          label: "Usage left behind per failed job (leak probe)",
          value: leak.retainedPerJob,
          unit: "blocks",
          note: `idle after each of ${leak.jobs} jobs: ${leak.idleAfterJob.join(", ")}; ${leak.requests} requests cut every ${leak.dropEvery} bytes, growth per sector ${leak.growthPerSector.toFixed(2)}`,
        },
        "<=",
        1,
        "~0",
      ),
    );
}

function turnFigure(timing: RealUpdateResult | Error): void {
  if (timing instanceof Error) {
    figures.push(runFailed("turn.longest", turnLabel, "ms", null, timing, 7));
    return;
  }
  const t = timing.longestTurn;
  const sectorTurns = timing.lateTurns.filter((x) => x.erases === 1 && x.writes === 1);
  const sector = sectorTurns.length ? Math.max(...sectorTurns.map((x) => x.ms)) : null;
  figures.push(
    info({
      key: "turn.longest",
      item: 7,
      label: turnLabel,
      value: t ? t.ms : 0,
      unit: "ms",
      note: t
        ? `that turn: ${t.erases} erases, ${t.writes} writes, ${t.reads} reads (${t.bytesRead} bytes); a sector turn (program + MD5 of 4 KB): ${sector === null ? "< 20" : sector.toFixed(0)} ms; code in RAM, ${timing.result}`
        : "no turn ran 20 ms late",
    }),
  );
}

function resumeFigures(resume: RealUpdateResult | Error): void {
  const label = "Re-hash on resume (real interpreter, one power cut)";
  if (resume instanceof Error) {
    figures.push(runFailed("rehash.real", label, "bytes", "0", resume, 3));
    return;
  }
  if (resume.result !== "done") {
    figures.push({ key: "rehash.real", item: 3, label, value: resume.rehashBytesOnResume, unit: "bytes", target: "0", verdict: "FAIL", note: `the resumed update failed: ${resume.resultCode} ${resume.resultMsg}` });
    return;
  }
  if (resume.rehashBytesOnResume === null) {
    figures.push(notMeasured("rehash.real", 3, label, "bytes", "0", `no resume happened (${resume.powerCuts} cut, update ${resume.result})`));
    return;
  }
  figures.push(
    judged(
      { key: "rehash.real", item: 3, label, value: resume.rehashBytesOnResume, unit: "bytes", note: `cut after ${CUT_AT} bytes programmed, resumed at ${resume.resumedAt.join(", ")}; fetched ${resume.bytesFetched} for ${resume.imageBytes}` },
      "<=",
      0,
      "0",
    ),
  );
}

// ---- issue #10: the ESP32 memory model ----
if (want("esp32")) {
  figures.push(residentFigure());
  if (bin) {
    const run = { bin, heap, echo: args.verbose, progress };
    for (const f of await idleAndPeak(run)) figures.push(f);
    figures.push(await appUpdatePeakFigure(run));
    figures.push(await largestAppFigure(run));
    figures.push(await timerGapFigure(run));
    for (const f of figures) if (f.item === ITEM && f.verdict === "error") errors++;
  } else {
    const no = (key: string, label: string, unit: string, target: string) => figures.push(notMeasured(key, ITEM, label, unit, target, noBin));
    no("memory.idle", `Agent JsVars, connected and idle (heap ${heap}, ESP32 format)`, "JsVars", "<= " + TARGETS.idle);
    no("memory.peak", `Agent JsVars at the peak of an update (heap ${heap})`, "JsVars", "<= " + TARGETS.peak);
    no("memory.largestApp", `Largest application beside the agent, update completes (heap ${heap})`, "JsVars", ">= " + TARGETS.appJsVars);
    no("app.maxTimerGapMs", `Longest gap of a ${TARGETS.appJsVars}-JsVar application's 100 ms timer during an update`, "ms", "<= " + TARGETS.gapMs + " ms");
  }
}

// ---- issue #16: the signature check's cost ----
if (!want("sign")) {
  // not asked for
} else if (bin) {
  const r = await attempt("signature check on the real interpreter", () => signCostOnEspruino(bin, linux));
  for (const f of signFigures(r)) figures.push(f);
} else {
  figures.push(notMeasured("sign.verifyJsVars", SIGN_ITEM, "Signature check: JsVars held above the level before it (real interpreter)", "JsVars", "<= " + SIGN_JSVARS_TARGET, noBin));
  figures.push(notMeasured("sign.verifyMs", SIGN_ITEM, "Signature check: time per check (real interpreter, desktop CPU)", "ms", null, noBin));
}

const seconds = (Date.now() - t0) / 1000;
figures.sort((a, b) => a.item - b.item);
if (args.json) {
  process.stdout.write(jsonLine(figures, { bench: "espruino-ota-agent", espruinoBin: bin ? true : false, heap, seconds: Math.round(seconds) }) + "\n");
} else {
  process.stdout.write("\n" + table(figures) + "\n\n");
  const failing = figures.filter((f) => f.verdict === "FAIL").length;
  process.stdout.write(`${figures.length} figures, ${failing} miss their target, ${errors} measurements failed; ${seconds.toFixed(0)} s` + (bin ? "" : "; real-interpreter figures not measured (ESPRUINO_BIN unset)") + "\n");
}
process.exitCode = errors ? 1 : 0;
