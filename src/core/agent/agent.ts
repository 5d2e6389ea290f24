// The OTA job: Tencent IoT Hub's OTA messages (through the resident session's MQTT link), a
// resumable Range download into the inactive slot with the MD5 midstate journaled in flash,
// the otadata switch and a trial boot of the new image. Control flow is the table in
// machine.ts: every event goes through dispatch(), which looks up (state, event) and runs the
// row's action. Each function the job holds costs JsVars while it is loaded (8 for a closure
// inside another function, 5 for one at the top of a module, on the ESP32 format), so there are
// few, and at the top of the module: the table's actions are cases of act(), the session's calls
// are cases of one function (the Job), the download and slot writer share one callback
// (onDownload), one function switches otadata both ways (in the formats module, formats.ts).
//
// One job per load: the session require()s the job module afresh for each job and drops it
// from require()'s cache at once (src/espruino/boot.ts), so the job's state lives in
// module-level variables, like the session's (session.ts), and createAgent is called once.
import type { BoardConfig } from "../board";
import type { Md5, Ports, TimerId } from "../ports";
import { APP_FILE, appFlash } from "./app-files";
import { errorText, otaError } from "../errors";
import { findTransition, Action, Event, State } from "./machine";
import type { Layout } from "./layout";
import type { Formats } from "./formats";
import { RESUME_BYTES, SlotWriter } from "./slot-writer";
import { Download, SpanOutcome } from "./download";
import { GuardedFlash, protectedRegions } from "../esp32/guarded-writer";
import { preflightImage } from "../esp32/app-image";
import { checkImage } from "./image-check";
import { Journal } from "../journal/journal";
import { OtaState, md5Refused, saveOtaState } from "../journal/ota-state";
import { utf8Decode } from "../mqtt/packets";
import type { Job, JobCall, Link } from "./session";
import {
  FailCode,
  InvalidUpdate,
  UpdateFirmware,
  failMessage,
  parseDownMessage,
  otaReport,
} from "../protocol/messages";
import { percentOf, progressDue } from "../protocol/progress";
import { backoffDelay } from "../backoff";
import { toHex } from "../crypto/hex";

/** Reboot this long after "burning" even if its PUBACK never comes: the switch is already durable. */
const REBOOT_GRACE_MS = 5000;

interface Failure {
  code: FailCode;
  msg: string;
}

let board: BoardConfig;
let ports: Ports;
let link: Link;
/** The formats module's loader (see createAgent). */
let formats: () => Formats;
let state: State = "starting";
/** Read at start; null when the flash layout is unusable (then layoutError says why). */
let layout: Layout | null = null;
let layoutError = "";
/** The running image's version, from its app descriptor once the layout is read. */
let runningVersion = "unknown";
/** The last state written to the journal (null: empty). */
let saved: OtaState | null = null;
/** Events waiting for dispatch(), two entries each: event, data. */
const queue: unknown[] = [];
let dispatching = false;
/** The backoff, fresh-URL or trial timer (0: none). */
let timer: TimerId = 0;

// the update in progress
let task: UpdateFirmware | null = null;
let md5: Md5 | null = null;
let writer: SlotWriter | null = null;
let download: Download | null = null;
/** The last progress report of this download (-1: none yet) and when it went out. */
let reported = -1;
let reportedAt = 0;
/** Failed requests in a row without new progress; reset only past the high-water mark. */
let streak = 0;
/** The furthest position this job has reached: a restart that merely re-reaches it is no progress. */
let highWater = 0;
/** A progress note's timer is pending (onDownload). */
let noting = false;
/** This boot's trial evidence: report_version acknowledged, and the application's OTA:healthy. */
let uplinkOk = false;
let appOk = false;
let journal: Journal;

// The application kind (board.app, docs/app-ota.md): its file that runs (APP_FILE + appSlot; -1:
// none) and that file's version. A push for the other kind while a job runs marks the job's task
// `waited`: the versions are reported again when it ends, and the platform pushes again then.
let appSlot = -1;
let appVersion = "";

/**
 * `formats` gives the flash formats only the start, the switch, the trial and a rollback use
 * (formats.ts). Call it where they are needed and do not hold on to the result: on Espruino it loads a
 * Storage module that is dropped again, so they are not in memory during a download.
 * Called once per load of this module (see the top of the file).
 */
export function createAgent(b: BoardConfig, p: Ports, l: Link, f: () => Formats): Job {
  board = b;
  ports = p;
  link = l;
  formats = f;
  journal = Journal(new GuardedFlash(p.flash, { chipSize: b.flash.size, allowed: [{ label: "journal", offset: b.journal.offset, size: b.journal.size }], forbidden: [] }), b.journal);
  return job;
}

// ---- the Job ----

/**
 * What the session calls (session.ts's Job), one function told apart by `what` rather than six
 * methods: "start" reads the layout and the journal (and with "boot", once per power-on, starts
 * the application); "onConnected" reports the version (its
 * PUBACK is the trial's proof of a working uplink, "uplink" here); "onMessage" takes a message
 * on the update topic; "onAppHealthy" is the application's OTA:healthy; "quiet" says whether
 * nothing is in flight (the session may drop the job); "runningVersion" is the running image's.
 */
function job(what: JobCall | "uplink" | Error, payload?: string): boolean | string | void {
  const log = ports.system.log;
  const L = layout;
  if (what === "runningVersion") return runningVersion;
  if (what === "appReport") return __APP__ && board.app && appVersion ? otaReport("version", appVersion, { fwType: board.app.fwType }) : "";
  // A "failed" record only remembers an MD5 that failed (md5Refused): the next load reads it again.
  if (what === "quiet") return (state === "idle" || state === "disabled") && !task && (!saved || saved.phase === "failed") && !timer && !dispatching;
  if (what === "onConnected") {
    // report_version at every connect, one per kind: it is also how the cloud learns to re-push
    // a pending update, and its PUBACK is the trial image's proof of a working uplink.
    // (and again when a job ends after a push for the other kind waited: `waited`)
    const a = __APP__ && (job("appReport") as string);
    if (a) link.publish(a, 1);
    return link.publish(otaReport("version", runningVersion), 1, () => job("uplink"));
  }
  if (what === "uplink" || what === "onAppHealthy") {
    // One piece of trial evidence. A trial is healthy with a working uplink, and with the
    // application's word where the board asks for it.
    if (what === "uplink") uplinkOk = true;
    else appOk = true;
    const st = saved;
    // an application's trial: its own word is enough (the agent's uplink does not depend on it)
    if (state === "trial" && st && st.app ? appOk : state === "trial" && uplinkOk && (appOk || !board.trial.waitForApp) && L && st && L.running.offset === st.targetSlot) dispatch("healthy");
    return;
  }
  if (what === "start") {
    try {
      // dropped right after: Espruino keeps a local until its function returns, and start
      // goes on to dispatch the trial or idle state
      let f: Formats | null = formats();
      layout = f.readLayout(board, ports.flash, ports.md5);
      saved = f.loadOtaState(journal);
      f = null;
      runningVersion = layout.runningVersion;
      log("ota: running " + layout.running.label + " version " + layout.runningVersion + ", updates go to " + layout.target.label);
    } catch (e) {
      layoutError = errorText(e);
      log("ota: flash layout unusable, updates disabled: " + layoutError);
    }
    const st = saved;
    // "done" until the broker acknowledges it; only then is the journal cleared (survives reboots).
    // a confirmed application's previous file, if a power cut came before it was erased
    if (__APP__ && st && st.phase === "confirmed" && st.app) ports.storage!.erase(APP_FILE + st.previousSlot);
    if (st && st.phase === "confirmed")
      link.publish(otaReport("done", st.version, { taskId: st.taskId, fwType: st.fwType }), 1, () => {
        if (saved === st) save(null);
      });
    if (!layout) dispatch("layout-bad");
    else if (saved && ["verified", "switching", "trial", "rolledback"].indexOf(saved.phase) >= 0) dispatch("resume-trial");
    else dispatch("booted");
    if (__APP__ && board.app) {
      // The application that runs: the one the journal's application update names while there is
      // one (the trial's or the previous), else the one app file there is (0 when both are).
      const S = ports.storage!;
      const s = saved && saved.app ? saved : null;
      const f = formats();
      let info = s ? null : f.appInfo(S, 0);
      let n = s ? (s.phase === "trial" || s.phase === "confirmed" ? s.targetSlot : s.previousSlot) : info ? 0 : 1;
      if (!info) info = f.appInfo(S, n);
      if (!info) n = -1;
      appSlot = n;
      appVersion = info ? info[0] : "";
      // once per power-on: the job is loaded again for later updates, the application is not
      if (info && payload === "boot") {
        log("ota: running application " + APP_FILE + n + " version " + info[0]);
        // a string given to the timer runs at the interpreter's top level (ClockPort.after)
        ports.clock.after(0, S.read(APP_FILE + n, 0, info[2])!);
      }
    }
    return;
  }
  // An uncaught exception while an application is on trial: the job itself is process's
  // "uncaughtException" listener (one function fewer on the board), so the exception, whatever
  // was thrown, is `what`; every other call has returned above. __APP__: the board has the
  // application kind (a build flag, rollup.config.js), else none of this is in its bundle.
  if (__APP__ && what !== "onMessage") {
    log("ota: the application threw: " + errorText(what));
    const st = saved;
    if (state === "trial" && st && st.app) dispatch("unhealthy", 1);
    return;
  }
  // "onMessage": a message on the update topic
  let msg;
  try {
    // Limits on what the cloud may send (an update_firmware is a few hundred bytes); an object
    // made per message rather than one kept at module level for the whole job
    msg = parseDownMessage(utf8Decode(payload!), { maxUrlLength: 2048, maxVersionLength: 32, maxFileSize: 16777216 });
  } catch (e) {
    log("ota: bad message ignored: " + errorText(e));
    // An update we can name but not use gets a fail report, or the platform task would
    // stay pending and be re-pushed forever. Not while that version is being downloaded.
    const v = (e as InvalidUpdate).version;
    const j = task;
    if (v && !(j && j.version === v)) link.publish(otaReport("fail", v, {}, -5, failMessage(-5, "unusable update_firmware: " + errorText(e))), 1);
    return;
  }
  if (msg.type === "report_version_rsp") return log("ota: report_version_rsp " + msg.resultCode + " " + msg.resultMsg);
  if (msg.type === "ignored") return log("ota: " + msg.reason);
  const A = board.app;
  const forApp = !!A && msg.fwType === A.fwType;
  // One job at a time: a push for the other kind waits (the cloud pushes it again once the
  // versions are reported, when this job ends).
  const t = task;
  if (t && (!!A && t.fwType === A.fwType) !== forApp) {
    t.waited = true;
    return log("ota: busy with " + t.version + "; " + msg.version + " waits until it is done");
  }
  // Already running it: the answer is the version report, never a download.
  if (forApp ? msg.version === appVersion : L && msg.version === L.runningVersion) return link.publish(otaReport("version", forApp ? appVersion : runningVersion, forApp ? msg : null), 1);
  if (md5Refused(saved, msg.md5)) {
    return link.publish(otaReport("fail", msg.version, { taskId: msg.taskId, fwType: msg.fwType }, -4, failMessage(-4, "this image failed verification twice; not downloading it again")), 1);
  }
  const j = task;
  dispatch(j && j.version === msg.version && j.md5 === msg.md5 && j.fileSize === msg.fileSize ? "same-update" : "update", msg);
}

// ---- events in ----

function dispatch(ev: Event, data?: unknown): void {
  queue.push(ev, data);
  if (dispatching) return;
  dispatching = true;
  while (queue.length) {
    const e = queue.shift() as Event;
    const d = queue.shift();
    const row = findTransition(state, e);
    if (!row) {
      ports.system.log("ota: " + e + " ignored in state " + state);
      continue;
    }
    ports.system.log("ota: " + state + " --" + e + "--> " + row[2]);
    state = row[2];
    try {
      act(row[3], d);
      // The application's view (docs/app-api.md): E.on("OTA", function (e) { e.state, e.version, e.percent }).
      ports.system.emit("OTA", { state: state, version: task ? task.version : runningVersion, percent: -1 });
    } catch (x) {
      // An action that throws ends the job with fail -5, once: if reporting the failure
      // throws too (flash or link gone), it is logged and dropped, never retried in a loop.
      ports.system.log("ota: " + row[3] + " failed: " + errorText(x));
      if (e !== "failed") queue.push("failed", { code: -5, msg: failMessage(-5, errorText(x)) });
    }
  }
  dispatching = false;
  link.check();
}

// The table's actions, each a case here rather than a function of its own: on Espruino
// every function the job holds costs JsVars for as long as the job is loaded, a case none.
function act(action: Action, data: unknown): void {
  if (action === "startJob" || action === "reportFailure") {
    // End the download in progress, if any: its socket, the writer's buffer, its timer.
    armTimer();
    if (download) download.abort();
    download = null;
    writer = null;
  }
  switch (action) {
    case "enterIdle":
      return;
    case "startJob": {
      const msg = data as UpdateFirmware;
      const L = layout!;
      const A = board.app;
      const app = !!A && msg.fwType === A.fwType;
      // an application goes into the app file that does not run
      const target = app ? (appSlot === 0 ? 1 : 0) : L.target.offset;
      task = msg;
      const s = saved;
      // the formats module only for these answers: dropped before the journal write and
      // the download's buffers
      let f: Formats | null = formats();
      const resume = s && s.phase === "downloading" && f.sameUpdate(s, msg.version, msg.md5, msg.fileSize) && !s.app === !app && s.targetSlot === target;
      let refused = "";
      if (!app && msg.fileSize > L.target.size) refused = "image of " + msg.fileSize + " bytes does not fit " + L.target.label + " (" + L.target.size + " bytes)";
      else if (__APP__ && app) {
        // Refused before anything is written or erased. Espruino runs .bootcde at every boot
        // after the agent, beside the app file that runs; and a file that does not fit the free
        // space at the end of Storage makes Espruino compact Storage, which is not power-safe.
        const S = ports.storage!;
        const free = S.getFree();
        if (msg.fileSize > A!.maxBytes) refused = "application package of " + msg.fileSize + " bytes is over the board's app.maxBytes (" + A!.maxBytes + ")";
        else if (S.read(".bootcde", 0, 1) !== undefined) refused = "the application is in .bootcde, which Espruino runs at every boot: install it as a package once (docs/app-ota.md)";
        else if (!resume && msg.fileSize + 36 > free) refused = "Storage full: the package needs " + (msg.fileSize + 36) + " bytes, " + free + " are free; compacting Storage is not power-safe, so the agent never does it (docs/app-ota.md)";
      }
      if (refused) {
        f = null;
        dispatch("failed", { code: -5, msg: failMessage(-5, refused) });
        return;
      }
      const failures = f.failuresOf(s, msg.md5);
      f = null;
      let st: OtaState;
      if (s && resume) {
        st = s; // resume: same (version, md5, size) into the same slot
        md5 = ports.md5.restore(s.md5State);
        ports.system.log("ota: resuming " + msg.version + " at " + s.offset + " of " + msg.fileSize);
      } else {
        md5 = ports.md5.create();
        st = {
          phase: "downloading",
          version: msg.version,
          md5: msg.md5,
          size: msg.fileSize,
          targetSlot: target,
          offset: 0,
          md5State: md5.saveState(),
          attempts: 0,
          freshUrlRequests: 0,
          failedMd5Count: failures,
          previousSlot: app ? 1 - target : L.running.offset,
          bootCount: 0,
        };
        if (app) st.app = true;
      }
      st.taskId = msg.taskId === undefined ? undefined : String(msg.taskId);
      st.fwType = msg.fwType;
      save(st);
      streak = 0;
      highWater = st.offset;
      openWriter(st.offset);
      reported = -1;
      onDownload(st.offset); // the first progress report (0 %, or where a resume starts)
      download!.requestSpan(onDownload);
      return;
    }
    case "takeFreshUrl": {
      const msg = data as UpdateFirmware;
      const dl = download;
      task = msg;
      if (!dl) return;
      dl.url = msg.url;
      armTimer();
      if (!dl.active) dl.requestSpan(onDownload);
      return;
    }
    case "requestSpan":
      return download!.requestSpan(onDownload);
    case "scheduleRetry":
      return armTimer(data as number, "timer");
    case "askFreshUrl": {
      const st = saved!;
      const limit = board.download.freshUrlRequests;
      if (st.freshUrlRequests >= limit) {
        dispatch("failed", { code: -3, msg: failMessage(-3, "HTTP 403 and " + limit + " fresh URLs asked for did not help") });
        return;
      }
      st.freshUrlRequests++;
      save(st);
      // The platform re-pushes update_firmware (with a newly signed URL) to a device that
      // reports a version other than the task's target.
      link.publish(otaReport("version", runningVersion), 1);
      armTimer(Math.min(board.download.requestTimeoutMs, 60000), "timer");
      return;
    }
    case "verifyAndSwitch": {
      // From the table: check the image, then switch. With `data` ([job, state]): the image
      // check of a board with image.verifySha256 has passed since, only the switch is left.
      const proven = data as [UpdateFirmware, OtaState] | undefined;
      const job = proven ? proven[0] : task!;
      const st = proven ? proven[1] : saved!;
      if (!proven) {
        const L = layout!;
        const got = toHex(md5!.digest());
        md5 = null;
        // sign: once the MD5 holds, the file must carry this product's tag (src/core/sign)
        const app = st.app;
        // an application's signature is read back through its file (appFlash), as it was written
        // the formats module for this one answer, let go before the switch loads it again
        let f: Formats | null = formats();
        const refused = got === job.md5 ? f.signCheck(board, link.id, app ? ({ flash: appFlash(ports.storage!, st.targetSlot, job.fileSize), md5: ports.md5, sha256: ports.sha256 } as Ports) : ports, app ? 0 : L.target.offset, job.fileSize, writer!.imageMd5, job.version, app ? appVersion : L.runningVersion, app ? 1 : 0) : "";
        f = null;
        // The download's objects (its socket, the writer's buffer) are done with: free them before
        // the journal writes and the switch.
        const check = download && download.check;
        armTimer();
        if (download) download.abort();
        download = null;
        writer = null;
        if (got !== job.md5 || refused) {
          st.failedMd5Count++;
          st.phase = "failed";
          st.offset = 0;
          st.md5State = ports.md5.create().saveState();
          save(st);
          dispatch("failed", { code: -4, msg: refused || failMessage(-4, "expected " + job.md5 + ", flash holds " + got) });
          return;
        }
        // __IMAGE_SHA256__ is the board's image.verifySha256, fixed at build time (rollup.config.js).
        // Without it the MD5 proved the bytes; the bootloader checks checksum and hash at every boot.
        if (__IMAGE_SHA256__ && !app) {
          checkImage(ports, L.target.offset, job.fileSize, check, (why) => (why === null ? act("verifyAndSwitch", [job, st]) : dispatch("failed", { code: -5, msg: failMessage(-5, "image check: " + why) })));
          return;
        }
      }
      // The image is proven: journal "verified", switch, report "burning", and reboot once
      // "burning" is acknowledged, or after REBOOT_GRACE_MS. The switch comes first so that the
      // report, its pending acknowledgement and the timer are not in memory beside the formats
      // module the switch loads (formats.ts); all of it runs in this one turn.
      st.offset = job.fileSize; // sign: the journaled resume point stopped short of the image end
      st.phase = "verified";
      save(st);
      switchTo(st.targetSlot, st, "trial");
      let rebooted = false;
      const reboot = () => {
        if (!rebooted) {
          rebooted = true;
          link.reboot();
        }
      };
      ports.clock.after(REBOOT_GRACE_MS, reboot);
      link.publish(otaReport("burning", job.version, { taskId: job.taskId, fwType: job.fwType }), 1, reboot);
      return;
    }
    case "beginTrial": {
      // At boot with a switch or trial in the journal: finish an interrupted switch or rollback,
      // re-arm a trial the bootloader aborted without a verdict, report a rollback, or start
      // judging the new image.
      const L = layout!;
      const st = saved!;
      const mode = board.bootloaderRollback ? "bootloader rollback" : "agent trial";
      task = { type: "update_firmware", version: st.version, md5: st.md5, fileSize: st.size, url: "", taskId: st.taskId, fwType: st.fwType };
      if (__APP__ && st.app) {
        // An application: the journal is the switch, nothing to finish in flash. A rollback is
        // done once the journal says so: the previous file runs (start), the new one goes.
        if (st.phase === "rolledback") {
          const A = board.app!;
          ports.storage!.erase(APP_FILE + st.targetSlot);
          const why = st.why === 1 ? "threw an uncaught exception" : st.why === 2 ? "did not say it is healthy (OTA:healthy) within " + A.trialMs + " ms" : "restarted " + (st.bootCount - 1) + " times without being confirmed";
          dispatch("failed", { code: -5, msg: failMessage(-5, "application " + st.version + " " + why + "; rolled back") });
          return;
        }
        st.phase = "trial";
        st.bootCount++;
        if (st.bootCount > board.trial.maxBoots) {
          st.phase = "rolledback";
          st.why = 3;
          save(st);
          act("beginTrial", null);
          return;
        }
        save(st);
        const info = formats().appInfo(ports.storage!, st.targetSlot);
        ports.system.log("ota: trial " + st.bootCount + " of application " + st.version + " (confirm: " + (info ? info[1] : "?") + ")");
        ports.process!.on("uncaughtException", job as (e: unknown) => void);
        // "time": it works when it runs trialMs without an uncaught exception; "api": it must say so
        armTimer(board.app!.trialMs, info && info[1] === "time" ? "healthy" : "unhealthy");
        return;
      }
      const onTarget = L.running.offset === st.targetSlot;
      if (!onTarget && (st.phase === "verified" || st.phase === "switching")) {
        // Power was cut between a verified image and a finished switch: finish it.
        ports.system.log("ota: completing an interrupted slot switch");
        switchTo(st.targetSlot, st, "trial");
        link.reboot();
        return;
      }
      if (!onTarget && st.phase === "trial" && board.bootloaderRollback && st.bootCount < board.trial.maxBoots) {
        // The bootloader aborted a trial that never reached a verdict (a power cut or a crash
        // before confirmation). That is no proof of a bad image: try again, within maxBoots.
        st.bootCount++;
        ports.system.log("ota: trial of " + st.version + " aborted by the bootloader; switching again (" + st.bootCount + "/" + board.trial.maxBoots + ")");
        switchTo(st.targetSlot, st, "again");
        link.reboot();
        return;
      }
      if (!onTarget) {
        dispatch("failed", { code: -5, msg: failMessage(-5, "image " + st.version + " did not prove healthy; back on " + L.running.label + " running " + L.runningVersion + " (" + mode + ")") });
        return;
      }
      if (st.phase === "rolledback") {
        dispatch("unhealthy", "completing an interrupted rollback");
        return;
      }
      st.phase = "trial";
      st.bootCount++;
      save(st);
      if (st.bootCount > board.trial.maxBoots) {
        dispatch("unhealthy", "booted " + (st.bootCount - 1) + " times without becoming healthy");
        return;
      }
      ports.system.log("ota: trial boot " + st.bootCount + " of " + st.version + " (" + mode + ")");
      armTimer(board.trial.healthyWithinMs, "unhealthy"); // rollBack words the reason when it fires
      return;
    }
    case "confirmTrial": {
      armTimer();
      const st = saved!;
      if (__APP__ && st.app) ports.process!.removeListener("uncaughtException", job as (e: unknown) => void);
      else if (board.bootloaderRollback) ports.system.setOtaValid(true);
      st.phase = "confirmed";
      save(st);
      // the previous application only once the journal no longer names it for a rollback
      if (__APP__ && st.app) ports.storage!.erase(APP_FILE + st.previousSlot);
      const t = task;
      task = null;
      // "done" until the broker acknowledges it; only then is the journal cleared (survives reboots).
      link.publish(otaReport("done", st.version, { taskId: st.taskId, fwType: st.fwType }), 1, () => {
        if (saved === st) save(null);
      });
      if (__APP__ && t && t.waited) job("onConnected");
      return;
    }
    case "rollBack": {
      // No reason given: the trial's deadline passed.
      const st = saved!;
      if (__APP__ && st.app) {
        // The new application ran (and may have left timers, listeners, pins): the previous one
        // starts clean after a reboot, which the journal now names. `data`: the reason's number.
        ports.process!.removeListener("uncaughtException", job as (e: unknown) => void);
        st.phase = "rolledback";
        st.why = (data as number) || 2;
        save(st);
        ports.system.log("ota: rolling back application " + st.version);
        link.reboot();
        return;
      }
      const reason = (data as string) || (uplinkOk ? "the application did not say it is healthy" : "no working uplink") + " within " + board.trial.healthyWithinMs + " ms";
      ports.system.log("ota: rolling back: " + reason);
      switchTo(st.previousSlot, st, "back");
      link.reboot();
      return;
    }
    case "reportFailure": {
      const f = data as Failure;
      const t = task;
      const st = saved;
      // a partial or refused application file goes before the journal forgets it
      if (__APP__ && st && st.app && appSlot !== st.targetSlot) ports.storage!.erase(APP_FILE + st.targetSlot);
      if (st && st.phase !== "failed") {
        if (st.failedMd5Count > 0) {
          // Keep the count so this md5 is refused after its second failure.
          st.phase = "failed";
          save(st);
        } else save(null);
      }
      if (t) link.publish(otaReport("fail", t.version, { taskId: t.taskId, fwType: t.fwType }, f.code, f.msg), 1);
      task = null;
      if (__APP__ && t && t.waited) job("onConnected");
      return;
    }
    case "refuseUpdate": {
      const msg = data as UpdateFirmware;
      return link.publish(otaReport("fail", msg.version, { taskId: msg.taskId, fwType: msg.fwType }, -5, failMessage(-5, "flash layout unusable: " + layoutError)), 1);
    }
  }
}

/**
 * The slot writer's and the download's callbacks in one function, so the preflight, the
 * progress report and the progress note are no closures of their own: a position as bytes
 * arrive, the image's first bytes before anything is erased (preflight), a request's outcome,
 * or nothing: the note timer.
 */
function onDownload(x?: number | Uint8Array | SpanOutcome): void {
  if (typeof x === "number") {
    // bytes arrived: a progress report when one is due
    const job = task!;
    const now = ports.clock.now();
    const p = progressDue(percentOf(x, job.fileSize), now, reported, reportedAt, board.progress.minStepPercent, board.progress.minIntervalMs);
    if (p >= 0) {
      reported = p;
      reportedAt = now;
      link.publish(otaReport("downloading", job.version, { taskId: job.taskId, fwType: job.fwType }, p), 0);
      ports.system.emit("OTA", { state: state, version: job.version, percent: p });
    }
    // A new 3 KiB resume point goes to the journal from a 0 ms timer: Espruino runs it before
    // it reads the socket again, with no chunk, request or writer frame in memory beside the
    // journal write (written here, inside the socket's data event, that was the update's peak).
    const r = writer && writer.resumePoint[0];
    if (!noting && r && r % RESUME_BYTES === 0 && r !== saved!.offset) {
      noting = true;
      ports.clock.after(0, onDownload);
    }
    return;
  }
  const o = x as SpanOutcome | undefined;
  if (!o) {
    // the note timer: nothing to note once the download is over
    noting = false;
    if (!writer) return;
  }
  // Before the first erase: refuse an image that cannot run here.
  if (o && !o.kind) {
    const job = task!;
    if (!__APP__ || !saved!.app) {
      preflightImage(x as Uint8Array, board.chip, layout!.target.size, job.fileSize, board.image.projectName);
      return;
    }
    // an application package: its header line, with the version the push announced
    const b = x as Uint8Array;
    let t = "";
    for (let i = 0; i < b.length && i < 80; i++) t += String.fromCharCode(b[i]);
    const h = formats().appHeader(t);
    if (typeof h === "string" || h[0] !== job.version) throw otaError("APP_PACKAGE", typeof h === "string" ? h : "the package is version " + h[0] + ", the push announced " + job.version);
    return;
  }
  // A failed request (restart, retry) counts against the streak and is journaled in full.
  let failed = false;
  if (o)
    switch (o.kind) {
      case "not-found":
        return dispatch("failed", { code: -2, msg: failMessage(-2, "HTTP 404 for the firmware URL") });
      case "rejected":
        return dispatch("failed", { code: -5, msg: failMessage(-5, o.reason) });
      case "restart":
        ports.system.log("ota: restarting download: " + o.reason);
        md5 = ports.md5.create();
        openWriter(0);
        failed = true;
        break;
      case "retry":
        ports.system.log("ota: request failed: " + o.reason);
        failed = true;
      // falls through: some bytes may have arrived first
      case "progress":
        // past the high-water mark: progress, so the failure streak starts again
        if ((o.kind === "progress" || o.progressed) && writer!.position > highWater) {
          highWater = writer!.position;
          streak = 0;
        }
    }
  const st = saved!;
  if (failed) {
    streak++;
    st.attempts++;
  }
  // The writer's resume point into the journal (written out here, not a function of its own: one
  // function fewer for the whole job): a small progress note when only the point moved.
  const r = writer!.resumePoint; // sign: [offset, md5 state], never past the image end's sector
  if (failed || st.offset !== r[0] || st.phase !== "downloading") {
    st.offset = r[0];
    st.md5State = r[1];
    saveOtaState(journal, st, !failed);
  }
  if (!o) return;
  if (o.kind === "progress") return dispatch("span-end");
  // Verify and switch on a timer, not here: this runs inside the socket's last data event,
  // under the request's and the writer's frames and the last chunk, all of which Espruino
  // keeps until they return (measured on the ESP32 format: that was the update's peak).
  if (o.kind === "complete") return armTimer(0, "complete");
  if (o.kind === "url-expired") return dispatch("url-expired");
  const reason = (o as { reason: string }).reason;
  const d = board.download;
  if (streak > d.retryBudget) {
    dispatch("failed", { code: -1, msg: failMessage(-1, "no progress after " + d.retryBudget + " retries (" + st.attempts + " failed requests for this update in all); last: " + reason) });
    return;
  }
  const wait = backoffDelay(streak - 1, d.backoffMinMs, d.backoffMaxMs, (ports.system.random() >>> 0) / 4294967296, o.kind === "retry" ? o.retryAfterMs : undefined);
  dispatch("retry", wait);
}

// ---- actions' helpers ----

function openWriter(offset: number): void {
  const L = layout!;
  const job = task!;
  const st = saved!;
  // an application: its file through appFlash, which writes nothing but that file
  const guard = __APP__ && st.app
    ? appFlash(ports.storage!, st.targetSlot, job.fileSize)
    : new GuardedFlash(ports.flash, {
        chipSize: board.flash.size,
        allowed: [L.target],
        forbidden: protectedRegions(board.partitionTable.offset, L.running),
      });
  // onDownload takes the preflight of the first bytes (slot-writer.ts)
  writer = SlotWriter(guard, ports.bytes, md5!, st.app ? 0 : L.target.offset, job.fileSize, offset, onDownload);
  download = Download(ports, board, writer, job.fileSize, job.url, onDownload);
}

/**
 * Points otadata at `slot` power-safely. "trial" (a new one) and "again" (the same trial, its
 * boot count kept) journal "switching" before and "trial" after; "back" (a rollback to the
 * previous image) journals "rolledback" first: the previous image, once booted, sees it and
 * reports fail -5, and a power cut before the switch completes makes this image finish it.
 */
function switchTo(slot: number, st: OtaState, how: "trial" | "again" | "back"): void {
  st.phase = how === "back" ? "rolledback" : "switching";
  // an application's switch is the journal record alone ("trial" names the new file)
  if (!st.app) {
    save(st);
    // in the formats module; a function of its own, so that the plan and the guard's regions are
    // gone before the next journal write (Espruino keeps a function's locals until it returns)
    formats().applyOtadata(board, ports.flash, ports.md5, layout!.running, slot, how === "back");
  }
  if (how === "back") return;
  st.phase = "trial";
  if (how === "trial") st.bootCount = 0;
  save(st);
}

/** Writes `st` to the journal; null clears it (and the job may have become quiet). */
function save(st: OtaState | null): void {
  if (st) saveOtaState(journal, st);
  else journal.clear();
  saved = st;
  if (!st) link.check();
}

/** Cancels the job's timer and, given an event, arms it to dispatch that event in `ms`. */
function armTimer(ms?: number, ev?: Event): void {
  const clock = ports.clock;
  if (timer) clock.cancel(timer);
  timer = 0;
  if (ev)
    timer = clock.after(ms!, () => {
      timer = 0;
      dispatch(ev);
    });
}
