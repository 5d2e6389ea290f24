// Download progress: the percentage and when it is worth a (QoS0) report.
// The agent's own policy (docs/tencent-protocol.md#report_progress): report the first value (0 % on a fresh download), then
// only after a real step AND a quiet interval, and 100 % exactly once. This avoids both
// a report per KB (a flood) and reporting only at exact multiples of 10 % (a stall).

/** Integer 0..100; anything else (NaN, negative, > 100, fractions) is clamped and floored. */
export function clampPercent(percent: number): number {
  if (!(percent > 0)) return 0;
  if (percent >= 100) return 100;
  return Math.floor(percent);
}

/**
 * floor(done * 100 / total), clamped to 0..100; 0 when total is not positive.
 * Plain double arithmetic: done * 100 stays exact far beyond 2^31 bytes, unlike the
 * C SDK's uint32 product that wraps above ~42.9 MB (docs/tencent-protocol.md#report_progress).
 */
export function percentOf(done: number, total: number): number {
  if (!(total > 0)) return 0;
  return clampPercent((done * 100) / total);
}

export class ProgressThrottle {
  private minStep: number;
  private minInterval: number;
  private lastPercent: number;
  private lastAt: number;
  private sentComplete: boolean;

  constructor(minStepPercent: number, minIntervalMs: number) {
    this.minStep = minStepPercent > 0 ? minStepPercent : 0;
    this.minInterval = minIntervalMs > 0 ? minIntervalMs : 0;
    this.lastPercent = -1;
    this.lastAt = 0;
    this.sentComplete = false;
  }

  /** Forget what was reported (a new download job). */
  reset(): void {
    this.lastPercent = -1;
    this.lastAt = 0;
    this.sentComplete = false;
  }

  /**
   * Whether `percent` (clamped to an integer 0..100) should be reported now; if so it
   * is recorded as reported. Reports never go backwards: after a restart from 0 the
   * next report waits until progress passes the last reported value. A clock that
   * jumps backwards counts as "interval elapsed" so reports can never stall.
   */
  next(percent: number, nowMs: number): boolean {
    const p = clampPercent(percent);
    if (this.lastPercent >= 0) {
      if (p === 100) {
        if (this.sentComplete) return false;
      } else {
        const elapsed = nowMs - this.lastAt;
        if (p <= this.lastPercent || p - this.lastPercent < this.minStep) return false;
        if (elapsed >= 0 && elapsed < this.minInterval) return false;
      }
    }
    this.lastPercent = p;
    this.lastAt = nowMs;
    if (p === 100) this.sentComplete = true;
    return true;
  }
}
