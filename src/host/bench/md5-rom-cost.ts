// Issue #12 item 4: the ROM MD5 path's cost per 4 KB next to the JS backend's, on the real
// interpreter. The Linux build has no ESP32 ROM, so what runs here is everything of
// src/espruino/md5-rom.ts's update() except the ROM's own MD5: its checks, E.getAddressOf, the
// context copied into and out of the staging buffer, the input staged when it is not flat, and
// one E.nativeCall per 4 KB. The Linux build's E.nativeCall cannot call a void(int,int,int)
// function (it knows only the C signatures of its own built-ins, and that one is not among them),
// so the ROM's MD5Update is answered by a one-line JS function calling a stand-in of a signature
// it does know, int(int,int), that exists in this interpreter's binary: mbedtls_md5_process(ctx,
// block), one native MD5 block, at the binary's load address (/proc/self/maps) plus the symbol's
// offset (`nm`). The stand-in and that JS line are measured apart and taken out:
//   ROM-path JS cost = update() through the stand-in - the stand-in through the same JS line + one direct native call
// md5-rom.ts only hands out a backend whose self-test passed, so for the self-test its three
// ROM entries are answered by a JS model (the JS MD5 on the staging buffer, whose state layout
// is the ROM's), with every input staged; the stand-in replaces the model's update afterwards.
// Nothing here runs on a board. The program prints one line:
//   @@ROMCOST {"romFlatUs": n, "romStagedUs": n, "standInUs": n, "callUs": n, "jsUs": n, "version": "2v29"}
import { execFileSync } from "node:child_process";
import { realpathSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { rollup, type Plugin } from "rollup";
import type { BoardConfig } from "../../core/board";
import { runScript } from "./md5-speed";
import { failed, info, type Figure } from "./report";
// @ts-expect-error rollup.config.js is plain JavaScript without type declarations
import { bundleConfig } from "../../../rollup.config.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const ENTRY = "\0md5-rom-cost-entry";
const STAND_IN = "mbedtls_md5_process";

/** Offset of `symbol` in the ELF file `bin` (from `nm`), or null when it has none. */
export function symbolOffset(nmOutput: string, symbol: string): number | null {
  for (const l of nmOutput.split("\n")) {
    const m = /^([0-9a-fA-F]+)\s+[Tt]\s+(\S+)$/.exec(l.trim());
    if (m && m[2] === symbol) return parseInt(m[1], 16);
  }
  return null;
}

function entrySource(binPath: string, offset: number, seconds: number): string {
  const path = (p: string) => JSON.stringify(resolve(ROOT, p));
  return `import { romMd5 } from ${path("src/espruino/md5-rom.ts")};
import { jsMd5 } from ${path("src/core/crypto/md5.ts")};
var realCall = E.nativeCall, realAddr = E.getAddressOf, realFlat = E.toFlatString;
var stage = null, cur = null;
function loadBase() {
  var maps = String(require("Storage").read("maps")).split("\\n"), i;
  for (i = 0; i < maps.length; i++) if (maps[i].indexOf(" 00000000 ") > 0 && maps[i].indexOf(${JSON.stringify(binPath)}) > 0) return parseInt(maps[i].split("-")[0], 16);
  return 0;
}
function at(a) { return a - realAddr(stage, true); }
function modelInit(c) { stage.set(jsMd5.create().saveState(), at(c)); }
function modelUpdate(c, s, n) {
  var m = jsMd5.restore(new Uint8Array(stage.subarray(at(c), at(c) + 88)));
  m.update(stage, at(s), n);
  stage.set(m.saveState(), at(c));
}
function modelFinal(d, c) {
  stage.set(jsMd5.restore(new Uint8Array(stage.subarray(at(c), at(c) + 88))).digest(), at(d));
  stage.fill(0, at(c), at(c) + 88);
}
function perCall(fn, seconds) {
  var k = 0, t0 = getTime(), dt;
  do { fn(); k++; dt = getTime() - t0; } while (dt < seconds);
  return dt * 1e6 / k;
}
function bench() {
  var base = loadBase();
  if (!base) { print("@@ROMCOST " + JSON.stringify({ error: "no load address of the interpreter in /proc/self/maps" })); return; }
  var native = realCall(base + ${offset}, "int(int,int)");
  var standIn = function (c, s, n) { return native(c, s); };
  cur = modelUpdate;
  E.toFlatString = function (o) { var f = realFlat(o); stage = new Uint8Array(E.toArrayBuffer(f)); return f; };
  // during the self-test only the staging buffer has an address: the model reads all input there
  E.getAddressOf = function (x, flat) { return stage && realAddr(x, flat) === realAddr(stage, flat) ? realAddr(x, flat) : 0; };
  E.nativeCall = function (a) {
    if (a === 0x4005da7c) return modelInit;
    if (a === 0x4005db1c) return modelFinal;
    return function (c, s, n) { return cur(c, s, n); };
  };
  var logged = "";
  var f = romMd5("esp32", function (s) { logged = s; });
  E.nativeCall = realCall; E.getAddressOf = realAddr; E.toFlatString = realFlat;
  if (!f) { print("@@ROMCOST " + JSON.stringify({ error: "the ROM backend did not start: " + logged })); return; }
  cur = standIn;
  var flat = new Uint8Array(4096), i, s = "";
  for (i = 0; i < 4096; i++) { flat[i] = i & 255; s += String.fromCharCode(i & 255); }
  var staged = new Uint8Array(E.toArrayBuffer(s));
  if (!realAddr(flat, true) || realAddr(staged, true)) { print("@@ROMCOST " + JSON.stringify({ error: "the test buffers are not flat and non-flat as needed" })); return; }
  var m = f.create(), ctx = new Uint8Array(96), j = jsMd5.create();
  var wrapped = function (c, p, n) { return cur(c, p, n); };
  var r = {
    romFlatUs: perCall(function () { m.update(flat, 0, 4096); }, ${seconds}),
    romStagedUs: perCall(function () { m.update(staged, 0, 4096); }, ${seconds}),
    standInUs: perCall(function () { wrapped(realAddr(ctx, true), realAddr(flat, true), 4096); }, ${seconds}),
    callUs: perCall(function () { native(realAddr(ctx, true), realAddr(flat, true)); }, ${seconds}),
    jsUs: perCall(function () { j.update(flat, 0, 4096); }, ${seconds}),
    version: process.version
  };
  print("@@ROMCOST " + JSON.stringify(r));
}
setTimeout(bench, 10);
`;
}

export async function buildRomCostHarness(board: BoardConfig, binPath: string, offset: number, seconds: number): Promise<string> {
  const config = bundleConfig({ ...board, chip: "esp32" });
  const source = entrySource(binPath, offset, seconds);
  const entry: Plugin = { name: "md5-rom-cost-entry", resolveId: (id) => (id === ENTRY ? id : null), load: (id) => (id === ENTRY ? source : null) };
  const bundle = await rollup({ ...config, input: ENTRY, plugins: [entry, ...config.plugins], output: undefined });
  try {
    // Outside the gate, like the bench's device stub: the Linux build's fs reads the load
    // addresses, handed over in Storage (which the gated harness may read); and process.env
    // names the ESP32 firmware, whose ROM the stand-in plays, or the ROM guard's chip check
    // (tested in test/unit/md5-rom-backend.test.ts) keeps the backend from starting.
    return (
      'require("Storage").write("maps", require("fs").readFileSync("/proc/self/maps"));\n' +
      'process.env = { BOARD: "ESP32", VERSION: process.env.VERSION };\n' +
      (await bundle.generate(config.output)).output[0].code
    );
  } finally {
    await bundle.close();
  }
}

export interface RomCost {
  /** µs per 4 KB update() of the ROM backend with the stand-in, flat input / input staged first. */
  romFlatUs: number;
  romStagedUs: number;
  /** µs per call of the stand-in through the same JS lines as update() reaches it. */
  standInUs: number;
  /** µs per direct native call of the stand-in (E.nativeCall's marshalling and one 64-byte block). */
  callUs: number;
  /** µs per 4 KB update() of the JS backend in the same process. */
  jsUs: number;
  version: string;
}

export function parseRomCostLine(line: string): RomCost | null {
  const at = line.indexOf("@@ROMCOST ");
  if (at < 0) return null;
  const r = JSON.parse(line.slice(at + 10)) as RomCost & { error?: string };
  if (r.error) throw new Error("ROM cost bench: " + r.error);
  for (const k of ["romFlatUs", "romStagedUs", "standInUs", "callUs", "jsUs"] as const) if (typeof r[k] !== "number") throw new Error("ROM cost bench: no " + k + " in " + line.trim());
  return r;
}

export async function romCostOnEspruino(bin: string, board: BoardConfig, seconds = 0.5): Promise<RomCost> {
  const real = realpathSync(bin);
  let nm: string;
  try {
    nm = execFileSync("nm", [real], { encoding: "latin1", maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    throw new Error("cannot list the interpreter's symbols with nm: " + (e as Error).message.split("\n")[0]);
  }
  const offset = symbolOffset(nm, STAND_IN);
  if (offset === null) throw new Error("the interpreter has no " + STAND_IN + " to stand in for the ROM");
  const out = await runScript(bin, await buildRomCostHarness(board, real, offset, seconds), seconds * 12000 + 20000);
  for (const line of out.split("\n")) {
    const r = parseRomCostLine(line);
    if (r) return r;
  }
  throw new Error("the ROM cost harness printed no result on " + bin + ":\n" + out.slice(-2000));
}

const JS_LABEL = "MD5 per 4 KB, JS backend (real interpreter, desktop CPU)";
const ROM_LABEL = "MD5 per 4 KB, ROM backend's JS side (real interpreter, ROM time excluded)";

/** md5.jsPer4kMs and md5.romJsPer4kMs: both informative, in ms on the desktop interpreter. */
export function romCostFigures(r: RomCost | Error): Figure[] {
  if (r instanceof Error) return [failed("md5.jsPer4kMs", 1, JS_LABEL, "ms", null, r), failed("md5.romJsPer4kMs", 1, ROM_LABEL, "ms", null, r)];
  const jsSide = (us: number) => us - r.standInUs + r.callUs;
  const ms = (us: number) => (us / 1000).toFixed(3);
  return [
    info({ key: "md5.jsPer4kMs", item: 1, label: JS_LABEL, value: r.jsUs / 1000, unit: "ms", note: `Espruino ${r.version}; an ESP32 runs Espruino's JavaScript roughly 25-50x slower (about ${((r.jsUs * 25) / 1000).toFixed(0)}-${((r.jsUs * 50) / 1000).toFixed(0)} ms there, not measured on a board)` }),
    info({
      key: "md5.romJsPer4kMs",
      item: 1,
      label: ROM_LABEL,
      value: jsSide(r.romFlatUs) / 1000,
      unit: "ms",
      note: `flat input; ${ms(jsSide(r.romStagedUs))} ms when the input is staged first; one native call per 4 KB (${ms(r.callUs)} ms of it, a stand-in: ${STAND_IN}); the ROM's own MD5 cannot run here and is not in the figure (ESP32: native speed); JS parts run 25-50x slower on an ESP32`,
    }),
  ];
}
