// The agent's state machine as a table: [state, event, next state, action].
// The agent looks up (state, event), falling back to ("*", event); a pair that is not
// in the table is logged and ignored, never guessed. The README renders this table.

export type State =
  | "starting" // reading the partition table, otadata and journal
  | "idle" // no update in progress (connected or not)
  | "downloading" // a Range request is in flight
  | "backoff" // waiting before the next request after a failure
  | "awaiting-url" // the URL expired (403); asked the cloud for a fresh push
  | "switching" // image verified; writing otadata, then rebooting
  | "trial" // the new image runs and has not proven itself yet
  | "disabled"; // the flash layout is unusable: report, never write

export type Event =
  | "booted" // start-up inspection done, no update pending
  | "resume-trial" // start-up found a switched image to judge
  | "layout-bad" // partition table or otadata unusable
  | "update" // update_firmware for a new (version, md5, size)
  | "same-update" // update_firmware repeating the current job (fresh URL)
  | "span-end" // a request ended with progress; more to fetch
  | "retry" // a request failed in a retryable way
  | "url-expired" // 403
  | "complete" // every byte is in flash and hashed
  | "timer" // the backoff or URL wait elapsed
  | "healthy" // the trial image connected and reported its version
  | "unhealthy" // the trial deadline or boot budget ran out
  | "failed"; // the current job ends with a fail report

export type Action =
  | "enterIdle"
  | "startJob"
  | "takeFreshUrl"
  | "requestSpan"
  | "scheduleRetry"
  | "askFreshUrl"
  | "verifyAndSwitch"
  | "beginTrial"
  | "confirmTrial"
  | "rollBack"
  | "reportFailure"
  | "refuseUpdate";

export type Row = [State | "*", Event, State, Action];

/**
 * The row for (state, event), else the wildcard row for the event, else null; with `all`, every
 * row is pushed into it as well (transitions()). The table is the text of this function, one
 * "state event next action" row per line, not a value: on Espruino an array of rows would hold
 * ~260 JsVars for as long as the job is loaded, while this string exists only during a lookup
 * (the code stays in flash), and the job holds one function for it rather than two.
 */
export function findTransition(state: State, event: Event, all?: Row[]): Row | null {
  const lines = (
    "starting booted idle enterIdle\n" +
    "starting resume-trial trial beginTrial\n" +
    "starting layout-bad disabled enterIdle\n" +
    "disabled update disabled refuseUpdate\n" +
    "idle update downloading startJob\n" +
    "downloading update downloading startJob\n" + // a different update replaces the current one
    "backoff update downloading startJob\n" +
    "awaiting-url update downloading startJob\n" +
    "downloading same-update downloading takeFreshUrl\n" +
    "backoff same-update downloading takeFreshUrl\n" +
    "awaiting-url same-update downloading takeFreshUrl\n" +
    "downloading span-end downloading requestSpan\n" +
    "downloading retry backoff scheduleRetry\n" +
    "backoff timer downloading requestSpan\n" +
    "downloading url-expired awaiting-url askFreshUrl\n" +
    "awaiting-url timer awaiting-url askFreshUrl\n" +
    "downloading complete switching verifyAndSwitch\n" +
    "trial healthy idle confirmTrial\n" +
    "trial unhealthy switching rollBack\n" +
    "* failed idle reportFailure"
  ).split("\n");
  let wildcard: Row | null = null;
  for (let i = 0; i < lines.length; i++) {
    const r = lines[i].split(" ") as Row;
    if (all) all.push(r);
    else if (r[1] !== event) continue;
    else if (r[0] === state) return r;
    else if (r[0] === "*" && !wildcard) wildcard = r;
  }
  return wildcard;
}

/** Every row, in order (the README renders them). */
export function transitions(): Row[] {
  const all: Row[] = [];
  findTransition("starting", "booted", all);
  return all;
}
