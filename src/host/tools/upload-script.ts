// Replays an upload script (what the espruino CLI sends, its `-o` output) against a model of
// Espruino's Storage, so the flash tool can prove before sending anything that the board
// will end up with exactly the agent's files, nothing else written, and a reboot. The model keeps
// Storage's rules: a write at offset 0 creates a file of the announced size, later writes
// must land inside it on bytes not written yet.
import vm from "node:vm";

export interface StorageCommand {
  file: string;
  offset: number;
  bytes: number;
  /** The size announced by the first write of a file. */
  total?: number;
}

export interface UploadReplay {
  /** Every Storage.write in order. */
  commands: StorageCommand[];
  /** Files as they are after the script (binary strings, one char per byte). */
  files: Map<string, string>;
  /** Names passed to load(), in order. */
  loads: string[];
  /** How many times the script calls E.reboot() (a hard reset: every boot file runs again). */
  reboots: number;
}

export class UploadScriptError extends Error {}

export function replayUploadScript(script: string): UploadReplay {
  const commands: StorageCommand[] = [];
  const files = new Map<string, { data: (number | null)[] }>();
  const loads: string[] = [];
  let reboots = 0;
  const storage = {
    write(name: string, data: string, offset?: number, total?: number): boolean {
      if (typeof name !== "string" || typeof data !== "string") throw new UploadScriptError("Storage.write with a non-string name or data");
      const at = offset ?? 0;
      if (at === 0) {
        const size = total ?? data.length;
        if (size < data.length) throw new UploadScriptError(`${name}: ${data.length} bytes written into a ${size}-byte file`);
        files.set(name, { data: new Array(size).fill(null) });
      }
      const f = files.get(name);
      if (!f) throw new UploadScriptError(`${name}: written at ${at} before it was created`);
      if (at + data.length > f.data.length) throw new UploadScriptError(`${name}: "Too much data for file size" (${at}+${data.length} > ${f.data.length})`);
      for (let i = 0; i < data.length; i++) {
        if (f.data[at + i] !== null) throw new UploadScriptError(`${name}: byte ${at + i} written twice`);
        f.data[at + i] = data.charCodeAt(i) & 0xff;
      }
      commands.push({ file: name, offset: at, bytes: data.length, ...(at === 0 ? { total: f.data.length } : {}) });
      return true;
    },
  };
  const context = vm.createContext({
    require: (m: string) => {
      if (m !== "Storage") throw new UploadScriptError(`the upload script requires "${m}"`);
      return storage;
    },
    load: (name: string) => void loads.push(name),
    atob: (b64: string) => Buffer.from(String(b64), "base64").toString("latin1"),
    E: { reboot: () => void reboots++ },
  });
  // \x10 (DLE) turns echo off for a line on Espruino; it is not JavaScript
  vm.runInContext(script.replace(/\x10/g, ""), context, { filename: "upload-script.js", timeout: 5000 });
  const out = new Map<string, string>();
  for (const [name, f] of files) {
    const missing = f.data.indexOf(null);
    if (missing >= 0) throw new UploadScriptError(`${name}: byte ${missing} of ${f.data.length} never written`);
    out.set(name, binaryString(f.data as number[]));
  }
  return { commands, files: out, loads, reboots };
}

function binaryString(bytes: number[]): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.slice(i, i + 8192));
  return s;
}
