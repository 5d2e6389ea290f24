// MD5 through the chip's mask ROM (MD5Init / MD5Update / MD5Final, the wpa_supplicant code that
// ESP-IDF's esp_rom_md5_* point at), reached with E.nativeCall. It runs at native speed, where the
// JS backend manages a few KB/s on an ESP32. Nothing here has been proven on every board, so it
// is only used after a self-test against known digests and against the JS backend; any failure
// or exception means the caller keeps the JS backend.
//
// The ROM keeps its state in a `struct MD5Context` (88 bytes) that we own, so saving and restoring
// is a plain copy, in exactly the layout the JS backend uses: one journal serves both.
//
// Memory rules (docs/rom-md5.md#enativecall, #risks): the ROM needs raw addresses, which only flat
// buffers have (E.getAddressOf(x, true) != 0); E.defrag can move flat strings between calls, so
// every address is read again right before each call and never kept.

import type { Md5, Md5Factory } from "../core/ports";
import { jsMd5, MD5_STATE_SIZE, md5StateLength } from "../core/crypto/md5";
import { bytesFromString } from "../core/crypto/bytes";
import { toHex } from "../core/crypto/hex";
import { otaError } from "../core/errors";

/** Largest slice handed to one MD5Update call: well under 1 ms of ROM time, keeps the loop responsive. */
const CHUNK = 4096;
/** The digest area sits after the staging area, outside any context (MD5Final zeroes the context). */
const DIGEST_AT = CHUNK;
/** Room for an 88-byte context at a 4-byte aligned address wherever the buffer starts. */
const CTX_BUFFER = MD5_STATE_SIZE + 4;

/** [MD5Init, MD5Update, MD5Final] from esp-idf components/esp_rom/<chip>/ld. */
function romAddresses(chip: string): number[] | null {
  switch (chip) {
    case "esp32": return [0x4005da7c, 0x4005da9c, 0x4005db1c];
    case "esp32s2": return [0x4000526c, 0x4000528c, 0x4000530c];
    case "esp32s3": return [0x40001c5c, 0x40001c68, 0x40001c74];
    case "esp32c3": return [0x40000614, 0x40000618, 0x4000061c];
    case "esp32c6": return [0x4000074c, 0x40000750, 0x40000754];
    default: return null;
  }
}

/** A zeroed buffer backed by one flat string, or null if the heap has no contiguous room. */
function flatBytes(n: number): Uint8Array | null {
  const s = E.toFlatString({ data: 0, count: n });
  if (s === undefined) return null;
  const u = new Uint8Array(E.toArrayBuffer(s));
  return E.getAddressOf(u, true) ? u : null;
}

/** A new Uint8Array with a copy of u[start..end). (Espruino's typed-array slice() returns a plain Array.) */
function copyOf(u: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(u.subarray(start, end));
}

/** The three ROM entry points and the shared staging buffer (input chunks, then 16 digest bytes). */
interface Rom {
  init: (ctx: number) => number;
  update: (ctx: number, src: number, len: number) => number;
  final: (digest: number, ctx: number) => number;
  stage: Uint8Array;
}

class RomMd5 implements Md5 {
  /** Flat buffer holding the context at offset k. */
  private c: Uint8Array;
  /** Offset of the context inside c; moves only if a defrag changes the buffer's alignment. */
  private k: number;
  private done: boolean;

  constructor(private rom: Rom, buffer: Uint8Array, state: Uint8Array | null) {
    this.c = buffer;
    this.k = 0;
    this.done = false;
    const ctx = this.ctx();
    if (state) this.c.set(state, this.k);
    else rom.init(ctx);
  }

  /** Current 4-byte aligned address of the context, moving its bytes if the buffer was moved. */
  private ctx(): number {
    const c = this.c, p = E.getAddressOf(c, true);
    if (!p) throw otaError("MD5_STATE", "MD5 context lost its flat storage");
    const a = (p + 3) & ~3, k = a - p;
    if (k !== this.k) {
      c.set(copyOf(c, this.k, this.k + MD5_STATE_SIZE), k);
      this.k = k;
    }
    return a;
  }

  update(data: Uint8Array, offset: number, length: number): void {
    if (this.done) throw otaError("CRYPTO_USAGE", "MD5 updated after digest");
    if (!(offset >= 0 && length >= 0 && offset + length <= data.length)) {
      throw otaError("CRYPTO_USAGE", "MD5 update range outside the data");
    }
    const rom = this.rom;
    while (length > 0) {
      const n = length < CHUNK ? length : CHUNK;
      const ctx = this.ctx();
      // The ROM memcpy's its input, so any flat (or memory-mapped) source works in place;
      // anything else is staged first.
      let src = E.getAddressOf(data, true);
      if (src) src += offset;
      else {
        rom.stage.set(data.subarray(offset, offset + n), 0);
        src = E.getAddressOf(rom.stage, true);
        if (!src) throw otaError("MD5_STATE", "MD5 staging buffer lost its flat storage");
      }
      rom.update(ctx, src, n);
      offset += n;
      length -= n;
    }
  }

  digest(): Uint8Array {
    if (this.done) throw otaError("CRYPTO_USAGE", "MD5 digest taken twice");
    this.done = true;
    const rom = this.rom, ctx = this.ctx(), base = E.getAddressOf(rom.stage, true);
    if (!base) throw otaError("MD5_STATE", "MD5 staging buffer lost its flat storage");
    rom.final(base + DIGEST_AT, ctx);
    return copyOf(rom.stage, DIGEST_AT, DIGEST_AT + 16);
  }

  saveState(): Uint8Array {
    this.ctx();
    return copyOf(this.c, this.k, this.k + MD5_STATE_SIZE);
  }
}

function romFactory(rom: Rom, log: (s: string) => void): Md5Factory {
  function make(state: Uint8Array | null): Md5 {
    const buffer = flatBytes(CTX_BUFFER);
    if (buffer) return new RomMd5(rom, buffer, state);
    // States are interchangeable, so running out of contiguous memory only costs speed.
    log("md5: no flat memory for a ROM context, using JS for this hash");
    return state ? jsMd5.restore(state) : jsMd5.create();
  }
  return {
    create: function (): Md5 {
      return make(null);
    },
    restore: function (state: Uint8Array): Md5 {
      md5StateLength(state);
      return make(state);
    },
    backend: "rom",
  };
}

function hashText(f: Md5Factory, text: string): string {
  const m = f.create(), b = bytesFromString(text);
  m.update(b, 0, b.length);
  return toHex(m.digest());
}

function sameBytes(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Returns what went wrong, or "" if the ROM backend behaves exactly like the JS one. */
function selfTest(f: Md5Factory): string {
  if (hashText(f, "") !== "d41d8cd98f00b204e9800998ecf8427e") return "empty input";
  if (hashText(f, "abc") !== "900150983cd24fb0d6963f7d28e17f72") return "abc";
  if (hashText(f, "This is an MD5 test") !== "002e17691724327872f1af429f1ce4d9") return "MD5 test string";
  // 150 bytes: two whole blocks plus a partial one, with save/restore across backends mid-block.
  const data = new Uint8Array(150);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 255;
  const j = jsMd5.create();
  j.update(data, 0, data.length);
  const want = toHex(j.digest());
  const r = f.create();
  r.update(data, 0, data.length);
  if (toHex(r.digest()) !== want) return "multi-block";
  const r2 = f.create(), j2 = jsMd5.create();
  r2.update(data, 0, 70);
  j2.update(data, 0, 70);
  // Chaining words, bit count and the 6 pending bytes must agree; the rest of in[] is history.
  if (!sameBytes(r2.saveState(), j2.saveState(), 24 + 6)) return "state layout";
  const j3 = jsMd5.restore(r2.saveState());
  j3.update(data, 70, 80);
  if (toHex(j3.digest()) !== want) return "ROM state continued in JS";
  j2.update(data, 70, 30);
  const r3 = f.restore(j2.saveState());
  r3.update(data, 100, 50);
  if (toHex(r3.digest()) !== want) return "JS state continued in ROM";
  return "";
}

/**
 * The ROM MD5 backend for `chip`, or null (use the JS backend) when the chip has no known ROM
 * MD5, flat memory is short, or the self-test fails or throws.
 */
export function romMd5(chip: string, log: (s: string) => void): Md5Factory | null {
  const addr = romAddresses(chip);
  if (!addr) {
    log("md5: no ROM MD5 known for " + chip + ", using JS");
    return null;
  }
  try {
    const stage = flatBytes(CHUNK + 16);
    if (!stage) throw otaError("MD5_STATE", "no flat memory for the MD5 staging buffer");
    const rom: Rom = {
      init: E.nativeCall(addr[0], "void(int)"),
      update: E.nativeCall(addr[1], "void(int,int,int)"),
      final: E.nativeCall(addr[2], "void(int,int)"),
      stage: stage,
    };
    const f = romFactory(rom, log);
    const failure = selfTest(f);
    if (failure) {
      log("md5: ROM self-test failed (" + failure + "), using JS");
      return null;
    }
    log("md5: using ROM MD5");
    return f;
  } catch (e) {
    log("md5: ROM MD5 unavailable (" + ((e && (e as Error).message) || String(e)) + "), using JS");
    return null;
  }
}
