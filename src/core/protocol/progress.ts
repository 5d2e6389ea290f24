// Download progress: the percentage and when it is worth a (QoS0) report.
// The agent's own policy (docs/tencent-protocol.md#report_progress): report the first value (0 % on a fresh download), then
// only after a real step AND a quiet interval, and 100 % exactly once. This avoids both
// a report per KB (a flood) and reporting only at exact multiples of 10 % (a stall).

/**
 * floor(done * 100 / total), clamped to 0..100; 0 when total is not positive.
 * Plain double arithmetic: done * 100 stays exact far beyond 2^31 bytes, unlike the
 * C SDK's uint32 product that wraps above ~42.9 MB (docs/tencent-protocol.md#report_progress).
 */
export function percentOf(done: number, total: number): number {
  const p = total > 0 ? (done * 100) / total : 0;
  return !(p > 0) ? 0 : p >= 100 ? 100 : Math.floor(p);
}

export interface ProgressThrottle {
  /**
   * Whether `percent` (clamped to an integer 0..100) should be reported now; if so it
   * is recorded as reported. Reports never go backwards: after a restart from 0 the
   * next report waits until progress passes the last reported value. A clock that
   * jumps backwards counts as "interval elapsed" so reports can never stall.
   */
  next(percent: number, nowMs: number): boolean;
  /** Forget what was reported (a new download job). */
  reset(): void;
}

/**
 * `new ProgressThrottle(minStepPercent, minIntervalMs)`. A closure rather than a class: its
 * state is local variables, and next and reset are one function (reset is next without a
 * percent), so a throttle costs one function on the board.
 */
export const ProgressThrottle = function (minStepPercent: number, minIntervalMs: number): ProgressThrottle {
  const minStep = minStepPercent > 0 ? minStepPercent : 0;
  const minInterval = minIntervalMs > 0 ? minIntervalMs : 0;
  let last = -1; // the last reported percent, -1 before the first report
  let lastAt = 0;
  let sentComplete = false;
  function next(percent?: number, nowMs?: number): boolean {
    if (percent === undefined) {
      last = -1;
      lastAt = 0;
      sentComplete = false;
      return false;
    }
    const p = !(percent > 0) ? 0 : percent >= 100 ? 100 : Math.floor(percent);
    const now = nowMs as number;
    if (last >= 0) {
      if (p === 100) {
        if (sentComplete) return false;
      } else {
        const elapsed = now - lastAt;
        if (p <= last || p - last < minStep) return false;
        if (elapsed >= 0 && elapsed < minInterval) return false;
      }
    }
    last = p;
    lastAt = now;
    if (p === 100) sentComplete = true;
    return true;
  }
  return { next: next, reset: next as () => void };
} as unknown as new (minStepPercent: number, minIntervalMs: number) => ProgressThrottle;
