// The E, ESP32 and process objects of Espruino 2v29 on an ESP32, limited to what an agent uses.

import { randomInt } from "node:crypto";
import { bytesToBinary, collectBytes, crc32, dataToBytes } from "./bytes";
import type { DramAddressSpace } from "./address-space";
import type { RomFunctionFactory } from "./rom-types";
import type { Session } from "./session";
import { ESPRUINO_VERSION } from "./socket-common";

export interface SystemServices {
  session: Session;
  dram: DramAddressSpace;
  romFunction: RomFunctionFactory;
  /** Restart as esp_restart() would (the current boot is over at once). */
  reboot(reason: string): void;
  /** A crash: Guru Meditation and reset. */
  crash(reason: string): void;
  setOtaValid(valid: boolean): void;
  enableWatchdog(seconds: number, automatic: boolean): void;
  kickWatchdog(): void;
  /** Returns and clears the pending error flags. */
  takeErrorFlags(): string[];
  memory(): { total: number; usage: number };
  freeHeap(): number;
}

const SIGNATURE = /^\s*(void|bool|int|int32|float|double|JsVar)\s*\(\s*((?:(?:bool|int|int32|float|double|JsVar)\s*,\s*)*(?:bool|int|int32|float|double|JsVar))?\s*\)\s*$/;

export function createE(sys: SystemServices): Record<string, unknown> {
  const { session, dram } = sys;
  const api = session.api;
  const E = api.object();
  const u8 = (bytes: Uint8Array): Uint8Array => {
    const out = api.uint8(bytes.length);
    out.set(bytes);
    return out;
  };
  const binary = (args: ArrayLike<unknown>): string =>
    args.length === 1 && typeof args[0] === "string" ? args[0] : bytesToBinary(collectBytes(Array.from(args)));

  E.toUint8Array = api.bridge((...args: unknown[]) => u8(collectBytes(args)), "toUint8Array");
  E.toString = api.bridge((...args: unknown[]) => binary(args), "toString");
  E.toFlatString = api.bridge((...args: unknown[]) => binary(args), "toFlatString");
  E.toArrayBuffer = api.bridge((s: unknown) => {
    const bytes = dataToBytes(s);
    const out = api.arrayBuffer(bytes.length);
    new Uint8Array(out).set(bytes);
    return out;
  }, "toArrayBuffer");
  E.CRC32 = api.bridge((data: unknown) => {
    if (data === undefined || data === null || typeof data === "number" || typeof data === "boolean") return undefined;
    return crc32(dataToBytes(data));
  }, "CRC32");
  E.getAddressOf = api.bridge((v: unknown, _flatData?: unknown) => dram.addressOf(v), "getAddressOf");
  E.nativeCall = api.bridge((addr: unknown, signature: unknown) => {
    const sig = String(signature);
    const m = SIGNATURE.exec(sig);
    if (!m) throw api.error("Invalid native function signature " + JSON.stringify(sig));
    const address = Number(addr) >>> 0;
    const impl = sys.romFunction(address, sig, dram);
    const returns = m[1];
    return api.bridge((...args: unknown[]) => {
      session.assertAlive();
      if (!impl) {
        sys.crash("Guru Meditation Error: call to 0x" + address.toString(16) + " (" + sig + ") which the ROM model does not know");
        throw api.error("device crashed");
      }
      let result: number;
      try {
        result = impl(...args.map((a) => Number(a) >>> 0));
      } catch (e) {
        sys.crash("Guru Meditation Error: 0x" + address.toString(16) + ": " + (e instanceof Error ? e.message : String(e)));
        throw api.error("device crashed");
      }
      if (returns === "void") return undefined;
      if (returns === "bool") return !!result;
      if (returns === "int" || returns === "int32") return result | 0;
      return result;
    }, "native");
  }, "nativeCall");
  E.reboot = api.bridge(() => {
    // jswrap_espruino_reboot runs the 'kill' handlers before esp_restart().
    api.dispatch(E, "kill", []);
    sys.reboot("E.reboot()");
  }, "reboot");
  E.kickWatchdog = api.bridge(() => sys.kickWatchdog(), "kickWatchdog");
  E.enableWatchdog = api.bridge((seconds: unknown, isAuto?: unknown) => {
    sys.enableWatchdog(Number(seconds), isAuto === undefined || !!isAuto);
  }, "enableWatchdog");
  E.getErrorFlags = api.bridge(() => api.array(sys.takeErrorFlags()), "getErrorFlags");
  E.hwRand = api.bridge(() => randomInt(0, 0x100000000) | 0, "hwRand");
  return E;
}

export function createESP32(sys: SystemServices): Record<string, unknown> {
  const api = sys.session.api;
  const ESP32 = api.object();
  ESP32.reboot = api.bridge(() => sys.reboot("ESP32.reboot()"), "reboot");
  ESP32.setOTAValid = api.bridge((valid: unknown) => sys.setOtaValid(!!valid), "setOTAValid");
  ESP32.getState = api.bridge(() => {
    const s = api.object();
    s.sdkVersion = "v3.3.6";
    s.freeHeap = sys.freeHeap();
    s.BLE = false;
    s.Wifi = true;
    s.minHeap = Math.min(sys.freeHeap(), 24000);
    return s;
  }, "getState");
  return ESP32;
}

export function createProcess(sys: SystemServices): Record<string, unknown> {
  const api = sys.session.api;
  const proc = api.object();
  proc.version = ESPRUINO_VERSION;
  const env = api.object();
  env.VERSION = ESPRUINO_VERSION;
  env.BOARD = "ESP32";
  env.MODULES = "Flash,Storage,heatshrink,fs,net,dgram,http,NetworkJS,Wifi,ESP32,TelnetServer,crypto,tls,neopixel";
  env.CONSOLE = "Serial1";
  proc.env = env;
  proc.memory = api.bridge(() => {
    const m = sys.memory();
    const o = api.object();
    o.free = m.total - m.usage;
    o.usage = m.usage;
    o.total = m.total;
    o.history = 0;
    o.gc = 0;
    o.gctime = 0.5;
    o.blocksize = 14;
    return o;
  }, "memory");
  return proc;
}
