// print()/console.log() output in roughly Espruino's style: strings as they are, everything else
// JSON-like ({ "a": 1 }, [ 1, 2 ], new Uint8Array([1, 2])). Values come from the context realm.

import { types } from "node:util";

function typedName(v: ArrayBufferView): string {
  return Object.prototype.toString.call(v).slice(8, -1);
}

function formatValue(v: unknown, depth: number, seen: Set<object>): string {
  if (v === undefined) return "undefined";
  if (v === null) return "null";
  if (typeof v === "string") return depth === 0 ? v : JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (typeof v === "function") return "function " + (v.name || "") + "() {...}";
  if (typeof v !== "object") return String(v);
  if (seen.has(v) || depth > 4) return "...";
  seen.add(v);
  try {
    if (types.isArrayBuffer(v)) return "new ArrayBuffer(" + v.byteLength + ")";
    if (ArrayBuffer.isView(v) && !types.isDataView(v)) {
      const items = Array.prototype.slice.call(v as unknown as ArrayLike<number>, 0, 64).join(", ");
      const more = (v as unknown as ArrayLike<number>).length > 64 ? ", ..." : "";
      return "new " + typedName(v) + "([" + items + more + "])";
    }
    if (types.isNativeError(v) || (typeof (v as { message?: unknown }).message === "string" && "stack" in v)) return String(v);
    if (Array.isArray(v)) {
      if (v.length === 0) return "[ ]";
      return "[ " + v.map((x) => formatValue(x, depth + 1, seen)).join(", ") + " ]";
    }
    const keys = Object.keys(v);
    if (keys.length === 0) return "{ }";
    return "{ " + keys.map((k) => JSON.stringify(k) + ": " + formatValue((v as Record<string, unknown>)[k], depth + 1, seen)).join(", ") + " }";
  } catch {
    return "<unprintable>";
  } finally {
    seen.delete(v);
  }
}

export function formatPrintArgs(args: ArrayLike<unknown>): string {
  const parts: string[] = [];
  for (let i = 0; i < args.length; i++) parts.push(formatValue(args[i], 0, new Set()));
  return parts.join(" ");
}
