// The application's two Storage files (docs/app-ota.md): APP_FILE + "0" and APP_FILE + "1". One
// holds the application that runs; an update is written into the other, whole and verified before
// the journal switches to it, and the old one is erased only once the new one is confirmed.
//
// An application package is its JavaScript text after one header line,
//   "// ota-app <version> <confirm>\n"
// (confirm: "api", the application says E.emit("OTA:healthy") when it works, or "time", it
// works when it runs the board's app.trialMs without an uncaught exception), optionally followed by
// the signature trailer (src/core/sign/verify.ts, kind 1). Espruino runs the text straight from
// Storage, the header being a comment; only the trailer is left out.
//
// appHeader and appInfo live in the formats module (formats.ts), which the job loads for one use;
// appFlash is the job's own: its closures would keep the whole formats module in memory for as
// long as a download writes (measured on the ESP32 format: ~150 JsVars more at the peak).
import type { FlashPort, StoragePort } from "../ports";
import { SIGN_TRAILER } from "../sign/verify";

/** The application files' common name: "ota.app0" and "ota.app1". */
export const APP_FILE = "ota.app";

/**
 * [version, confirm] of a package's header line at the start of `text`, or the reason it is not
 * one. The version is 1..32 printable ASCII bytes without a space, a quote or a backslash, so the
 * resident session can put it in a report_version as it is.
 */
export function appHeader(text: string): [string, string] | string {
  const end = text.indexOf("\n");
  const p = (end < 0 ? "" : text.substring(0, end)).split(" ");
  if (p.length !== 4 || p[0] !== "//" || p[1] !== "ota-app") return "not an application package (no \"// ota-app <version> <confirm>\" first line)";
  const v = p[2];
  let ok = v.length > 0 && v.length <= 32;
  for (let i = 0; ok && i < v.length; i++) {
    const c = v.charCodeAt(i);
    ok = c > 32 && c < 127 && c !== 34 && c !== 92;
  }
  if (!ok) return "application package with a bad version";
  if (p[3] !== "api" && p[3] !== "time") return "application package with an unknown confirm mode " + p[3];
  return [v, p[3]];
}

/**
 * What runs of app file `n`: [version, confirm, length of the text to run], or null when the file
 * is absent or not a package. The text stops before a signature trailer.
 */
export function appInfo(storage: StoragePort, n: number): [string, string, number] | null {
  const f = APP_FILE + n;
  const head = storage.read(f, 0, 80);
  if (head === undefined) return null;
  const h = appHeader(head);
  if (typeof h === "string") return null;
  const all = storage.read(f);
  let length = all!.length;
  if (length >= SIGN_TRAILER && all!.substr(length - SIGN_TRAILER, 4) === "ESIG") length -= SIGN_TRAILER;
  return [h[0], h[1], length];
}

/**
 * The flash port the slot writer (slot-writer.ts) writes a package through, with offset 0 the
 * start of app file `n` of `size` bytes. The file is created by the first write at offset 0 (after
 * eraseSector(0) dropped any older file of that name); later sector erases are no-ops, as every
 * byte of a new file is still erased. A write over bytes already there (a resume after a power
 * cut programs again what followed the journaled point) keeps the bytes that equal the new ones
 * and writes the rest where still erased; anything else stays as it is, and the read-back makes
 * the MD5 check fail.
 */
export function appFlash(storage: StoragePort, n: number, size: number): FlashPort {
  const f = APP_FILE + n;
  return {
    read: (at: number, length: number): Uint8Array => {
      const s = storage.read(f, at, length) || "";
      const b = new Uint8Array(s.length);
      for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
      return b;
    },
    write: (at: number, data: Uint8Array): void => {
      // the slot writer pads its last write to 4 bytes; the file ends at `size`
      let d = at + data.length > size ? data.subarray(0, size - at) : data;
      if (!at) {
        storage.write(f, d, 0, size);
        return;
      }
      try {
        storage.write(f, d, at);
      } catch (e) {
        const old = storage.read(f, at, d.length) || "";
        let k = 0;
        while (k < d.length && old.charCodeAt(k) === d[k]) k++;
        let erased = true;
        for (let i = k; i < d.length; i++) if (old.charCodeAt(i) !== 255) erased = false;
        d = d.subarray(k);
        if (d.length && erased) storage.write(f, d, at + k);
      }
    },
    eraseSector: (at: number): void => {
      if (!at && storage.read(f, 0, 1) !== undefined) storage.erase(f);
    },
  };
}
