// require("Flash") on an ESP32 (src/jswrap_flash.c over targets/esp32/jshardware.c), backed by
// the NorFlash model. Addresses are what the bundle sees: chip offset + the board's flash base.
// A PowerCutError from the chip kills the device on the spot (see Device.dieFromPowerCut).

import { dataToBytes } from "./bytes";
import { NorFlash, PowerCutError, SECTOR_SIZE } from "./nor-flash";
import type { Session } from "./session";

export interface FlashEnv {
  session: Session;
  flash: NorFlash;
  base: number;
  /** Called when the chip lost power in the middle of an operation. */
  powerCut(reason: string): void;
}

function hex(n: number): string {
  return "0x" + (n >>> 0).toString(16);
}

export function createFlashModule(env: FlashEnv): Record<string, unknown> {
  const { session, flash, base } = env;
  const api = session.api;

  const offsetOf = (addr: unknown, length: number, what: string): number => {
    const a = Number(addr);
    const off = a - base;
    if (!Number.isInteger(a) || off < 0 || off + length > flash.size) {
      throw api.error("Flash." + what + ": address " + (Number.isFinite(a) ? hex(a) : String(addr)) + " (+" + length + ") is outside the flash chip");
    }
    return off;
  };
  /** Runs a chip operation; chip errors become context errors, a power cut kills the device. */
  const onChip = <T>(op: () => T): T => {
    session.assertAlive();
    try {
      return op();
    } catch (e) {
      if (e instanceof PowerCutError) {
        env.powerCut(e.message);
        throw api.error("power cut");
      }
      throw api.error(e instanceof Error ? e.message : String(e));
    }
  };

  const mod = api.object();
  mod.read = api.bridge((length: unknown, addr: unknown) => {
    const n = Number(length) | 0;
    if (n <= 0) return undefined;
    const off = offsetOf(addr, n, "read");
    const bytes = onChip(() => flash.read(off, n));
    const out = api.uint8(n);
    out.set(bytes);
    return out;
  }, "read");
  mod.write = api.bridge((data: unknown, addr: unknown) => {
    if (data === undefined) throw api.error("Data is not defined");
    const bytes = dataToBytes(data);
    if (bytes.length === 0) return;
    const off = offsetOf(addr, bytes.length, "write");
    onChip(() => flash.write(off, bytes));
  }, "write");
  mod.erasePage = api.bridge((addr: unknown) => {
    if (typeof addr !== "number" || !Number.isInteger(addr)) {
      throw api.error("Address should be an integer, got " + typeof addr);
    }
    const off = offsetOf(addr, 1, "erasePage");
    onChip(() => flash.erase(off - (off % SECTOR_SIZE)));
  }, "erasePage");
  mod.getPage = api.bridge((addr: unknown) => {
    const a = Number(addr);
    const off = a - base;
    if (!Number.isInteger(a) || off < 0 || off >= flash.size) return undefined;
    const page = api.object();
    page.addr = base + off - (off % SECTOR_SIZE);
    page.length = SECTOR_SIZE;
    return page;
  }, "getPage");
  // The list the ESP32 build reports; its last entry has overlapped Storage since 2v26 (never use it).
  mod.getFree = api.bridge(() => {
    const areas: Array<[number, number]> = [
      [0xe000, 0x2000],
      [0x310000, 0x10000],
      [0x360000, 0xa0000],
    ];
    return api.array(
      areas.map(([addr, length]) => {
        const o = api.object();
        o.addr = base + addr;
        o.length = length;
        return o;
      }),
    );
  }, "getFree");
  return mod;
}
