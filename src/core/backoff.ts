// Retry delay for downloads and reconnects: capped exponential backoff with full jitter
// (the agent's own policy: doubling from the board's backoffMinMs up to backoffMaxMs).
//
// Decisions:
// - attempt 0 is the first retry; its window is [minMs, minMs]. Attempt n's ceiling is
//   min(maxMs, minMs * 2^n), and the delay is uniform over [minMs, ceiling]: "full"
//   jitter over the whole window, but never below minMs, so a device can never spin
//   in a zero-delay retry loop.
// - Retry-After (from an HTTP 429/503) is a lower bound: the result is never below it,
//   but it is capped at maxMs, so a hostile or mistaken header ("Retry-After: 86400")
//   cannot park the device beyond our own policy. The cap wins over the server.
// - Bad inputs are sanitised rather than thrown on: this runs in error paths.

export function backoffDelay(
  attempt: number,
  minMs: number,
  maxMs: number,
  random01: number,
  retryAfterMs?: number
): number {
  const min = minMs > 0 ? minMs : 0;
  const max = maxMs > min ? maxMs : min;
  // Doubling loop instead of Math.pow (inexact on Espruino) or 1 << n (wraps at 31).
  let ceiling = min;
  for (let i = 0; i < attempt && ceiling < max; i++) ceiling = ceiling > 0 ? ceiling * 2 : 1;
  if (ceiling > max) ceiling = max;
  const r = random01 > 0 ? (random01 < 1 ? random01 : 1) : 0;
  let delay = Math.floor(min + r * (ceiling - min));
  if (retryAfterMs !== undefined && retryAfterMs > delay) delay = Math.ceil(retryAfterMs < max ? retryAfterMs : max);
  return delay;
}
