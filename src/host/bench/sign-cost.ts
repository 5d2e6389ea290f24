// The signature check's cost (issue #16 item 6) on the real interpreter: the agent's own
// signCheck (src/core/sign/check.ts, which computes the HMAC itself), bundled through the same Rollup +
// TypeScript ES5 + terser + gate chain as the agent, with Espruino's native crypto.SHA256 and
// the JS MD5 backend, over a real signed file. The harness checks first that the file passes and
// that the same file under another key is refused, so a check that does nothing cannot look
// cheap. Memory is process.memory().usage (it collects garbage first, so it counts live JsVars):
// before the check, at every native SHA-256 call and after the 160-byte trailer read inside it,
// and after it. The program prints one line:
//   @@SIGN {"ok": true, "rejects": true, "before": n, "peak": n, "after": n, "samples": [n...], "ms": n, "checks": n, "version": "2v29"}
import { createHash, randomBytes } from "node:crypto";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { rollup, type Plugin } from "rollup";
import type { BoardConfig } from "../../core/board";
import { base64Encode } from "../../core/crypto/base64";
import { jsMd5 } from "../../core/crypto/md5";
import { SIGN_TRAILER } from "../../core/sign/verify";
import { signImage } from "../sign/trailer";
import { runScript } from "./md5-speed";
import { failed, info, judged, type Figure } from "./report";
// @ts-expect-error rollup.config.js is plain JavaScript without type declarations
import { bundleConfig } from "../../../rollup.config.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const ENTRY = "\0sign-bench-entry";
/** Issue #16 item 6: the check must fit #10's peak budget; see docs/benchmarks.md for why 100. */
export const SIGN_JSVARS_TARGET = 100;
export const SIGN_ITEM = 9;

export interface SignCost {
  /** The signed file passed the check. */
  ok: boolean;
  /** The same file was refused under another key. */
  rejects: boolean;
  /** Live JsVars before the check, at its highest sample, and after it. */
  before: number;
  peak: number;
  after: number;
  /** Usage at each sample of the measured check: the trailer read, then before and after each SHA-256 call. */
  samples: number[];
  /** Milliseconds per whole check (unsampled), averaged over `checks` runs. */
  ms: number;
  checks: number;
  version: string;
}

function entrySource(board: BoardConfig, seconds: number, imageBytes: number): string {
  const key = randomBytes(32);
  const other = randomBytes(32);
  const image = new Uint8Array(imageBytes);
  for (let i = 0; i < image.length; i++) image[i] = (i * 31 + 7) & 255;
  const file = signImage(key, image, "1.2.3");
  const n = Math.min(file.length, 2 * SIGN_TRAILER);
  const m = jsMd5.create();
  m.update(image, 0, image.length);
  const state = m.saveState();
  if (createHash("md5").update(image).digest().compare(Buffer.from(jsMd5.restore(state).digest())) !== 0) throw new Error("sign bench: MD5 state does not match the image");
  const arr = (b: Uint8Array) => "[" + Array.from(b).join(",") + "]";
  const path = (p: string) => JSON.stringify(resolve(ROOT, p));
  return `import { signCheck } from ${path("src/core/sign/check.ts")};
import { espruinoSha256 } from ${path("src/espruino/ports.ts")};
import { jsMd5 } from ${path("src/core/crypto/md5.ts")};
var TAIL = new Uint8Array(${arr(file.subarray(file.length - n))});
var SIZE = ${file.length};
var STATE = new Uint8Array(${arr(state)});
var BOARD = { sign: { required: true, allowDowngrade: false }, chip: ${JSON.stringify(board.chip)} };
var peak = 0;
// Every sample of the measured check, in a buffer allocated before it so the record costs nothing then.
var SEEN = new Int16Array(8), seen = 0;
function sample() {
  var u = process.memory().usage;
  if (u > peak) peak = u;
  if (sampling && seen < 8) SEEN[seen++] = u;
}
var sha = espruinoSha256;
var sampling = false;
// Samples: after the trailer read; before and after each native SHA-256 call (two of them).
// Flash.read on a board returns a new buffer: so does this one.
var ports = { md5: jsMd5, sha256: function (d) {
  if (sampling) sample();
  var r = sha(d);
  if (sampling) sample();
  return r;
}, flash: { read: function (a, len) {
  if (len !== ${n}) throw new Error("unexpected read of " + len);
  var b = new Uint8Array(TAIL);
  if (sampling) sample();
  return b;
} } };
var ID = { signKey: ${JSON.stringify(base64Encode(key))} };
var OTHER = { signKey: ${JSON.stringify(base64Encode(other))} };
function benchSign() {
  if (!sha) { print("@@SIGN " + JSON.stringify({ error: "no crypto.SHA256" })); return; }
  // every local exists before the first sample, so none counts as the check's
  var ok = false, rejects = false, before = 0, top = 0, after = 0, why = "", k = 0, t0 = 0, dt = 0;
  ok = signCheck(BOARD, ID, ports, 0, SIZE, STATE, "1.2.3", "1.0.0") === "";
  rejects = signCheck(BOARD, OTHER, ports, 0, SIZE, STATE, "1.2.3", "1.0.0").indexOf("bad tag") >= 0;
  peak = 0;
  sample();
  before = peak;
  sampling = true;
  why = signCheck(BOARD, ID, ports, 0, SIZE, STATE, "1.2.3", "1.0.0");
  sampling = false;
  why = "";
  top = peak;
  peak = 0;
  sample();
  after = peak;
  t0 = getTime();
  do { signCheck(BOARD, ID, ports, 0, SIZE, STATE, "1.2.3", "1.0.0"); k++; dt = getTime() - t0; } while (dt < ${seconds});
  print("@@SIGN " + JSON.stringify({ ok: ok, rejects: rejects, before: before, peak: top, after: after, samples: [].slice.call(SEEN, 0, seen), ms: dt * 1000 / k, checks: k, version: process.version }));
}
setTimeout(benchSign, 10);
`;
}

/** The benchmark program (ES5, minified like the agent bundle, gated). */
export async function buildSignHarness(board: BoardConfig, seconds: number, imageBytes = 4096): Promise<string> {
  const config = bundleConfig(board);
  const source = entrySource(board, seconds, imageBytes);
  const entry: Plugin = { name: "sign-bench-entry", resolveId: (id) => (id === ENTRY ? id : null), load: (id) => (id === ENTRY ? source : null) };
  const bundle = await rollup({ ...config, input: ENTRY, plugins: [entry, ...config.plugins], output: undefined });
  try {
    return (await bundle.generate(config.output)).output[0].code;
  } finally {
    await bundle.close();
  }
}

export async function signCostOnEspruino(bin: string, board: BoardConfig, seconds = 1): Promise<SignCost> {
  const out = await runScript(bin, await buildSignHarness(board, seconds), seconds * 2000 + 20000);
  for (const line of out.split("\n")) {
    const r = parseSignLine(line);
    if (r) return r;
  }
  throw new Error("the signature harness printed no result on " + bin + ":\n" + out.slice(-2000));
}

/** The harness's result line, or null for any other line; throws when the harness reported an error. */
export function parseSignLine(line: string): SignCost | null {
  const at = line.indexOf("@@SIGN ");
  if (at < 0) return null;
  const r = JSON.parse(line.slice(at + 7)) as SignCost & { error?: string };
  if (r.error) throw new Error("sign bench: " + r.error);
  for (const k of ["before", "peak", "after", "ms", "checks"] as const) if (typeof r[k] !== "number") throw new Error("sign bench: no " + k + " in " + line.trim());
  return r;
}

const JSVARS_LABEL = "Signature check: JsVars held above the level before it (real interpreter)";
const MS_LABEL = "Signature check: time per check (real interpreter, desktop CPU)";

/** sign.verifyJsVars (judged) and sign.verifyMs (informative), or why they cannot be trusted. */
export function signFigures(r: SignCost | Error): Figure[] {
  if (r instanceof Error) return [failed("sign.verifyJsVars", SIGN_ITEM, JSVARS_LABEL, "JsVars", "<= " + SIGN_JSVARS_TARGET, r), failed("sign.verifyMs", SIGN_ITEM, MS_LABEL, "ms", null, r)];
  if (!r.ok || !r.rejects) {
    const why = !r.ok ? "the signed file did not pass the check" : "a file under another key was not refused";
    return [
      { key: "sign.verifyJsVars", item: SIGN_ITEM, label: JSVARS_LABEL, value: null, unit: "JsVars", target: "<= " + SIGN_JSVARS_TARGET, verdict: "FAIL", note: why },
      { key: "sign.verifyMs", item: SIGN_ITEM, label: MS_LABEL, value: null, unit: "ms", target: null, verdict: "FAIL", note: why },
    ];
  }
  const left = r.after - r.before;
  return [
    judged(
      { key: "sign.verifyJsVars", item: SIGN_ITEM, label: JSVARS_LABEL, value: r.peak - r.before, unit: "JsVars", note: `usage ${r.before} before, ${r.samples.join("/")} at the trailer read and around the two SHA-256 calls, ${r.after} after (${left === 0 ? "nothing" : left + " JsVars"} left behind); the agent's signCheck as bundled, native crypto.SHA256, JS MD5 backend, ESP32 JsVar format` },
      "<=",
      SIGN_JSVARS_TARGET,
    ),
    info({ key: "sign.verifyMs", item: SIGN_ITEM, label: MS_LABEL, value: r.ms, unit: "ms", note: `${r.checks} checks, Espruino ${r.version}, Linux build on a desktop CPU: an ESP32 runs Espruino's JavaScript roughly 25-50x slower, so expect about ${(r.ms * 25).toFixed(0)}-${(r.ms * 50).toFixed(0)} ms there (not measured on a board)` }),
  ];
}
