// MD5 through the chip's mask ROM (MD5Init / MD5Update / MD5Final, the wpa_supplicant code that
// ESP-IDF's esp_rom_md5_* point at), reached with E.nativeCall. It runs at native speed, where the
// JS backend manages a few KB/s on an ESP32. Nothing here has been proven on every board, so it
// is only used after a self-test against known digests and against the JS backend; any failure
// or exception means the caller keeps the JS backend.
//
// The ROM works on a `struct MD5Context` (88 bytes) in the exact layout the JS backend saves, so
// one journal serves both. Each hash keeps its context as a plain 88-byte array; for each ROM
// call it is copied to a 4-byte aligned spot at the start of one shared flat staging buffer and
// back afterwards (88 bytes per call of up to 4 KB), so no hash needs flat memory of its own.
//
// Memory rules (docs/rom-md5.md#enativecall, #risks): the ROM needs raw addresses, which only flat
// buffers have (E.getAddressOf(x, true) != 0); E.defrag can move flat strings between calls, so
// every address is read again right before each call, after any allocation, and never kept.
// On the board each function costs memory even with its code in flash, so the backend is one
// function (with the self-test inline) and its instances share three methods, all at module
// level: a closure would keep romMd5's scope, self-test included, for as long as the job runs.
//
// Boot-loop guard (docs/rom-md5.md#boot-loop-guard): a wrong address faults the chip instead of
// throwing, and the next boot would make the same call. So the ROM is only called when the
// firmware says it was built for the board file's chip (process.env.BOARD), and a Storage file
// (ota.md5) says either that this firmware already passed the self-test ("rom <BOARD> <VERSION>",
// then nothing is written at boot) or, written and read back before the first call, "probe".
// A boot that finds anything else never calls the ROM again; erasing the file re-enables it.
//
// Staging buffer: [0, 92) the context at its aligned offset k (0..3); [92, 92 + 512) input that
// is not flat itself, and the 16 digest bytes (MD5Final zeroes the context, so the digest lies
// outside it). A flat source is hashed in place, up to 4096 bytes per MD5Update call (well under
// 1 ms of ROM time, keeps the loop responsive); anything else goes through the stage 512 bytes at
// a time. The slot writer reads flash back in 512-byte pieces, so a larger stage would only hold
// ~260 more JsVars (14-byte blocks) for as long as the job is loaded.

import type { Md5, Md5Factory } from "../core/ports";
import { jsMd5 } from "../core/crypto/md5";
import { toHex } from "../core/crypto/hex";
import { otaError } from "../core/errors";

/** The backend (an Md5Factory) with what its hashes share: the staging buffer and the ROM calls. */
interface RomFactory extends Md5Factory {
  s: Uint8Array;
  i: (ctx: number) => number;
  u: (ctx: number, src: number, len: number) => number;
  f: (digest: number, ctx: number) => number;
}

/** One ROM hash: its saved context, whether digest() was taken, and its backend. */
interface RomMd5 extends Md5 {
  c: Uint8Array;
  d: boolean;
  r: RomFactory;
}

// Module level, not closures inside romMd5: a closure would keep romMd5's whole scope (the
// self-test's strings, buffers and hashes) alive for as long as the job is loaded, and each
// costs more JsVars than a function of the module.
const romMd5Methods = {
  update: function (this: RomMd5, data: Uint8Array, offset: number, length: number): void {
    if (this.d) throw otaError("CRYPTO_USAGE", "MD5 updated after digest");
    if (!(offset >= 0 && length >= 0 && offset + length <= data.length)) {
      throw otaError("CRYPTO_USAGE", "MD5 update range outside the data");
    }
    const stage = this.r.s;
    while (length > 0) {
      // The ROM memcpy's its input, so any flat (or memory-mapped) source works in place;
      // anything else is staged first (an allocation, so addresses are read after it).
      let src = E.getAddressOf(data, true);
      const most = src ? 4096 : 512;
      const n = length < most ? length : most;
      if (!src) stage.set(data.subarray(offset, offset + n), 92);
      const base = E.getAddressOf(stage, true);
      if (!base) throw otaError("MD5_STATE", "MD5 staging buffer lost its flat storage");
      const k = ((base + 3) & ~3) - base;
      src = src ? src + offset : base + 92;
      stage.set(this.c, k);
      this.r.u(base + k, src, n);
      this.c.set(stage.subarray(k, k + 88), 0);
      offset += n;
      length -= n;
    }
  },
  digest: function (this: RomMd5): Uint8Array {
    if (this.d) throw otaError("CRYPTO_USAGE", "MD5 digest taken twice");
    this.d = true;
    const stage = this.r.s;
    const base = E.getAddressOf(stage, true);
    if (!base) throw otaError("MD5_STATE", "MD5 staging buffer lost its flat storage");
    const k = ((base + 3) & ~3) - base;
    stage.set(this.c, k);
    this.r.f(base + 92, base + k);
    return new Uint8Array(stage.subarray(92, 108));
  },
  saveState: function (this: RomMd5): Uint8Array {
    return new Uint8Array(this.c);
  },
};

/** create() (a context from MD5Init) and restore(state) (a checked copy of it); `this` is the backend. */
function romMd5Make(this: RomFactory, state?: Uint8Array): Md5 {
  const m = Object.create(romMd5Methods) as RomMd5;
  m.d = false;
  m.r = this;
  if (state !== undefined) {
    jsMd5.restore(state as Uint8Array); // throws MD5_STATE for a state no journal could hold
    m.c = new Uint8Array(state as Uint8Array);
  } else {
    const stage = this.s;
    const base = E.getAddressOf(stage, true);
    if (!base) throw otaError("MD5_STATE", "MD5 staging buffer lost its flat storage");
    const k = ((base + 3) & ~3) - base;
    stage.fill(0, k, k + 88); // in[] starts zeroed, as in the JS backend's fresh state
    this.i(base + k);
    m.c = new Uint8Array(stage.subarray(k, k + 88));
  }
  return m;
}

/**
 * The ROM MD5 backend for `chip`, or null (use the JS backend) when the chip has no known ROM
 * MD5, flat memory is short, or the self-test fails or throws.
 */
export function romMd5(chip: string, log: (s: string) => void): Md5Factory | null {
  // [MD5Init, MD5Update, MD5Final] from esp-idf components/esp_rom/<chip>/ld.
  const addr =
    chip === "esp32" ? [0x4005da7c, 0x4005da9c, 0x4005db1c]
    : chip === "esp32s2" ? [0x4000526c, 0x4000528c, 0x4000530c]
    : chip === "esp32s3" ? [0x40001c5c, 0x40001c68, 0x40001c74]
    : chip === "esp32c3" ? [0x40000614, 0x40000618, 0x4000061c]
    : chip === "esp32c6" ? [0x4000074c, 0x40000750, 0x40000754]
    : null;
  // Espruino's board IDs are the board file names (ESP32, ESP32_IDF4, ESP32C3_IDF4, ESP32S3_IDF4):
  // the part before "_" is the chip. `env` is a fresh object per read: not kept in this scope.
  let env: { BOARD: string; VERSION: string } | null = process.env;
  const id = "rom " + env.BOARD + " " + env.VERSION;
  const built = String(env.BOARD).split("_")[0].toLowerCase();
  env = null;
  const S = require("Storage");
  // Decided before any write: Espruino turns every string that still maps a replaced file into null.
  const mark = S.read("ota.md5");
  const proven = mark === id;
  if (!addr || built !== chip) {
    log("md5: " + (addr ? "firmware built for " + id.split(" ")[1] + " but the board file says " + chip : "no ROM MD5 known for " + chip) + ", using JS");
    return null;
  }
  if (mark !== undefined && !proven && mark.indexOf("rom ") !== 0) {
    log("md5: the ROM MD5 probe of an earlier boot never passed (a crash, a cut or a failed self-test): using JS for good; erase Storage file ota.md5 to try the ROM again");
    return null;
  }
  try {
    // A zeroed buffer backed by one flat string (E.toFlatString defragments and retries).
    const flat = E.toFlatString({ data: 0, count: 92 + 512 });
    const stage = flat === undefined ? null : new Uint8Array(E.toArrayBuffer(flat));
    if (!stage || !E.getAddressOf(stage, true)) throw otaError("MD5_STATE", "no flat memory for the MD5 staging buffer");
    const f: RomFactory = {
      create: romMd5Make,
      restore: romMd5Make,
      backend: "rom",
      s: stage,
      i: E.nativeCall(addr[0], "void(int)"),
      u: E.nativeCall(addr[1], "void(int,int,int)"),
      f: E.nativeCall(addr[2], "void(int,int)"),
    };

    // Not proven for this firmware: the mark must be durable before the first ROM call. Too little
    // room at the end of Storage would make Storage.write compact it (not power-safe): skip instead.
    if (!proven && !(S.getFree() >= 128 && S.write("ota.md5", "probe") && S.read("ota.md5") === "probe")) {
      log("md5: cannot record the ROM MD5 probe in Storage, using JS");
      return null;
    }

    // Self-test: known answers, then (until proven) against the JS backend with save/restore
    // across backends mid-block. `why` names the first check that fails.
    let why = "";
    const known = ["", "d41d8cd98f00b204e9800998ecf8427e", "empty input", "abc", "900150983cd24fb0d6963f7d28e17f72", "abc",
      "This is an MD5 test", "002e17691724327872f1af429f1ce4d9", "MD5 test string"];
    for (let t = 0; t < 9 && !why; t += 3) {
      const text = known[t], b = new Uint8Array(text.length), m = f.create();
      for (let i = 0; i < text.length; i++) b[i] = text.charCodeAt(i);
      m.update(b, 0, b.length);
      if (toHex(m.digest()) !== known[t + 1]) why = known[t + 2];
    }
    if (!why && !proven) {
      // 150 bytes: two whole blocks plus a partial one.
      const data = new Uint8Array(150);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 255;
      const j = jsMd5.create();
      j.update(data, 0, data.length);
      const want = toHex(j.digest());
      const r = f.create();
      r.update(data, 0, data.length);
      if (toHex(r.digest()) !== want) why = "multi-block";
      else {
        const r2 = f.create(), j2 = jsMd5.create();
        r2.update(data, 0, 70);
        j2.update(data, 0, 70);
        // Chaining words, bit count and the 6 pending bytes must agree; the rest of in[] is history.
        const a = r2.saveState(), b = j2.saveState();
        for (let i = 0; i < 24 + 6 && !why; i++) if (a[i] !== b[i]) why = "state layout";
        if (!why) {
          const j3 = jsMd5.restore(a);
          j3.update(data, 70, 80);
          if (toHex(j3.digest()) !== want) why = "ROM state continued in JS";
        }
        if (!why) {
          j2.update(data, 70, 30);
          const r3 = f.restore(j2.saveState());
          r3.update(data, 100, 50);
          if (toHex(r3.digest()) !== want) why = "JS state continued in ROM";
        }
      }
    }
    if (why) {
      log("md5: ROM self-test failed (" + why + "), using JS for good");
      return null;
    }
    if (!proven) S.write("ota.md5", id);
    log("md5: using ROM MD5");
    return f;
  } catch (e) {
    log("md5: ROM MD5 unavailable (" + ((e && (e as Error).message) || String(e)) + "), using JS");
    return null;
  }
}
