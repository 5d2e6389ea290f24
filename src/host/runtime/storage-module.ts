// A minimal require("Storage"): named files that survive reboots and power cuts, with the
// write rules that bite on the board (offset writes only into still-erased bytes, 28-char names,
// no empty files). It is NOT laid out in the NorFlash image and has no power-cut model; keep
// anything that must survive a cut mid-write in raw flash through the journal instead.

import { binaryToBytes, bytesToBinary, viewBytes } from "./bytes";
import type { Session } from "./session";

export const STORAGE_BYTES = 896 * 1024;
const MAX_NAME = 28;

function toBytes(data: unknown): Uint8Array {
  if (typeof data === "string") return binaryToBytes(data);
  const view = viewBytes(data);
  if (view) return view.slice();
  if (Array.isArray(data)) return Uint8Array.from(data.map((x) => Number(x) & 0xff));
  return binaryToBytes(JSON.stringify(data));
}

export function createStorageModule(session: Session, files: Map<string, Uint8Array>): Record<string, unknown> {
  const api = session.api;
  const nameOf = (name: unknown): string => String(name).slice(0, MAX_NAME);
  // Each file costs a 32-byte header and is padded to 4 bytes.
  const footprint = (length: number): number => (length + 32 + 3) & ~3;
  const used = (): number => [...files.values()].reduce((n, f) => n + footprint(f.length), 0);

  const write = (name: unknown, data: unknown, offset?: unknown, size?: unknown): boolean => {
    session.assertAlive();
    const n = nameOf(name);
    const bytes = toBytes(data);
    const off = Number(offset) | 0;
    if (!off) {
      const total = size === undefined ? bytes.length : Number(size) | 0;
      if (total === 0) throw api.error("Can't create zero length file");
      if (bytes.length > total) throw api.error("Too much data for file size");
      const replaced = files.get(n);
      if (used() - (replaced ? footprint(replaced.length) : 0) + footprint(total) > STORAGE_BYTES) {
        throw api.error("Unable to find or create file - not enough space");
      }
      const file = new Uint8Array(total).fill(0xff);
      file.set(bytes);
      files.set(n, file);
      return true;
    }
    const file = files.get(n);
    if (!file) throw api.error("Can't write to a file at an offset that doesn't exist");
    if (off + bytes.length > file.length) throw api.error("Too much data for file size");
    for (let i = 0; i < bytes.length; i++) {
      const old = file[off + i];
      if (old !== 0xff && old !== bytes[i]) throw api.error("File already written with different data");
    }
    file.set(bytes, off);
    return true;
  };

  const mod = api.object();
  mod.write = api.bridge(write, "write");
  mod.writeJSON = api.bridge((name: unknown, obj: unknown) => write(name, JSON.stringify(obj)), "writeJSON");
  mod.read = api.bridge((name: unknown, offset?: unknown, length?: unknown) => {
    const file = files.get(nameOf(name));
    if (!file) return undefined;
    const start = Number(offset) | 0;
    const end = length === undefined ? file.length : start + (Number(length) | 0);
    return bytesToBinary(file.subarray(start, end));
  }, "read");
  mod.readArrayBuffer = api.bridge((name: unknown) => {
    const file = files.get(nameOf(name));
    if (!file) return undefined;
    const out = api.arrayBuffer(file.length);
    new Uint8Array(out).set(file);
    return out;
  }, "readArrayBuffer");
  mod.readJSON = api.bridge((name: unknown, noExceptions?: unknown) => {
    const file = files.get(nameOf(name));
    if (!file) return undefined;
    const text = bytesToBinary(file);
    try {
      return (session.api.evalGlobal("JSON") as JSON).parse(text);
    } catch (e) {
      if (noExceptions) return undefined;
      throw e;
    }
  }, "readJSON");
  mod.erase = api.bridge((name: unknown) => {
    session.assertAlive();
    files.delete(nameOf(name));
  }, "erase");
  mod.eraseAll = api.bridge(() => {
    session.assertAlive();
    files.clear();
  }, "eraseAll");
  mod.list = api.bridge((pattern?: unknown) => {
    const names = [...files.keys()].filter((n) =>
      pattern && typeof (pattern as RegExp).test === "function" ? (pattern as RegExp).test(n) : true,
    );
    return api.array(names);
  }, "list");
  mod.getFree = api.bridge(() => STORAGE_BYTES - used(), "getFree");
  return mod;
}
