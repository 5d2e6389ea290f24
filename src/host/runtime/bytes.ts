// Conversions between the values a bundle passes around (binary strings, Arrays, typed arrays,
// Espruino's {data, count} objects) and host bytes. Values come from another vm realm, so type
// checks use node:util/types and Array.isArray, never instanceof.
import CRC32 from "crc-32";
import { types } from "node:util";

/** One char per byte, as Espruino on ESP32 (strings there are 8-bit). */
export function bytesToBinary(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

/** Chars above 0xFF cannot exist on an ESP32 build; they are cut to their low byte like a C char store. */
export function binaryToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

export function hasWideChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return true;
  return false;
}

export function viewBytes(v: unknown): Uint8Array | null {
  if (types.isArrayBuffer(v)) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) {
    const view = v as ArrayBufferView;
    if (types.isUint8Array(view) || types.isUint8ClampedArray(view) || types.isInt8Array(view) || types.isDataView(view)) {
      return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    }
    // Wider element types contribute one byte per element, as Espruino's iterators do.
    const elements = view as unknown as ArrayLike<number>;
    const out = new Uint8Array(elements.length);
    for (let i = 0; i < elements.length; i++) out[i] = elements[i] & 0xff;
    return out;
  }
  return null;
}

/**
 * Flattens E.toUint8Array-style arguments: numbers are bytes, strings are their char codes,
 * arrays and typed arrays are walked, {data, count} repeats data count times.
 */
export function collectBytes(args: readonly unknown[]): Uint8Array {
  const parts: number[] = [];
  const add = (v: unknown): void => {
    if (typeof v === "number" || typeof v === "boolean") {
      parts.push(Number(v) & 0xff);
    } else if (typeof v === "string") {
      for (let i = 0; i < v.length; i++) parts.push(v.charCodeAt(i) & 0xff);
    } else if (Array.isArray(v)) {
      for (const item of v) add(item);
    } else {
      const bytes = viewBytes(v);
      if (bytes) {
        for (let i = 0; i < bytes.length; i++) parts.push(bytes[i]);
      } else if (v && typeof v === "object" && "count" in v) {
        const o = v as { data?: unknown; count?: unknown };
        const count = Number(o.count) | 0;
        for (let i = 0; i < count; i++) add(o.data === undefined ? 0 : o.data);
      }
    }
  };
  for (const a of args) add(a);
  return Uint8Array.from(parts);
}

/** Data accepted where Espruino uses JSV_GET_AS_CHAR_ARRAY (Flash.write, crypto, CRC32). */
export function dataToBytes(v: unknown): Uint8Array {
  if (typeof v === "string") return binaryToBytes(v);
  const view = viewBytes(v);
  if (view) return view.slice();
  return collectBytes([v]);
}

/** zlib/IEEE CRC-32, unsigned, as E.CRC32 returns it (the crc-32 package). */
export function crc32(bytes: Uint8Array): number {
  return CRC32.buf(bytes, 0) >>> 0;
}
