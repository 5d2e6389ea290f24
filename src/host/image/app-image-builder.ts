// Synthetic but structurally valid ESP32 app images for tests and the simulator
// (docs/esp32-formats.md#app-image). Without `size` the result is the 352-byte image of docs/esp32-formats.md#app-image-vector
// (for version "1.2.3", project "demo"); with `size` seeded filler segments bring the
// image to exactly that many bytes.

import { createHash } from "node:crypto";
import { chipIdOf } from "../../core/esp32/app-image";
import { seededUint32 } from "../seeded-random";

export interface AppImageOptions {
  version: string;
  projectName: string;
  /** Exact total length (a multiple of 16, at least 368); default: the minimal image. */
  size?: number;
  chip?: "esp32" | "esp32s2" | "esp32c3" | "esp32s3";
  hashAppended?: boolean;
  seed?: number;
  secureVersion?: number;
  idfVersion?: string;
}

const DROM_LOAD = 0x3f400020;
const DRAM_LOAD = 0x3ffb0000;
const MAX_FILLER_SEGMENT = 0x40000;
const BASE_UNPADDED = 24 + 8 + 0x110;

function putString(b: Uint8Array, off: number, max: number, s: string): void {
  const bytes = Buffer.from(s, "ascii");
  if (bytes.length > max) throw new RangeError(JSON.stringify(s) + " longer than " + max + " bytes");
  b.set(bytes, off);
}

/** esp_app_desc_t (256 bytes, docs/esp32-formats.md#app-descriptor). */
export function buildAppDescriptor(o: { version: string; projectName: string; secureVersion?: number; idfVersion?: string }): Uint8Array {
  const d = new Uint8Array(256);
  const v = new DataView(d.buffer);
  v.setUint32(0, 0xabcd5432, true);
  v.setUint32(4, o.secureVersion ?? 0, true);
  putString(d, 0x10, 32, o.version);
  putString(d, 0x30, 32, o.projectName);
  putString(d, 0x70, 32, o.idfVersion ?? "v4.4.8");
  return d;
}

/** Filler segment lengths so that the whole image is exactly `size` bytes. */
function fillerLengths(size: number, hash: boolean): number[] {
  const room = size - (hash ? 32 : 0) - 1 - BASE_UNPADDED;
  for (let k = 1; k < 16; k++) {
    const data = Math.floor((room - 8 * k) / 4) * 4;
    if (data >= 4 * k && data <= k * MAX_FILLER_SEGMENT) {
      const lens: number[] = [];
      let left = data;
      for (let i = 0; i < k; i++) {
        const n = i === k - 1 ? left : Math.min(MAX_FILLER_SEGMENT, Math.floor(left / (k - i) / 4) * 4);
        lens.push(n);
        left -= n;
      }
      return lens;
    }
  }
  throw new RangeError("cannot build an image of " + size + " bytes");
}

export function buildAppImage(o: AppImageOptions): Uint8Array {
  const hash = o.hashAppended !== false;
  const chipId = chipIdOf(o.chip ?? "esp32");
  const rand = seededUint32(o.seed ?? 1);
  const segments: { load: number; data: Uint8Array }[] = [];
  const drom = new Uint8Array(0x110);
  drom.set(buildAppDescriptor(o), 0);
  for (let i = 0; i < 16; i++) drom[0x100 + i] = [0x11, 0x22, 0x33, 0x44][i % 4];
  segments.push({ load: DROM_LOAD, data: drom });
  if (o.size !== undefined) {
    const minimal = (((BASE_UNPADDED + 16) & ~15) + (hash ? 32 : 0));
    if (o.size % 16 !== 0 || o.size < minimal + 16) throw new RangeError("image size must be a multiple of 16 and > " + minimal);
    let load = DRAM_LOAD;
    for (const len of fillerLengths(o.size, hash)) {
      const data = new Uint8Array(len);
      for (let i = 0; i < len; i += 4) new DataView(data.buffer).setUint32(i, rand(), true);
      segments.push({ load, data });
      load += len;
    }
  }
  let unpadded = 24;
  for (const s of segments) unpadded += 8 + s.data.length;
  const withChecksum = (unpadded + 16) & ~15;
  const out = new Uint8Array(withChecksum + (hash ? 32 : 0));
  const v = new DataView(out.buffer);
  out[0] = 0xe9;
  out[1] = segments.length;
  out[2] = 0x02; // DIO
  out[3] = 0x20; // 4 MB, 40 MHz
  v.setUint32(4, 0x40080000, true);
  out[8] = 0xee; // no WP pin
  v.setUint16(12, chipId, true);
  out[23] = hash ? 1 : 0;
  let pos = 24;
  let sum = 0xef;
  for (const s of segments) {
    v.setUint32(pos, s.load, true);
    v.setUint32(pos + 4, s.data.length, true);
    out.set(s.data, pos + 8);
    for (let i = 0; i < s.data.length; i++) sum ^= s.data[i];
    pos += 8 + s.data.length;
  }
  out[withChecksum - 1] = sum;
  if (hash) out.set(createHash("sha256").update(out.subarray(0, withChecksum)).digest(), withChecksum);
  if (o.size !== undefined && out.length !== o.size) throw new Error("internal: built " + out.length + " bytes, wanted " + o.size);
  return out;
}
