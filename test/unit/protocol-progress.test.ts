import { test } from "node:test";
import assert from "node:assert/strict";
import { percentOf, progressDue } from "../../src/core/protocol/progress";

/** What the agent does with progressDue: record each report as the next call's `last`. */
class ProgressThrottle {
  last = -1;
  lastAt = 0;
  constructor(
    readonly step: number,
    readonly interval: number,
  ) {}
  next(percent: number, now: number): boolean {
    const p = progressDue(percent, now, this.last, this.lastAt, this.step, this.interval);
    if (p < 0) return false;
    this.last = p;
    this.lastAt = now;
    return true;
  }
}

test("percentOf floors and clamps", () => {
  assert.equal(percentOf(0, 1000), 0);
  assert.equal(percentOf(1, 3), 33);
  assert.equal(percentOf(2, 3), 66);
  assert.equal(percentOf(999, 1000), 99);
  assert.equal(percentOf(1000, 1000), 100);
  assert.equal(percentOf(1500, 1000), 100);
  assert.equal(percentOf(-5, 1000), 0);
  assert.equal(percentOf(5, 0), 0);
  assert.equal(percentOf(5, -1), 0);
  assert.equal(percentOf(5, NaN), 0);
});

test("percentOf does not overflow where uint32 math would (docs/tencent-protocol.md#report_progress)", () => {
  // 45 MB of 50 MB: done*100 = 4.5e9 wraps in uint32 to 205032704, i.e. "4 %".
  assert.equal(percentOf(45000000, 50000000), 90);
  const total40mb = 40 * 1024 * 1024;
  assert.equal(percentOf(total40mb - 1, total40mb), 99);
  assert.equal(percentOf(total40mb / 2, total40mb), 50);
  assert.equal(percentOf(2147483647, 2147483648), 99);
  assert.equal(percentOf(2147483648, 2147483648), 100);
  assert.equal(percentOf(1073741824, 2147483648), 50);
});

test("throttle: first report, then step AND interval, then 100 exactly once", () => {
  const t = new ProgressThrottle(5, 1000);
  const calls: Array<[number, number, boolean]> = [
    [0, 0, true], // first value always goes out
    [0, 5000, false], // no change
    [3, 2000, false], // step too small
    [5, 500, false], // step ok, interval not yet
    [5, 1000, true],
    [7, 5000, false], // step too small even though long since
    [10, 1999, false], // 999 ms after the last report
    [10, 2000, true],
    [60, 2100, false], // big step but too soon
    [61, 3000, true],
    [100, 3001, true], // 100 ignores step and interval
    [100, 9000, false], // but only once
  ];
  for (const c of calls) assert.equal(t.next(c[0], c[1]), c[2], "next(" + c[0] + ", " + c[1] + ")");
});

test("throttle: a resumed download reports its starting percent first", () => {
  const t = new ProgressThrottle(5, 1000);
  assert.equal(t.next(37, 100), true);
  assert.equal(t.next(40, 5000), false);
  assert.equal(t.next(42, 5000), true);
});

test("throttle: progress going backwards is not reported until it passes the last report", () => {
  const t = new ProgressThrottle(5, 1000);
  assert.ok(t.next(0, 0));
  assert.ok(t.next(50, 1000));
  assert.equal(t.next(0, 5000), false); // download restarted from zero
  assert.equal(t.next(30, 9000), false);
  assert.equal(t.next(54, 10000), false);
  assert.equal(t.next(55, 10000), true);
});

test("throttle: step 0 still never repeats the same percent", () => {
  const t = new ProgressThrottle(0, 0);
  assert.ok(t.next(0, 0));
  assert.equal(t.next(0, 1), false);
  assert.ok(t.next(1, 1));
  assert.equal(t.next(1, 2), false);
});

test("throttle: a clock that jumps backwards cannot stall reports", () => {
  const t = new ProgressThrottle(5, 1000);
  assert.ok(t.next(0, 1000000));
  assert.ok(t.next(10, 5)); // clock reset
  assert.equal(t.next(20, 500), false); // normal interval rule again from the new base
  assert.ok(t.next(20, 1005));
});

test("throttle: a new job (no report yet) reports 0 and 100 again", () => {
  let t = new ProgressThrottle(5, 1000);
  assert.ok(t.next(0, 0));
  assert.ok(t.next(100, 10));
  t = new ProgressThrottle(5, 1000); // the agent sets its last report to -1 for a new job
  assert.ok(t.next(0, 20));
  assert.equal(t.next(3, 5000), false);
  assert.ok(t.next(100, 21));
});

test("throttle: out-of-range and fractional input is clamped", () => {
  const t = new ProgressThrottle(5, 1000);
  assert.equal(progressDue(-20, 0, -1, 0, 5, 1000), 0);
  assert.equal(progressDue(250, 0, 50, 0, 5, 1000), 100);
  assert.equal(progressDue(57.9, 5000, 50, 0, 5, 1000), 57);
  assert.ok(t.next(-20, 0)); // counts as 0
  assert.equal(t.next(4.99, 5000), false); // floors to 4
  assert.ok(t.next(250, 5001)); // counts as 100
  assert.equal(t.next(100, 9999), false);
});

test("throttle: a whole 40 MB download in 536-byte chunks gives few, increasing reports", () => {
  const total = 40 * 1024 * 1024;
  const t = new ProgressThrottle(5, 1000);
  const reported: number[] = [];
  let now = 0;
  for (let done = 0; ; done += 536) {
    if (done > total) done = total;
    const p = percentOf(done, total);
    if (t.next(p, now)) reported.push(p);
    if (done === total) break;
    now += 10;
  }
  assert.equal(reported[0], 0);
  assert.equal(reported[reported.length - 1], 100);
  assert.ok(reported.length <= 22, "reports: " + reported.join(","));
  for (let i = 1; i < reported.length; i++) {
    assert.ok(reported[i] > reported[i - 1]);
    if (reported[i] !== 100) assert.ok(reported[i] - reported[i - 1] >= 5);
  }
});
