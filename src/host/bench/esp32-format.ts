// The memory figures are taken on an interpreter with the ESP32's JsVar format: a 32-bit build
// with `variables: 16383`, whose JsVars are 14 bytes (process.memory().blocksize). A 64-bit
// build (27-byte JsVars, strings and buffers at half the JsVars) or a 12-/13-byte format gives
// figures that say nothing about a board, so the bench refuses them.
import { runScript } from "./md5-speed";

export const ESP32_BLOCKSIZE = 14;

export interface InterpreterFormat {
  blockSize: number;
  total: number;
  version: string;
}

/** Runs a one-line probe on `bin` and returns process.memory()'s blocksize and total. */
export async function probeFormat(bin: string): Promise<InterpreterFormat> {
  const out = await runScript(bin, 'var m = process.memory(); print("@@FMT " + m.blocksize + " " + m.total + " " + process.version); quit();\n', 20000);
  const m = /@@FMT (\d+) (\d+) (\S+)/.exec(out);
  if (!m) throw new Error("ESPRUINO_BIN=" + bin + " printed no process.memory() figures; is it Espruino's Linux interpreter? Output: " + out.slice(-300).replace(/\s+/g, " "));
  return { blockSize: Number(m[1]), total: Number(m[2]), version: m[3] };
}

/** null when `f` is the ESP32 format, else one sentence saying what is wrong. */
export function formatProblem(bin: string, f: { blockSize: number; total: number }): string | null {
  if (f.blockSize === ESP32_BLOCKSIZE) return null;
  const hint = f.blockSize > 16 ? " (a 64-bit build: build it 32-bit)" : " (a different JsVar format: build with the ESP32 board's `variables: 16383`)";
  return (
    "ESPRUINO_BIN=" + bin + " has " + f.blockSize + "-byte JsVars (process.memory().blocksize " + f.blockSize + ", total " + f.total + ")" + hint +
    "; the memory figures need the ESP32 format, blocksize " + ESP32_BLOCKSIZE + " (see docs/benchmarks.md)"
  );
}
