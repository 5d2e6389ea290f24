// One boot of the device: a fresh V8 context (the RAM) plus every host resource it owns.
// All host callbacks into the context go through run()/later()/soon(), which check the boot's
// "alive" token, so after a reboot or power cut nothing of the old boot ever runs again.

import vm from "node:vm";
import { buildPreludeSource, type PreludeApi, type PreludeHost } from "./prelude";

export interface SessionHooks {
  /** An exception escaped bundle code (already filtered: never called once the session is dead). */
  uncaught(error: unknown, api: PreludeApi): void;
  listenerAdded(target: object, event: string): void;
  /** False once the board lost power some other way (e.g. a flash power cut outside the Flash module). */
  powered(): boolean;
  /** Called (instead of running anything) when a callback finds the power gone. */
  powerLost(): void;
}

/** Node refuses timer delays above 2^31-1 ms; longer Espruino timers are re-armed in steps. */
const MAX_NODE_DELAY = 0x7fffffff;

export class Session {
  alive = true;
  readonly context: vm.Context;
  readonly api: PreludeApi;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly immediates = new Set<NodeJS.Immediate>();
  private readonly disposers = new Set<() => void>();

  constructor(private readonly hooks: SessionHooks) {
    this.context = vm.createContext({}, { codeGeneration: { strings: true, wasm: false } });
    const host: PreludeHost = {
      queue: (fn) => this.soon(fn),
      uncaught: (e) => this.report(e),
      listenerAdded: (target, event) => {
        if (this.alive) this.hooks.listenerAdded(target, event);
      },
    };
    const factory = vm.runInContext(buildPreludeSource(), this.context, { filename: "espruino-prelude.js" }) as (
      host: PreludeHost,
      api: object,
    ) => PreludeApi;
    this.api = factory(host, vm.runInContext("({})", this.context) as object);
  }

  /** Runs fn now if the session is alive; bundle exceptions are reported as uncaught. */
  run(fn: () => void): void {
    if (!this.alive) return;
    if (!this.hooks.powered()) {
      this.hooks.powerLost();
      return;
    }
    try {
      fn();
    } catch (e) {
      this.report(e);
    }
  }

  report(e: unknown): void {
    if (this.alive) this.hooks.uncaught(e, this.api);
  }

  /** setImmediate owned by this boot: one "idle loop turn" later. */
  soon(fn: () => void): void {
    if (!this.alive) return;
    const handle = setImmediate(() => {
      this.immediates.delete(handle);
      this.run(fn);
    });
    this.immediates.add(handle);
  }

  /** A timer owned by this boot. Returns a cancel function. */
  later(ms: number, fn: () => void): () => void {
    let handle: NodeJS.Timeout | undefined;
    const arm = (remaining: number): void => {
      if (!this.alive) return;
      const step = Math.min(remaining, MAX_NODE_DELAY);
      handle = setTimeout(() => {
        this.timers.delete(handle!);
        if (remaining > step) arm(remaining - step);
        else this.run(fn);
      }, step);
      this.timers.add(handle);
    };
    arm(Math.max(0, ms));
    return () => {
      if (handle) {
        clearTimeout(handle);
        this.timers.delete(handle);
      }
    };
  }

  /** Registers cleanup for a host resource (socket, request); returns the unregister function. */
  own(dispose: () => void): () => void {
    this.disposers.add(dispose);
    return () => this.disposers.delete(dispose);
  }

  /** Throws if the boot is over, so a dead context cannot touch flash or the network. */
  assertAlive(): void {
    if (!this.alive) throw this.api.error("device is not running");
  }

  /** Ends the boot: nothing scheduled by it runs afterwards. */
  kill(): void {
    if (!this.alive) return;
    this.alive = false;
    for (const t of this.timers) clearTimeout(t);
    for (const i of this.immediates) clearImmediate(i);
    this.timers.clear();
    this.immediates.clear();
    const disposers = [...this.disposers];
    this.disposers.clear();
    for (const d of disposers) {
      try {
        d();
      } catch {
        // a resource that fails to close is gone anyway
      }
    }
  }

  evaluate(code: string, filename: string): unknown {
    return vm.runInContext(code, this.context, { filename });
  }
}
