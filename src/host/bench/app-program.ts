// The user's application the bench installs beside the agent: it holds a given number of
// JsVars for as long as it runs (its own code and timer included) and keeps an interval timer
// going that reports its longest gap, the way an application that blinks, polls or logs would
// notice the agent hogging the interpreter. ES5, one "@@" line per report (device-stub.ts).

export interface AppOptions {
  /** JsVars the application holds once started (usage above what was in use when it began). */
  holdJsVars: number;
  /** Period of its timer. */
  intervalMs?: number;
}

export function appProgram(o: AppOptions): string {
  const every = o.intervalMs ?? 100;
  return `(function () {
  var u0 = process.memory().usage, hold = [], worst = 0, last = getTime(), ticks = 0;
  function out(s) { print("@@" + s); }
  setInterval(function () {
    var t = getTime(), gap = (t - last) * 1000;
    last = t;
    ticks++;
    if (gap > worst) { worst = gap; out("GAP " + gap.toFixed(0) + " " + ticks); }
  }, ${every});
  var m = process.memory(), want = ${o.holdJsVars}, stuck = 0, u = m.usage - u0, v;
  if (want - u > 64) hold.push(new Uint8Array((want - u - 48) * m.blocksize));
  while ((u = process.memory().usage - u0) < want && stuck < 8) {
    hold.push(0);
    v = process.memory().usage - u0;
    stuck = v > u ? 0 : stuck + 1;
  }
  out("APP " + (process.memory().usage - u0) + " " + want);
})();
`;
}
