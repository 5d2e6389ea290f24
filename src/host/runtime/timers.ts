// Espruino's timer semantics (src/jswrap_interactive.c, src/jsinteractive.c):
// - ids come from the timer list: new id = (id of the last timer in the list) + 1, or 1 when the
//   list is empty, so ids ARE reused (clearing a stale id can cancel somebody else's timer);
// - a timeout stays in the list while its callback runs and is removed afterwards;
// - clearTimeout() with no argument clears every timer, clearTimeout(undefined) throws,
//   clearing an unknown id does nothing; clearTimeout and clearInterval share one list;
// - intervals re-arm from their scheduled time, not from when the callback finished;
// - delays below 0.1 ms (or NaN) become 0.1 ms, above 100 years throw.

import type { Session } from "./session";

const TIMER_MIN_MS = 0.1;
const TIMER_MAX_MS = 3153600000000;

interface Timer {
  id: number;
  fn: unknown;
  args: unknown[];
  intervalMs: number | null;
  dueAt: number;
  cancel: () => void;
}

export class EspruinoTimers {
  private readonly list: Timer[] = [];

  constructor(private readonly session: Session) {}

  get count(): number {
    return this.list.length;
  }

  add(fn: unknown, ms: unknown, args: unknown[], isInterval: boolean): number {
    if (typeof fn !== "function" && typeof fn !== "string") throw this.session.api.error("Function or String not supplied!");
    let delay = Number(ms);
    if (Number.isNaN(delay) || delay < TIMER_MIN_MS) delay = TIMER_MIN_MS;
    if (delay > TIMER_MAX_MS) throw this.session.api.error("Interval is too long (>100 years)");
    const last = this.list[this.list.length - 1];
    const timer: Timer = {
      id: last ? last.id + 1 : 1,
      fn,
      args,
      intervalMs: isInterval ? delay : null,
      dueAt: performance.now() + delay,
      cancel: () => {},
    };
    this.list.push(timer);
    this.arm(timer);
    return timer.id;
  }

  /** `args` is the arguments object of clearTimeout/clearInterval. */
  clear(args: ArrayLike<unknown>, kind: "Timeout" | "Interval"): void {
    if (args.length === 0) {
      for (const t of this.list.splice(0)) t.cancel();
      return;
    }
    const id = args[0];
    if (id === undefined) throw this.session.api.error("clear" + kind + "(undefined) not allowed. Use clear" + kind + "() instead");
    const i = this.list.findIndex((t) => t.id == id); // Espruino looks the name up loosely
    if (i >= 0) this.list.splice(i, 1)[0].cancel();
  }

  change(id: unknown, ms: unknown): void {
    const timer = this.list.find((t) => t.id == id);
    if (!timer) throw this.session.api.error("Unknown Interval");
    let delay = Number(ms);
    if (Number.isNaN(delay) || delay < TIMER_MIN_MS) delay = TIMER_MIN_MS;
    timer.cancel();
    if (timer.intervalMs !== null) timer.intervalMs = delay;
    timer.dueAt = performance.now() + delay;
    this.arm(timer);
  }

  private arm(timer: Timer): void {
    timer.cancel = this.session.later(timer.dueAt - performance.now(), () => this.fire(timer));
  }

  private fire(timer: Timer): void {
    if (!this.list.includes(timer)) return;
    try {
      if (typeof timer.fn === "string") this.session.api.evalGlobal(timer.fn);
      else Reflect.apply(timer.fn as (...a: unknown[]) => unknown, undefined, timer.args);
    } catch (e) {
      this.session.report(e);
    }
    if (!this.session.alive || !this.list.includes(timer)) return;
    if (timer.intervalMs !== null) {
      timer.dueAt += timer.intervalMs;
      this.arm(timer);
    } else {
      this.list.splice(this.list.indexOf(timer), 1);
    }
  }
}
