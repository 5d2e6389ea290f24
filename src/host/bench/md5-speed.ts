// Figure 1: MD5 speed. The harness (md5-harness.ts) runs on the real interpreter when
// ESPRUINO_BIN is set, and always in the host runtime (V8 with Espruino's globals: a JIT, so
// its ratio says nothing about a board and is printed apart). The ROM backend's per-call cost is
// taken in the host runtime, where E.nativeCall reaches the ROM model (rom-model.ts).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { rollup, type Plugin } from "rollup";
import type { BoardConfig } from "../../core/board";
// @ts-expect-error rollup.config.js is plain JavaScript without type declarations
import { bundleConfig } from "../../../rollup.config.js";
import { Device } from "../runtime/device";
import { NorFlash } from "../runtime/nor-flash";
import { romStats } from "../runtime/rom-model";
import { buildMd5Harness, parseMd5Line, type Md5Speed } from "./md5-harness";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** Runs `code` as a script on the Linux interpreter and returns its console output. */
export function runScript(bin: string, code: string, timeoutMs: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "espruino-bench-"));
  writeFileSync(join(dir, "bench.js"), code, "latin1");
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, ["bench.js"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.setEncoding("latin1");
    child.stdout.on("data", (s: string) => (out += s));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      reject(e);
    });
    child.once("close", () => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      resolvePromise(out);
    });
  });
}

export async function md5OnEspruino(bin: string, board: BoardConfig, seconds = 1.5): Promise<Md5Speed> {
  const out = await runScript(bin, await buildMd5Harness(board, seconds), seconds * 2000 + 20000);
  for (const line of out.split("\n")) {
    const r = parseMd5Line(line);
    if (r) return r;
  }
  throw new Error("the MD5 harness printed no result on " + bin + ":\n" + out.slice(-2000));
}

/** Runs a bundle in the host runtime until it logs a line containing `marker`. */
function runInHostRuntime(bundle: string, marker: string, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let device: Device | null = null;
    const timer = setTimeout(() => {
      device?.stop();
      reject(new Error("the host runtime printed no " + marker + " within " + timeoutMs + " ms"));
    }, timeoutMs);
    device = new Device({
      bundle,
      flash: new NorFlash({ size: 0x40000 }),
      onLog: (line) => {
        if (line.includes("Uncaught")) {
          clearTimeout(timer);
          device?.stop();
          reject(new Error("host runtime: " + line));
        }
        if (!line.includes(marker)) return;
        clearTimeout(timer);
        setImmediate(() => device?.stop());
        resolvePromise(line);
      },
    });
    device.boot();
  });
}

export async function md5OnHostRuntime(board: BoardConfig, seconds = 0.5): Promise<Md5Speed> {
  const line = await runInHostRuntime(await buildMd5Harness(board, seconds), "@@MD5", seconds * 2000 + 20000);
  return parseMd5Line(line)!;
}

export interface RomOverhead {
  /** Microseconds per MD5.update() of 1 byte through the ROM backend (host runtime + ROM model). */
  perCallUs: number;
  /** Microseconds per 4 KB update through the ROM backend. */
  per4kUs: number;
  /** Microseconds per 4 KB update through the JS backend in the same runtime. */
  jsPer4kUs: number;
  /** E.nativeCall invocations per 4 KB update (ROM entries entered). */
  nativeCallsPer4k: number;
}

function romEntrySource(seconds: number): string {
  const rom = JSON.stringify(resolve(ROOT, "src/espruino/md5-rom.ts"));
  const js = JSON.stringify(resolve(ROOT, "src/core/crypto/md5.ts"));
  return `import { romMd5 } from ${rom};
import { jsMd5 } from ${js};
function timePerCall(m, buf, n) {
  var k = 0, t0 = getTime(), dt;
  do { m.update(buf, 0, n); k++; dt = getTime() - t0; } while (dt < ${seconds});
  return dt * 1e6 / k;
}
function benchRom() {
  var f = romMd5("esp32", function () {});
  if (!f) { print("@@ROM null"); return; }
  var buf = new Uint8Array(4096), i;
  for (i = 0; i < 4096; i++) buf[i] = i & 255;
  var one = timePerCall(f.create(), buf, 1);
  var four = timePerCall(f.create(), buf, 4096);
  var js = timePerCall(jsMd5.create(), buf, 4096);
  print("@@ROMSTART");
  f.create().update(buf, 0, 4096);
  print("@@ROM " + JSON.stringify({ perCallUs: one, per4kUs: four, jsPer4kUs: js }));
}
setTimeout(benchRom, 10);
`;
}

export async function romOverheadInHostModel(board: BoardConfig, seconds = 0.3): Promise<RomOverhead | null> {
  const config = bundleConfig({ ...board, chip: "esp32" });
  const id = "\0rom-bench-entry";
  const entry: Plugin = { name: "rom-bench-entry", resolveId: (s) => (s === id ? s : null), load: (s) => (s === id ? romEntrySource(seconds) : null) };
  const bundle = await rollup({ ...config, input: id, plugins: [entry, ...config.plugins], output: undefined });
  let code: string;
  try {
    code = (await bundle.generate(config.output)).output[0].code;
  } finally {
    await bundle.close();
  }
  // Count the native calls of one 4 KB update (create() adds one MD5Init).
  let before = 0;
  let after = 0;
  const line = await new Promise<string>((resolvePromise, reject) => {
    let device: Device | null = null;
    const timer = setTimeout(() => {
      device?.stop();
      reject(new Error("host runtime: no ROM result"));
    }, seconds * 6000 + 20000);
    device = new Device({
      bundle: code,
      flash: new NorFlash({ size: 0x40000 }),
      onLog: (l) => {
        if (l.includes("@@ROMSTART")) before = romStats.calls;
        if (!l.includes("@@ROM ") && !l.includes("@@ROM null")) return;
        after = romStats.calls;
        clearTimeout(timer);
        setImmediate(() => device?.stop());
        resolvePromise(l);
      },
    });
    device.boot();
  });
  if (line.includes("@@ROM null")) return null;
  const r = JSON.parse(line.slice(line.indexOf("@@ROM ") + 6)) as Omit<RomOverhead, "nativeCallsPer4k">;
  return { ...r, nativeCallsPer4k: after - before - 1 };
}
