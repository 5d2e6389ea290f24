// Ambient declarations for what Espruino 2v29 provides beyond the ES5 library.
// Only src/espruino may use the globals declared here; src/core sees the platform
// through src/core/ports.ts (a boundary test greps for violations).
// Keep this list in step with src/host/gate/espruino-globals.json.

interface Array<T> {
  find(predicate: (value: T, index: number) => boolean): T | undefined;
  findIndex(predicate: (value: T, index: number) => boolean): number;
  includes(value: T): boolean;
  fill(value: T, start?: number, end?: number): this;
}
interface String {
  padStart(length: number, fill?: string): string;
  padEnd(length: number, fill?: string): string;
  startsWith(s: string): boolean;
  endsWith(s: string): boolean;
  includes(s: string): boolean;
  repeat(n: number): string;
}
interface ObjectConstructor {
  assign<T extends object, U>(target: T, source: U): T & U;
}

/** Arguments after `ms` are passed to `fn` (Espruino and Node alike). */
declare function setTimeout<A extends unknown[]>(fn: (...args: A) => void, ms: number, ...args: A): number;
/** Code given as a string runs at the interpreter's top level when the timer fires (src/jsinteractive.c). */
declare function setTimeout(code: string, ms: number): number;

declare function setInterval(fn: () => void, ms: number): number;
declare function clearTimeout(id: number): void;
declare function clearInterval(id: number): void;
/** Seconds since boot (float). */
declare function getTime(): number;
declare function print(...args: unknown[]): void;
declare var console: { log(...args: unknown[]): void };
declare function btoa(s: string): string;
declare function atob(s: string): string;

interface EspruinoNativeFunction { (...args: number[]): number }
declare var E: {
  toUint8Array(s: string | ArrayBuffer | Uint8Array): Uint8Array;
  toString(u8: Uint8Array | ArrayBuffer): string;
  toArrayBuffer(s: string): ArrayBuffer;
  toFlatString(s: string | { data: number; count: number }): string | undefined;
  CRC32(data: string | Uint8Array): number;
  getAddressOf(v: unknown, flatData: boolean): number;
  nativeCall(addr: number, signature: string): EspruinoNativeFunction;
  reboot(): void;
  kickWatchdog(): void;
  enableWatchdog(seconds: number, isAuto?: boolean): void;
  getErrorFlags(): string[] | undefined;
  /** Object.prototype.on/emit: every Espruino object is an event emitter. */
  on(event: string, fn: (data: unknown) => void): void;
  emit(event: string, data: unknown): void;
};
declare var ESP32: {
  reboot(): void;
  setOTAValid(valid: boolean): void;
  getState(): { freeHeap: number; minHeap: number };
};
declare var process: {
  /** "uncaughtException" listeners take exceptions nothing caught (src/jsinteractive.c jsiCheckErrors). */
  on(event: "uncaughtException", fn: (e: unknown) => void): void;
  removeListener(event: "uncaughtException", fn: (e: unknown) => void): void;
  memory(gc?: boolean): { free: number; usage: number; total: number; blocksize: number };
  env: { VERSION: string; BOARD: string };
};

interface EspruinoFlash {
  read(length: number, addr: number): Uint8Array;
  write(data: Uint8Array | string, addr: number): void;
  erasePage(addr: number): void;
}
interface EspruinoSocket {
  on(event: "data", cb: (data: string) => void): void;
  on(event: "close", cb: (hadError?: boolean) => void): void;
  on(event: "error", cb: (err: { code: number; message: string }) => void): void;
  on(event: "drain" | "end" | "connect", cb: () => void): void;
  write(data: string): boolean;
  end(data?: string): void;
}
interface EspruinoNet {
  connect(opts: { host: string; port: number }, onConnect: (socket: EspruinoSocket) => void): EspruinoSocket;
}
interface EspruinoCrypto {
  SHA256(msg: string | Uint8Array | ArrayBuffer): ArrayBuffer;
}
interface EspruinoWifi {
  connect(ssid: string, opts: { password?: string }, cb: (err: unknown) => void): void;
}
interface EspruinoStorage {
  /** The file's contents from `offset` (memory-mapped on an ESP32: no RAM), or undefined when missing. */
  read(name: string, offset?: number, length?: number): string;
  /** Parsed JSON of a Storage file; with noExceptions, undefined when missing or unparsable. */
  readJSON(name: string, noExceptions: boolean): any;
  /** Creates or replaces a file: header, then data, each a plain flash write (not atomic). With an offset, writes into erased bytes of an existing file. */
  write(name: string, data: string | Uint8Array, offset?: number, size?: number): boolean;
  /** Marks the file deleted (one word written); its space is reclaimed only by a compaction. */
  erase(name: string): void;
  /** Bytes free after the last file: a file of up to this size is written without a compaction. */
  getFree(): number;
}
declare function require(name: "Flash"): EspruinoFlash;
declare function require(name: "Storage"): EspruinoStorage;
declare function require(name: "net"): EspruinoNet;
declare function require(name: "tls"): EspruinoNet;
declare function require(name: "crypto"): EspruinoCrypto;
declare function require(name: "Wifi"): EspruinoWifi;
/** The agent's job: a Storage file that require() evaluates as a module (its exports is the job function). */
declare function require(name: "ota.fmt"): import("../core/agent/formats").Formats;
declare function require(name: "ota.job"): (link: import("../core/agent/session").Link) => import("../core/agent/session").Job;
/** require()'s cache of loaded modules (src/jswrap_modules.c). */
declare var Modules: { removeCached(id: string): void };

// Board features fixed at build time (rollup.config.js buildFlags): each becomes a literal
// true or false, so the code a board does not use is not in its bundle.
declare const __IMAGE_SHA256__: boolean;
declare const __MD5_ROM__: boolean;
declare const __APP__: boolean;

// The board file the bundle is built for, compiled in by rollup.config.js.
declare module "board-config" {
  type Board = import("../core/board").BoardConfig;
  // The default object leaves out what the device reads otherwise (rollup.config.js boardConfig):
  // flash.base (flash_base), trial.maxHoldMs (trial_maxHoldMs), image.verifySha256 (__IMAGE_SHA256__).
  const board: Board;
  export default board;
  // Each top-level field is also a named export, so a bundle that needs one field does not
  // carry (and allocate at load) the whole board object.
  export const mqtt: Board["mqtt"];
  export const sign: Board["sign"];
  export const trial: Board["trial"];
  // And each field of a nested object as <field>_<key>: a bundle that reads one number of an
  // object then holds the number, not the object.
  export const sign_required: Board["sign"]["required"];
  export const trial_maxHoldMs: Board["trial"]["maxHoldMs"];
  export const flash_base: Board["flash"]["base"];
}
