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

/**
 * Whether a download at `percent` should be reported now, given the last report: `last` (-1
 * before the first) at `lastAtMs`. Returns the percent to report, clamped to an integer 0..100,
 * or -1 for "not now"; the caller records what it reports as the next `last` and `lastAtMs`.
 * Reports never go backwards: after a restart from 0 the next report waits until progress
 * passes the last reported value. 100 goes out exactly once. A clock that jumps backwards
 * counts as "interval elapsed" so reports can never stall. A plain function over the caller's
 * two numbers rather than an object with a method: on the board that costs a closure, an
 * object and their scope for as long as a download runs.
 */
export function progressDue(percent: number, nowMs: number, last: number, lastAtMs: number, minStepPercent: number, minIntervalMs: number): number {
  const p = !(percent > 0) ? 0 : percent >= 100 ? 100 : Math.floor(percent);
  if (last < 0) return p;
  if (p === 100) return last === 100 ? -1 : p;
  const elapsed = nowMs - lastAtMs;
  if (p <= last || p - last < minStepPercent) return -1;
  return elapsed >= 0 && elapsed < minIntervalMs ? -1 : p;
}
