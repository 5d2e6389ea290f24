// A simulated ESP32 running Espruino 2v29: it runs the very bundle that is uploaded to a board,
// in a V8 context trimmed to what Espruino offers, over a strict NOR flash model and a virtual
// network of real local servers.
//
// Lifecycle: boot() creates a fresh context (RAM) over the same flash and runs the bundle;
// E.reboot()/ESP32.reboot() end the boot and boot again shortly after; powerCut() (or a power
// cut scheduled on the NorFlash) kills it on the spot and it stays off until boot() is called
// again. Every callback into a context is guarded by its boot's "alive" token, so nothing of an
// old boot runs after it ended. Uncaught exceptions are logged ("Uncaught ...") and the event
// loop keeps going, as on Espruino (a rejected promise nobody handles counts as one: the context's
// Promise is Espruino's, see prelude.ts). stop() releases everything.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DramAddressSpace } from "./address-space";
import { createCryptoModule } from "./crypto-module";
import { createE, createESP32, createProcess, type SystemServices } from "./espruino-e";
import { createFlashModule } from "./flash-module";
import { formatPrintArgs } from "./format";
import { createHttpModule } from "./http";
import { createNetModule } from "./net";
import type { NorFlash } from "./nor-flash";
import type { PreludeApi } from "./prelude";
import type { RomFunctionFactory } from "./rom-types";
import { Session } from "./session";
import type { NetEnv } from "./socket-common";
import { binaryToBytes, bytesToBinary } from "./bytes";
import { createStorageModule, StorageModel } from "./storage-module";
import { EspruinoTimers } from "./timers";
import { VirtualNetwork } from "./virtual-network";
import { createWifiModule, type WifiOptions } from "./wifi-module";

export type GateFunction = (code: string, filename: string, options?: { module?: boolean }) => void;

/** Storage files Espruino runs at boot, in this order (jsfLoadBootCodeFromFlash). */
export const BOOT_FILES = [".boot0", ".boot1", ".boot2", ".boot3", ".bootcde"];

export interface DeviceOptions {
  /** Code (plain JS) installed as Storage's `.bootcde` at power on, like a saved program. */
  bundle?: string;
  /** Storage files at power on (binary strings), e.g. the agent's `.boot0` and its provisioning file. */
  files?: Record<string, string>;
  /** Size of the Storage area in bytes (default STORAGE_BYTES, see storage-module.ts). */
  storageBytes?: number;
  flash: NorFlash;
  /** Address at which the Flash module sees chip offset 0 (0 on an ESP32). */
  flashBase?: number;
  network?: VirtualNetwork;
  /** Bundle checker (src/host/gate/check-bundle.ts assertBundle); runs on every bundle before it runs. */
  gate?: GateFunction;
  /** ESP32 ROM model for E.nativeCall; defaults to ./rom-model when that module exists. */
  romFunction?: RomFunctionFactory;
  onLog?: (line: string) => void;
  /** Also write the device log to stderr (debugging). */
  echo?: boolean;
  /** Runs at every boot before the boot files (e.g. the bootloader model picking a slot). */
  onBoot?: (device: Device) => void;
  /**
   * Called for every ESP32.setOTAValid(). After setOTAValid(false) the board reboots
   * (esp_ota_mark_app_invalid_rollback_and_reboot) unless this returns false, which stands for
   * IDF refusing (e.g. the running app is the factory app) and returning without a reboot.
   */
  onSetOTAValid?: (valid: boolean, device: Device) => boolean | void;
  /** Time between esp_restart() and the next boot. */
  rebootDelayMs?: number;
  wifi?: WifiOptions;
  /** When true, sockets fail ("Unable to locate host") until Wifi.connect succeeded in this boot. */
  wifiRequired?: boolean;
  /** When true, getTime() is Unix time from power-on; otherwise it counts from 0 until setTime/Wifi.setSNTP. */
  clockKnownAtBoot?: boolean;
  /** Wall clock in ms (default Date.now). */
  now?: () => number;
}

type DeviceState = "off" | "running" | "rebooting" | "stopped";

async function loadDefaultRomModel(): Promise<RomFunctionFactory | undefined> {
  const here = dirname(fileURLToPath(import.meta.url));
  if (!existsSync(join(here, "rom-model.ts")) && !existsSync(join(here, "rom-model.js"))) return undefined;
  const specifier = "./rom-model";
  const mod = (await import(specifier)) as { romFunction?: RomFunctionFactory };
  return mod.romFunction;
}
const defaultRomFunction = await loadDefaultRomModel();

export class Device {
  readonly flash: NorFlash;
  readonly network: VirtualNetwork;
  readonly flashBase: number;
  boots = 0;
  readonly log: string[] = [];
  readonly uncaught: string[] = [];
  readonly otaValidCalls: boolean[] = [];
  /** Things that work here but would misbehave on a real board (8-bit strings, HTTP framing...). */
  readonly violations: string[] = [];
  /** Runtime events: boots, reboots and why, power cuts, crashes. */
  readonly events: string[] = [];
  /**
   * Storage: its files (a Map, in flash order), trash and compactions. They live outside the
   * NorFlash image, but Storage's writes and erases are operations of `flash` (power cuts
   * included), see storage-module.ts.
   */
  readonly storage: StorageModel;
  /** What process.memory() reports, in 14-byte blocks. */
  memory = { total: 9000, usage: 2200 };
  /** What ESP32.getState().freeHeap reports. */
  freeHeap = 60000;
  onLog?: (line: string) => void;

  private readonly gated = new Set<string>();
  private state: DeviceState = "off";
  private session: Session | null = null;
  private rebootTimer: NodeJS.Timeout | null = null;
  private coldStart = true;
  private powerOnAt = 0;
  private wallOffsetMs: number | null = null;
  private errorFlags: string[] = [];
  private wifiUp = false;
  private watchdogCancel: (() => void) | null = null;
  private watchdogMs = 0;
  private readonly romFunction: RomFunctionFactory;
  private readonly now: () => number;

  constructor(private readonly opts: DeviceOptions) {
    this.flash = opts.flash;
    this.network = opts.network ?? new VirtualNetwork();
    this.flashBase = opts.flashBase ?? 0;
    this.onLog = opts.onLog;
    this.now = opts.now ?? Date.now;
    this.romFunction = opts.romFunction ?? defaultRomFunction ?? (() => undefined);
    this.storage = new StorageModel(opts.storageBytes);
    this.storage.onCompact = () => this.events.push("storage compacted (not power-safe)");
    if (opts.bundle !== undefined) this.storage.set(".bootcde", binaryToBytes(opts.bundle));
    for (const [name, data] of Object.entries(opts.files ?? {})) this.storage.set(name, binaryToBytes(data));
    for (const name of BOOT_FILES) {
      const f = this.storage.get(name);
      if (f) this.gateOnce(bytesToBinary(f), name);
    }
  }

  /** Storage compactions so far (each also an event): not power-safe on a board, so code should cause none. */
  get storageCompactions(): number {
    return this.storage.compactions;
  }

  get running(): boolean {
    return this.state === "running";
  }

  get status(): DeviceState {
    return this.state;
  }

  /** Writes a Storage file that later boots see (e.g. a new boot file). */
  setFile(name: string, data: string): void {
    if (BOOT_FILES.includes(name)) this.gateOnce(data, name);
    this.storage.set(name, binaryToBytes(data));
  }

  /** Powers up (or resets) the device: a fresh context over the same flash runs the bundle. */
  boot(): void {
    if (this.state === "stopped") throw new Error("device was stopped");
    if (this.flash.poweredOff) throw new Error("flash is powered off: call flash.powerOn() before boot()");
    this.endSession();
    this.clearRebootTimer();
    if (this.coldStart) {
      this.coldStart = false;
      this.powerOnAt = performance.now();
      this.wallOffsetMs = this.opts.clockKnownAtBoot ? 0 : null;
    }
    this.boots++;
    this.events.push("boot " + this.boots);
    this.errorFlags = [];
    this.wifiUp = !this.opts.wifiRequired;
    const session = this.createSession();
    this.state = "running";

    this.opts.onBoot?.(this);
    if (!session.alive) return; // onBoot may have cut the power already
    // Each boot file runs on its own: an uncaught error in one is reported and the next runs.
    for (const name of BOOT_FILES) {
      const f = this.storage.get(name);
      if (!f) continue;
      const code = bytesToBinary(f);
      this.gateOnce(code, name);
      session.run(() => {
        session.evaluate(code, name);
      });
      if (!session.alive) return;
    }
    // Boot code done: E.on('init') handlers, then onInit() (jsiOnInit order).
    session.run(() => {
      const E = session.evaluate("E", "init") as object;
      session.api.dispatch(E, "init", []);
      const onInit = session.evaluate("typeof onInit === 'function' ? onInit : undefined", "init");
      if (typeof onInit === "function") Reflect.apply(onInit, undefined, []);
    });
  }

  /** A reset (like the EN button): the current boot ends and a new one starts now. */
  reset(): void {
    this.boot();
  }

  /** Cuts the power now: no callback of the running boot runs afterwards; boot() powers up again. */
  powerCut(): void {
    if (this.state === "stopped") return;
    this.events.push("power cut (device.powerCut)");
    this.goDark();
  }

  /** Ends everything (timers, sockets, pending reboot); the device cannot boot again. */
  stop(): void {
    this.endSession();
    this.clearRebootTimer();
    this.state = "stopped";

  }

  /** Evaluates code in the running context (for tests and tools). */
  evaluate(code: string): unknown {
    if (!this.session || !this.session.alive) throw new Error("device is not running");
    return this.session.evaluate(code, "evaluate");
  }

  /** Sets one of E.getErrorFlags()'s flags (LOW_MEMORY, BUFFER_FULL, ...) and fires E 'errorFlag'. */
  raiseErrorFlag(flag: string): void {
    if (!this.errorFlags.includes(flag)) this.errorFlags.push(flag);
    const session = this.session;
    if (session?.alive) {
      session.soon(() => {
        const E = session.evaluate("E", "errorFlag") as object;
        session.api.dispatch(E, "errorFlag", [session.api.array(this.errorFlags)]);
      });
    }
  }

  // ---------------------------------------------------------------------------------------------

  private gateOnce(code: string, filename: string, module = false): void {
    if (!this.opts.gate || this.gated.has(code)) return;
    this.opts.gate(code, filename, { module: module });
    this.gated.add(code);
  }

  private emitLog(line: string): void {
    this.log.push(line);
    if (this.opts.echo) process.stderr.write("[device] " + line + "\n");
    this.onLog?.(line);
  }

  private reportUncaught(text: string, stack: string | undefined): void {
    const line = "Uncaught " + text;
    this.uncaught.push(line);
    this.emitLog(line);
    if (stack) {
      // Only frames in bundle code, like Espruino's " at line N col M" lines.
      const frames = stack
        .split("\n")
        .filter((l) => l.trimStart().startsWith("at ") && !l.includes("/host/runtime/") && !l.includes("node:"))
        .slice(0, 3);
      for (const f of frames) this.emitLog("    " + f.trim());
    }
  }

  private onUncaught(e: unknown, api: PreludeApi): void {
    const session = this.session;
    if (session?.alive) {
      const proc = session.evaluate("process", "uncaught") as object;
      if (api.listenerCount(proc, "uncaughtException") > 0) {
        api.dispatch(proc, "uncaughtException", [e]);
        return;
      }
    }
    const stack = e && typeof e === "object" && typeof (e as { stack?: unknown }).stack === "string" ? (e as { stack: string }).stack : undefined;
    this.reportUncaught(api.describe(e), stack);
  }

  private getTimeSeconds(): number {
    if (this.wallOffsetMs === null) return (performance.now() - this.powerOnAt) / 1000;
    return (this.now() + this.wallOffsetMs) / 1000;
  }

  private endSession(): void {
    if (this.session) this.session.kill();
    this.watchdogCancel = null;
    this.watchdogMs = 0;
  }

  private clearRebootTimer(): void {
    if (this.rebootTimer) clearTimeout(this.rebootTimer);
    this.rebootTimer = null;
  }

  /** Power is gone: the boot dies, RAM and the clock are lost, flash stays. */
  private goDark(): void {
    this.endSession();
    this.clearRebootTimer();
    this.state = "off";
    this.coldStart = true;
  }

  private requestReboot(reason: string): void {
    if (this.state !== "running") return;
    this.events.push("reboot: " + reason);
    this.endSession();
    this.state = "rebooting";
    this.rebootTimer = setTimeout(() => {
      this.rebootTimer = null;
      if (this.state !== "rebooting") return;
      if (this.flash.poweredOff) {
        this.state = "off";
        return;
      }
      this.boot();
    }, this.opts.rebootDelayMs ?? 5);
  }

  private crash(reason: string): void {
    this.emitLog(reason);
    this.requestReboot("crash: " + reason);
  }

  private createSession(): Session {
    const session = new Session({
      uncaught: (e, api) => this.onUncaught(e, api),
      listenerAdded: (target, event) => {
        if (event === "data") dataKicks.get(target)?.();
      },
      powered: () => !this.flash.poweredOff,
      powerLost: () => {
        this.events.push("power cut: flash lost power");
        this.goDark();
      },
    });
    this.session = session;
    const dataKicks = new WeakMap<object, () => void>();
    const api = session.api;
    const ctx = session.context as Record<string, unknown>;

    const dram = new DramAddressSpace();
    const sys: SystemServices = {
      session,
      dram,
      romFunction: this.romFunction,
      reboot: (reason) => this.requestReboot(reason),
      crash: (reason) => this.crash(reason),
      setOtaValid: (valid) => {
        session.assertAlive();
        this.otaValidCalls.push(valid);
        const accepted = this.opts.onSetOTAValid?.(valid, this);
        // esp_ota_mark_app_invalid_rollback_and_reboot()
        if (!valid && accepted !== false) this.requestReboot("ESP32.setOTAValid(false)");
      },
      enableWatchdog: (seconds, automatic) => this.enableWatchdog(session, seconds, automatic),
      kickWatchdog: () => this.kickWatchdog(session),
      takeErrorFlags: () => this.errorFlags.splice(0),
      memory: () => this.memory,
      freeHeap: () => this.freeHeap,
    };
    const netEnv: NetEnv = {
      session,
      network: this.network,
      violation: (m) => this.violations.push(m),
      checkNetworkUp: () => {
        if (!this.wifiUp) throw api.internalError("Unable to locate host");
      },
      onDataListener: (target, kick) => dataKicks.set(target, kick),
    };

    const modules: Record<string, () => unknown> = {
      Flash: () =>
        createFlashModule({
          session,
          flash: this.flash,
          base: this.flashBase,
          powerCut: (reason) => {
            this.events.push("power cut: " + reason);
            this.goDark();
          },
        }),
      net: () => createNetModule(netEnv, false),
      tls: () => createNetModule(netEnv, true),
      http: () => createHttpModule(netEnv),
      crypto: () => createCryptoModule(session),
      Storage: () =>
        createStorageModule({
          session,
          area: this.storage,
          flash: this.flash,
          powerCut: (reason) => {
            this.events.push("power cut: " + reason);
            this.goDark();
          },
          violation: (m) => this.violations.push(m),
        }),
      Wifi: () =>
        createWifiModule({
          session,
          options: this.opts.wifi ?? {},
          isUp: () => this.wifiUp,
          setUp: (up) => (this.wifiUp = up),
          syncClock: () => {
            if (this.wallOffsetMs === null) this.wallOffsetMs = 0;
          },
        }),
    };
    const loaded = new Map<string, unknown>();
    // A Storage file as require() runs it (jspEvaluateModule): one scope of its own holding
    // `module` and `exports`, its value module.exports.
    const storageModule = (name: string, code: string): unknown => {
      this.gateOnce(code, name, true);
      const run = session.evaluate("(function (module, exports) {" + code + "\n})", name) as (m: unknown, e: unknown) => void;
      const m = session.evaluate("({ exports: {} })", name) as { exports: unknown };
      run(m, m.exports);
      return m.exports;
    };
    const E = createE(sys);
    const ESP32 = createESP32(sys);
    const proc = createProcess(sys);

    const timers = new EspruinoTimers(session);
    const print = (...args: unknown[]) => {
      if (session.alive) this.emitLog(formatPrintArgs(args));
    };
    const consoleObj = api.object();
    // require()'s cache (jswrap_modules.c): what a program may drop to free a module it loaded.
    const modulesObj = api.object();
    modulesObj.removeCached = api.bridge((id: unknown) => {
      if (typeof id !== "string") throw api.error("First argument must be String");
      if (!loaded.delete(id)) throw api.error("Module " + id + " not found");
    }, "removeCached");
    for (const name of ["log", "error", "warn", "info", "debug"]) consoleObj[name] = api.bridge(print, name);

    const globals: Record<string, unknown> = {
      print: api.bridge(print, "print"),
      console: consoleObj,
      setTimeout: api.bridge((fn: unknown, ms?: unknown, ...args: unknown[]) => timers.add(fn, ms, args, false), "setTimeout"),
      setInterval: api.bridge((fn: unknown, ms?: unknown, ...args: unknown[]) => timers.add(fn, ms, args, true), "setInterval"),
      clearTimeout: api.bridge((...args: unknown[]) => timers.clear(args, "Timeout"), "clearTimeout"),
      clearInterval: api.bridge((...args: unknown[]) => timers.clear(args, "Interval"), "clearInterval"),
      changeInterval: api.bridge((id: unknown, ms: unknown) => timers.change(id, ms), "changeInterval"),
      getTime: api.bridge(() => this.getTimeSeconds(), "getTime"),
      setTime: api.bridge((t: unknown) => {
        this.wallOffsetMs = Number(t) * 1000 - this.now();
      }, "setTime"),
      btoa: api.bridge((s: unknown) => Buffer.from(String(s), "latin1").toString("base64"), "btoa"),
      atob: api.bridge((s: unknown) => Buffer.from(String(s), "base64").toString("latin1"), "atob"),
      require: api.bridge((name: unknown) => {
        const n = String(name);
        if (n === "ESP32") return ESP32;
        if (!loaded.has(n)) {
          const make = modules[n];
          const file = make ? undefined : this.storage.get(n);
          if (!make && !file) throw api.error('Module "' + n + '" not found');
          loaded.set(n, make ? make() : storageModule(n, bytesToBinary(file!)));
        }
        return loaded.get(n);
      }, "require"),
      // require()'s cache (jswrap_modules.c): what a program may drop to free a module it loaded.
      Modules: modulesObj,
      E,
      ESP32,
      process: proc,
    };
    for (const [name, value] of Object.entries(globals)) ctx[name] = value;
    ctx.global = session.evaluate("globalThis", "boot");
    // Date.now follows getTime(), as Espruino's does.
    (session.evaluate("Date", "boot") as { now: unknown }).now = api.bridge(() => this.getTimeSeconds() * 1000, "now");
    api.prune([...Object.keys(globals), "global"]);
    return session;
  }

  private enableWatchdog(session: Session, seconds: number, automatic: boolean): void {
    session.assertAlive();
    this.watchdogCancel?.();
    this.watchdogCancel = null;
    // An automatic watchdog is kicked by Espruino's idle loop; only a blocked loop trips it,
    // and a blocked loop blocks this simulation too, so there is nothing to model.
    if (automatic) return;
    this.watchdogMs = Math.max(1, Math.round(seconds)) * 1000;
    this.kickWatchdog(session);
  }

  private kickWatchdog(session: Session): void {
    if (!session.alive || this.watchdogMs === 0) return;
    this.watchdogCancel?.();
    this.watchdogCancel = session.later(this.watchdogMs, () => this.crash("Task watchdog got triggered (not kicked for " + this.watchdogMs / 1000 + " s)"));
  }
}
