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
/** Espruino's timers take at least 0.1 ms (timers.ts): a delay this short is due at the next turn. */
const NEXT_TURN_MS = 0.1;

export class Session {
  alive = true;
  readonly context: vm.Context;
  readonly api: PreludeApi;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly immediates = new Set<NodeJS.Immediate>();
  /** Timers due at the next idle-loop turn, in the order they were set (see io()). */
  private readonly nextTurn = new Set<() => void>();
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

  /**
   * The network's part of an idle-loop turn (socket reads, connects, closes): like soon(), but
   * the timers already due at the next turn run first. Espruino's jsiIdle runs due timers before
   * jswIdle reads the sockets, so a 0 ms timer set while handling one socket read always runs
   * before the next read is handled, however fast the data comes.
   */
  io(fn: () => void): void {
    this.soon(() => {
      for (const fire of [...this.nextTurn]) fire();
      this.run(fn);
    });
  }

  /** A timer owned by this boot. Returns a cancel function. */
  later(ms: number, fn: () => void): () => void {
    let handle: NodeJS.Timeout | undefined;
    let over = false;
    const fire = (): void => {
      if (over) return;
      cancel();
      this.run(fn);
    };
    const cancel = (): void => {
      over = true;
      this.nextTurn.delete(fire);
      if (handle) {
        clearTimeout(handle);
        this.timers.delete(handle);
      }
    };
    const arm = (remaining: number): void => {
      if (!this.alive) return;
      const step = Math.min(remaining, MAX_NODE_DELAY);
      handle = setTimeout(() => {
        this.timers.delete(handle!);
        handle = undefined;
        if (remaining > step) arm(remaining - step);
        else fire();
      }, step);
      this.timers.add(handle);
    };
    // Espruino's shortest delay: due at the next idle-loop turn, whatever the host's clock says.
    if (ms <= NEXT_TURN_MS) this.nextTurn.add(fire);
    arm(Math.max(0, ms));
    return cancel;
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
    this.nextTurn.clear();
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
