// Fake ESP32 DRAM addresses for E.getAddressOf(buffer, true), so E.nativeCall'd ROM functions
// (modelled in rom-model.ts) can read and write the bundle's typed arrays by address.
// Each ArrayBuffer gets one stable, 4-byte aligned address for the life of the boot. Like
// Espruino, small buffers are not "flat" (a 16-byte Uint8Array is stored in ordinary string
// blocks) and get address 0: code must use a buffer above the flat-string break-even.

import { types } from "node:util";

/** What rom-model.ts needs: a window onto memory at a DRAM address. */
export interface AddressSpace {
  view(addr: number, length: number): Uint8Array;
}

export const DRAM_START = 0x3ffb0000;
export const DRAM_END = 0x40000000;
/** jsutils.h JSV_FLAT_STRING_BREAK_EVEN with 14-byte JsVars: 9 + 10 bytes. */
export const FLAT_BREAK_EVEN = 19;
/** Room for Espruino's flat-string header between buffers, so overruns do not land in a neighbour. */
const GAP = 16;

interface Region {
  start: number;
  length: number;
  buffer: WeakRef<ArrayBuffer>;
}

export class DramAddressSpace implements AddressSpace {
  private regions: Region[] = [];
  private readonly addresses = new WeakMap<ArrayBuffer, number>();

  /** Address of a typed array's first element or an ArrayBuffer's data; 0 when not flat. */
  addressOf(value: unknown): number {
    let buffer: ArrayBuffer;
    let offset = 0;
    if (types.isArrayBuffer(value)) {
      buffer = value;
    } else if (ArrayBuffer.isView(value) && types.isArrayBuffer(value.buffer)) {
      buffer = value.buffer;
      offset = value.byteOffset;
    } else {
      return 0;
    }
    if (buffer.byteLength <= FLAT_BREAK_EVEN) return 0;
    let start = this.addresses.get(buffer);
    if (start === undefined) {
      start = this.allocate(buffer);
      if (start === 0) return 0;
    }
    return start + offset;
  }

  view(addr: number, length: number): Uint8Array {
    const a = addr >>> 0;
    for (const r of this.regions) {
      if (a >= r.start && a + length <= r.start + r.length) {
        const buffer = r.buffer.deref();
        if (!buffer) break;
        return new Uint8Array(buffer, a - r.start, length);
      }
    }
    throw new Error("no buffer at address 0x" + a.toString(16) + " (+" + length + " bytes): Guru Meditation on a real ESP32");
  }

  /** First fit between live regions; regions of collected buffers are reused. */
  private allocate(buffer: ArrayBuffer): number {
    this.regions = this.regions.filter((r) => r.buffer.deref() !== undefined);
    let candidate = DRAM_START;
    for (const r of this.regions) {
      if (candidate + buffer.byteLength + GAP <= r.start) break;
      candidate = (r.start + r.length + GAP + 3) & ~3;
    }
    if (candidate + buffer.byteLength > DRAM_END) return 0;
    const region: Region = { start: candidate, length: buffer.byteLength, buffer: new WeakRef(buffer) };
    this.regions.push(region);
    this.regions.sort((x, y) => x.start - y.start);
    this.addresses.set(buffer, candidate);
    return candidate;
  }
}
