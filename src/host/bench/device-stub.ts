// What the bench puts around the agent bundle when it runs on Espruino's Linux build: a small
// ES5 prelude that stands in for what the Linux build lacks and reports what the bench
// measures, one "@@" line per event on the console.
//
// Stand-ins: the Linux build has no ESP32 object, so ESP32.reboot() prints a marker and spins
// until the bench kills the process and starts it again on the same espruino.flash (quit()
// would run the interpreter's slow shutdown dump instead);
// setOTAValid only reports. Its emulated flash has 1 KB pages where an ESP32 erases 4 KB
// sectors, so Flash.erasePage erases the four pages of the sector.
//
// Measurements: every Flash call reports the operation with process.memory().usage (live
// blocks after a garbage collection) taken right there, inside the agent's own turn; a timer
// every TICK ms reports how late it ran (the longest blocking turn) and what flash work that
// turn did; and usage is reported every MEM_EVERY ms, and at every Storage.write.
import { parse } from "acorn";

export interface StubOptions {
  flashBase: number;
  /** Period of the lateness timer. */
  tickMs?: number;
  /** Period of the memory report. */
  memEveryMs?: number;
  /** Report turns that ran at least this late (the longest so far is always reported). */
  lateReportMs?: number;
  /**
   * Model a board whose process.memory().total is `heap` JsVars: before anything else loads, a
   * ballast is allocated until the free JsVars equal heap minus what the bare interpreter used
   * at the stub's first statement. Every usage the stub reports is net of the ballast.
   */
  heap?: number;
}

export function deviceStub(o: StubOptions): string {
  const tick = o.tickMs ?? 5;
  const every = o.memEveryMs ?? 250;
  const lateReport = o.lateReportMs ?? 20;
  const heap = o.heap ?? 0;
  return `var __bench = (function () {
  var m0 = process.memory(), boot = m0.usage, bal = 0, ballast = [];
  function out(s) { print("@@" + s); }
  out("BOOT " + boot + " " + m0.blocksize + " " + m0.total);
  var F = require("Flash"), er = F.erasePage, wr = F.write, rd = F.read, B = ${o.flashBase};
  var peak = 0, ops = [0, 0, 0, 0], worst = 0, last = getTime();
  function usage() { var u = process.memory().usage - bal; if (u > peak) peak = u; return u; }
  F.erasePage = function (a) {
    var u = usage();
    // On a board this very call throws for a non-integer address (jswrap_flash_erasePage):
    // report it, then erase anyway so the rest can be measured.
    try { er(a); } catch (e) { out("X erasePage " + (a - B) + " " + e.message); }
    a = a | 0;
    for (var i = 0; i < 4096; i += 1024) er(a + i);
    ops[0]++;
    out("E " + (a - B) + " " + u);
  };
  F.write = function (d, a) {
    wr(d, a);
    ops[1]++;
    out("W " + (a - B) + " " + d.length + " " + usage());
  };
  F.read = function (n, a) {
    var r = rd(n, a);
    ops[2]++; ops[3] += n;
    out("R " + (a - B) + " " + n + " " + usage());
    return r;
  };
  // Storage writes (an application update writes its package there): usage inside that turn too.
  var S = require("Storage"), sw = S.write;
  S.write = function (n, d, o, z) {
    var u = usage(), r = sw.call(S, n, d, o, z);
    out("M " + u + " " + peak);
    return r;
  };
  setInterval(function () {
    var t = getTime(), late = (t - last) * 1000 - ${tick};
    last = t;
    if (late > worst || late >= ${lateReport}) out("L " + late.toFixed(1) + " " + ops.join(" "));
    if (late > worst) worst = late;
    ops = [0, 0, 0, 0];
  }, ${tick});
  setInterval(function () { out("M " + usage() + " " + peak); }, ${every});
  if (${heap} > 0) {
    // A flat buffer for the bulk (a few JsVars of overhead), then one JsVar at a time.
    var m = process.memory(), base = m.usage, want = ${heap} - boot, extra = m.total - base - want;
    if (extra > 64) ballast.push(new Uint8Array((extra - 48) * m.blocksize));
    var stuck = 0, f;
    while ((f = (m = process.memory()).total - m.usage) > want && stuck < 8) {
      ballast.push(0);
      stuck = process.memory().total - process.memory().usage < f ? 0 : stuck + 1;
    }
    bal = m.usage - base;
    m = process.memory();
    out("BALLAST " + bal + " " + (m.total - m.usage) + " " + (m.usage - bal) + " " + ${heap});
  } else out("BALLAST 0 " + (m0.total - process.memory().usage) + " " + process.memory().usage + " 0");
  return { loaded: function () { out("LOADED " + usage()); } };
})();
var ESP32 = {
  // esp_restart() never returns: hold the interpreter until the bench kills the process.
  reboot: function () { print("@@REBOOT"); for (;;) {} },
  setOTAValid: function (v) { print("@@OTAVALID " + v); },
  getState: function () { return { freeHeap: 100000 }; }
};
`;
}

/**
 * The stub, then the bundle's declarations, a "code loaded" report, then the bundle's last
 * statement (the one that starts the agent), so the cost of the loaded code and the cost of the
 * running agent can be told apart.
 */
export function withStub(bundle: string, o: StubOptions): string {
  const ast = parse(bundle, { ecmaVersion: 5, sourceType: "script" }) as unknown as { body: { start: number; type: string }[] };
  const lastStatement = ast.body[ast.body.length - 1];
  if (!lastStatement || lastStatement.type !== "ExpressionStatement") throw new Error("bundle does not end with the statement that starts the agent");
  const head = bundle.slice(0, lastStatement.start);
  const start = bundle.slice(lastStatement.start);
  return deviceStub(o) + head + "\n__bench.loaded();\n" + start;
}

/** One parsed "@@" line from the device console. */
export type StubEvent =
  | { kind: "boot"; usage: number; blockSize: number; total: number }
  /** The ballast (JsVars), the free JsVars left for the agent, usage net of the ballast (interpreter and stub), the heap asked for (0: none). */
  | { kind: "ballast"; ballast: number; free: number; base: number; heap: number }
  | { kind: "loaded"; usage: number }
  | { kind: "erase"; offset: number; usage: number }
  | { kind: "write" | "read"; offset: number; length: number; usage: number }
  | { kind: "late"; ms: number; erases: number; writes: number; reads: number; bytesRead: number }
  | { kind: "mem"; usage: number; peak: number }
  | { kind: "reboot" }
  /** A call that works here only because the stub repaired it; on a board it throws. */
  | { kind: "fault"; what: string }
  | { kind: "ota-valid"; valid: boolean }
  /** The application (app-program.ts): JsVars it holds, and each new longest gap of its timer. */
  | { kind: "app"; held: number; wanted: number }
  | { kind: "gap"; ms: number; tick: number };

/** Parses one console line; null when it is not a stub report (agent log, prompt, echo). */
export function parseStubLine(line: string): StubEvent | null {
  const at = line.indexOf("@@");
  if (at < 0) return null;
  const f = line.slice(at + 2).trim().split(/\s+/);
  const n = (i: number) => Number(f[i]);
  switch (f[0]) {
    case "BOOT":
      return { kind: "boot", usage: n(1), blockSize: n(2), total: n(3) };
    case "BALLAST":
      return { kind: "ballast", ballast: n(1), free: n(2), base: n(3), heap: n(4) };
    case "LOADED":
      return { kind: "loaded", usage: n(1) };
    case "E":
      return { kind: "erase", offset: n(1), usage: n(2) };
    case "W":
      return { kind: "write", offset: n(1), length: n(2), usage: n(3) };
    case "R":
      return { kind: "read", offset: n(1), length: n(2), usage: n(3) };
    case "L":
      return { kind: "late", ms: n(1), erases: n(2), writes: n(3), reads: n(4), bytesRead: n(5) };
    case "M":
      return { kind: "mem", usage: n(1), peak: n(2) };
    case "X":
      return { kind: "fault", what: f.slice(1).join(" ") };
    case "APP":
      return { kind: "app", held: n(1), wanted: n(2) };
    case "GAP":
      return { kind: "gap", ms: n(1), tick: n(2) };
    case "REBOOT":
      return { kind: "reboot" };
    case "OTAVALID":
      return { kind: "ota-valid", valid: f[1] === "true" };
  }
  return null;
}
