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

export const TRANSITIONS: Row[] = [
  ["starting", "booted", "idle", "enterIdle"],
  ["starting", "resume-trial", "trial", "beginTrial"],
  ["starting", "layout-bad", "disabled", "enterIdle"],
  ["disabled", "update", "disabled", "refuseUpdate"],

  ["idle", "update", "downloading", "startJob"],
  ["downloading", "update", "downloading", "startJob"], // a different update replaces the current one
  ["backoff", "update", "downloading", "startJob"],
  ["awaiting-url", "update", "downloading", "startJob"],

  ["downloading", "same-update", "downloading", "takeFreshUrl"],
  ["backoff", "same-update", "downloading", "takeFreshUrl"],
  ["awaiting-url", "same-update", "downloading", "takeFreshUrl"],

  ["downloading", "span-end", "downloading", "requestSpan"],
  ["downloading", "retry", "backoff", "scheduleRetry"],
  ["backoff", "timer", "downloading", "requestSpan"],
  ["downloading", "url-expired", "awaiting-url", "askFreshUrl"],
  ["awaiting-url", "timer", "awaiting-url", "askFreshUrl"],
  ["downloading", "complete", "switching", "verifyAndSwitch"],

  ["trial", "healthy", "idle", "confirmTrial"],
  ["trial", "unhealthy", "switching", "rollBack"],

  ["*", "failed", "idle", "reportFailure"],
];

export function findTransition(state: State, event: Event): Row | null {
  let wildcard: Row | null = null;
  for (let i = 0; i < TRANSITIONS.length; i++) {
    const r = TRANSITIONS[i];
    if (r[1] !== event) continue;
    if (r[0] === state) return r;
    if (r[0] === "*" && !wildcard) wildcard = r;
  }
  return wildcard;
}
