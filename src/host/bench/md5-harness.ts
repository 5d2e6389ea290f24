// The MD5 speed benchmark as one ES5 program, built through the same Rollup + TypeScript ES5 +
// terser + gate chain as the agent bundle: the project's JS MD5 (src/core/crypto/md5.ts) and,
// as the baseline, a straightforward 64-step loop MD5 (tables in typed arrays, input read
// byte by byte, one block per call) written here. Both hash the same 4 KB buffer in the same
// process, each for at least `seconds`, and their chaining states are compared first so a
// wrong baseline cannot produce a flattering ratio. The program prints one line:
//   @@MD5 {"ours": bytes/s, "naive": bytes/s, "agree": true, "version": "2v29"}
import { fileURLToPath } from "node:url";
import { dirname, resolve } from "node:path";
import { rollup, type Plugin } from "rollup";
import type { BoardConfig } from "../../core/board";
// @ts-expect-error rollup.config.js is plain JavaScript without type declarations
import { bundleConfig } from "../../../rollup.config.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const ENTRY = "\0md5-bench-entry";

/** RFC 1321 sine table as signed 32-bit integers, and the per-step rotations. */
export const MD5_K: number[] = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) | 0);
const ROUND_SHIFTS = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
export const MD5_S: number[] = Array.from({ length: 64 }, (_, i) => ROUND_SHIFTS[(i >> 4) * 4 + (i & 3)]);

/** The baseline, as ES5 source: what an MD5 looks like when written the textbook way. */
export function naiveMd5Source(): string {
  return `var NK = new Int32Array([${MD5_K.join(",")}]);
var NS = new Uint8Array([${MD5_S.join(",")}]);
var NX = new Int32Array(16);
function naiveMd5Block(h, m, o) {
  var i, f, g, t, r, a = h[0], b = h[1], c = h[2], d = h[3];
  for (i = 0; i < 16; i++) NX[i] = m[o + i * 4] | m[o + i * 4 + 1] << 8 | m[o + i * 4 + 2] << 16 | m[o + i * 4 + 3] << 24;
  for (i = 0; i < 64; i++) {
    if (i < 16) { f = b & c | ~b & d; g = i; }
    else if (i < 32) { f = d & b | ~d & c; g = (5 * i + 1) & 15; }
    else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) & 15; }
    else { f = c ^ (b | ~d); g = (7 * i) & 15; }
    t = d; d = c; c = b;
    r = a + f + NK[i] + NX[g] | 0;
    b = b + (r << NS[i] | r >>> (32 - NS[i])) | 0;
    a = t;
  }
  h[0] = h[0] + a | 0; h[1] = h[1] + b | 0; h[2] = h[2] + c | 0; h[3] = h[3] + d | 0;
}
function naiveMd5Update(h, m, n) {
  for (var o = 0; o < n; o += 64) naiveMd5Block(h, m, o);
}
`;
}

function entrySource(seconds: number): string {
  const md5Path = JSON.stringify(resolve(ROOT, "src/core/crypto/md5.ts"));
  return `import { jsMd5 } from ${md5Path};
${naiveMd5Source()}
function benchMd5() {
  var buf = new Uint8Array(4096), i, n, t0, dt;
  for (i = 0; i < 4096; i++) buf[i] = (i * 31 + 7) & 255;
  // Same input, same chaining state: the baseline really is MD5.
  var m = jsMd5.create();
  m.update(buf, 0, 4096); m.update(buf, 0, 4096);
  var st = m.saveState();
  var h = new Int32Array([1732584193, -271733879, -1732584194, 271733878]);
  naiveMd5Update(h, buf, 4096); naiveMd5Update(h, buf, 4096);
  var agree = true;
  for (i = 0; i < 16; i++) if (st[i] !== ((h[i >> 2] >> ((i & 3) * 8)) & 255)) agree = false;
  m = jsMd5.create(); n = 0; t0 = getTime();
  do { m.update(buf, 0, 4096); n++; dt = getTime() - t0; } while (dt < ${seconds});
  var ours = n * 4096 / dt;
  n = 0; t0 = getTime();
  do { naiveMd5Update(h, buf, 4096); n++; dt = getTime() - t0; } while (dt < ${seconds});
  var naive = n * 4096 / dt;
  print("@@MD5 " + JSON.stringify({ ours: Math.round(ours), naive: Math.round(naive), agree: agree, version: process.version }));
}
setTimeout(benchMd5, 10);
`;
}

/** The benchmark program (ES5, minified like the agent bundle, gated). */
export async function buildMd5Harness(board: BoardConfig, seconds: number): Promise<string> {
  const config = bundleConfig(board);
  const entry: Plugin = {
    name: "md5-bench-entry",
    resolveId: (id) => (id === ENTRY ? id : null),
    load: (id) => (id === ENTRY ? entrySource(seconds) : null),
  };
  const bundle = await rollup({ ...config, input: ENTRY, plugins: [entry, ...config.plugins], output: undefined });
  try {
    const { output } = await bundle.generate(config.output);
    return output[0].code;
  } finally {
    await bundle.close();
  }
}

export interface Md5Speed {
  /** Bytes per second of the project's JS MD5. */
  ours: number;
  /** Bytes per second of the loop baseline. */
  naive: number;
  /** Both computed the same chaining state over the same 8 KB. */
  agree: boolean;
  /** process.version of the interpreter. */
  version: string;
}

export function parseMd5Line(line: string): Md5Speed | null {
  const at = line.indexOf("@@MD5 ");
  if (at < 0) return null;
  return JSON.parse(line.slice(at + 6)) as Md5Speed;
}
