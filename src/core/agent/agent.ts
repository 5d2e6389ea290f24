// The OTA agent: Tencent IoT Hub's OTA protocol over MQTT, a resumable Range download
// into the inactive slot with the MD5 midstate journaled in flash, the otadata switch and
// a trial boot of the new image. Control flow is the table in machine.ts: every event goes
// through dispatch(), which looks up (state, event) and runs the row's action.
import type { BoardConfig } from "../board";
import type { Provision } from "../provision";
import type { Md5, Ports, TimerId } from "../ports";
import { isOtaError } from "../errors";
import { findTransition, Action, Event, State } from "./machine";
import { Layout, readLayout, slotByOffset } from "./layout";
import { SlotWriter } from "./slot-writer";
import { Download, SpanOutcome } from "./download";
import { FlashRegion, GuardedFlash, protectedRegions, regionOf } from "../esp32/guarded-writer";
import { FlashOp, applyFlashOps, planSwitch, readOtadata, switchBack } from "../esp32/otadata";
import { chipIdOf, ImageVerifier, preflightImage } from "../esp32/app-image";
import { Journal } from "../journal/journal";
import { OtaState, failuresOf, loadOtaState, md5Refused, sameUpdate, saveOtaState } from "../journal/ota-state";
import { utf8Decode } from "../mqtt/packets";
import type { Job, Link } from "./session";
import {
  Echo,
  FailCode,
  InvalidUpdate,
  UpdateFirmware,
  failMessage,
  parseDownMessage,
  reportBurning,
  reportDone,
  reportDownloading,
  reportFail,
  reportVersion,
} from "../protocol/messages";
import { ProgressThrottle, percentOf } from "../protocol/progress";
import { backoffDelay } from "../backoff";
import { md5Bytes } from "../crypto/md5";
import { toHex } from "../crypto/hex";
import { signCheck } from "../sign/check"; // sign

/** Limits on what the cloud may send (an update_firmware is a few hundred bytes). */
const MESSAGE_LIMITS = { maxUrlLength: 2048, maxVersionLength: 32, maxFileSize: 16777216 };
/** Reboot this long after "burning" even if its PUBACK never comes: the switch is already durable. */
const REBOOT_GRACE_MS = 5000;

interface Failure {
  code: FailCode;
  msg: string;
}

function errorText(e: unknown): string {
  return isOtaError(e) ? e.message : e && (e as Error).message ? (e as Error).message : String(e);
}

export class Agent implements Job {
  state: State = "starting";
  private board: BoardConfig;
  private id: Provision;
  private ports: Ports;
  private layout: Layout | null = null;
  private layoutError = "";
  private journal: Journal;
  /** The last state written to the journal (null: empty). */
  private saved: OtaState | null = null;
  private link: Link;
  private queue: { ev: Event; data: unknown }[] = [];
  private dispatching = false;
  private timer: TimerId = 0;

  // the update in progress
  private job: UpdateFirmware | null = null;
  private md5: Md5 | null = null;
  private writer: SlotWriter | null = null;
  private download: Download | null = null;
  private throttle: ProgressThrottle | null = null;
  /** Failed requests in a row without new progress; reset only past the high-water mark. */
  private streak = 0;
  /** The furthest position this job has reached: a restart that merely re-reaches it is no progress. */
  private highWater = 0;

  constructor(board: BoardConfig, ports: Ports, link: Link) {
    this.board = board;
    this.id = link.id;
    this.link = link;
    this.ports = ports;
    this.journal = new Journal(new GuardedFlash(ports.flash, { chipSize: board.flash.size, allowed: [{ name: "journal", offset: board.journal.offset, size: board.journal.size }], forbidden: [] }), board.journal);
  }

  start(): void {
    const log = this.ports.system.log;
    try {
      this.layout = readLayout(this.board, this.ports.flash, md5Bytes);
      this.saved = loadOtaState(this.journal);
      log("ota: running " + this.layout.running.label + " version " + this.layout.runningVersion + ", updates go to " + this.layout.target.label);
    } catch (e) {
      this.layoutError = errorText(e);
      log("ota: flash layout unusable, updates disabled: " + this.layoutError);
    }
    if (this.saved && this.saved.phase === "confirmed") this.sendDone(this.saved);
    if (!this.layout) this.dispatch("layout-bad");
    else if (this.saved && ["verified", "switching", "trial", "rolledback"].indexOf(this.saved.phase) >= 0) this.dispatch("resume-trial");
    else this.dispatch("booted");
  }

  // ---- events in ----

  private dispatch(ev: Event, data?: unknown): void {
    this.queue.push({ ev: ev, data: data });
    if (this.dispatching) return;
    this.dispatching = true;
    while (this.queue.length) {
      const item = this.queue.shift()!;
      const row = findTransition(this.state, item.ev);
      if (!row) {
        this.ports.system.log("ota: " + item.ev + " ignored in state " + this.state);
        continue;
      }
      this.ports.system.log("ota: " + this.state + " --" + item.ev + "--> " + row[2]);
      this.state = row[2];
      try {
        this.act(row[3], item.data);
      } catch (e) {
        // An action that throws ends the job with fail -5, once: if reporting the failure
        // throws too (flash or link gone), it is logged and dropped, never retried in a loop.
        this.ports.system.log("ota: " + row[3] + " failed: " + errorText(e));
        if (item.ev !== "failed") this.queue.push({ ev: "failed", data: { code: -5, msg: failMessage(-5, errorText(e)) } });
      }
    }
    this.dispatching = false;
    this.link.check();
  }

  private act(a: Action, data: unknown): void {
    switch (a) {
      case "enterIdle":
        return;
      case "startJob":
        return this.startJob(data as UpdateFirmware);
      case "takeFreshUrl":
        return this.takeFreshUrl(data as UpdateFirmware);
      case "requestSpan":
        return this.requestSpan();
      case "scheduleRetry":
        return this.scheduleRetry(data as number);
      case "askFreshUrl":
        return this.askFreshUrl();
      case "verifyAndSwitch":
        return this.verifyAndSwitch();
      case "beginTrial":
        return this.beginTrial();
      case "confirmTrial":
        return this.confirmTrial();
      case "rollBack":
        return this.rollBack(data as string);
      case "reportFailure":
        return this.reportFailure(data as Failure);
      case "refuseUpdate":
        return this.publishFail((data as UpdateFirmware).version, { code: -5, msg: failMessage(-5, "flash layout unusable: " + this.layoutError) }, data as UpdateFirmware);
    }
  }

  /** True when nothing is in flight: the session may drop this job. */
  quiet(): boolean {
    return (this.state === "idle" || this.state === "disabled") && !this.job && !this.saved && !this.timer && !this.dispatching;
  }

  runningVersion(): string {
    return this.layout ? this.layout.runningVersion : "unknown";
  }

  /** A message on the update topic. */
  onMessage(payload: string): void {
    const log = this.ports.system.log;
    let msg;
    try {
      msg = parseDownMessage(utf8Decode(payload), MESSAGE_LIMITS);
    } catch (e) {
      log("ota: bad message ignored: " + errorText(e));
      // An update we can name but not use gets a fail report, or the platform task would
      // stay pending and be re-pushed forever. Not while that version is being downloaded.
      const v = (e as InvalidUpdate).version;
      const j = this.job;
      if (v && !(j && j.version === v)) this.publishFail(v, { code: -5, msg: failMessage(-5, "unusable update_firmware: " + errorText(e)) }, null);
      return;
    }
    if (msg.type === "report_version_rsp") {
      log("ota: report_version_rsp " + msg.resultCode + " " + msg.resultMsg);
      return;
    }
    if (msg.type === "ignored") {
      log("ota: " + msg.reason);
      return;
    }
    const L = this.layout;
    if (L && msg.version === L.runningVersion) {
      // Already running it: the answer is the version report, never a download.
      this.publishVersion();
      return;
    }
    if (md5Refused(this.saved, msg.md5)) {
      this.publishFail(msg.version, { code: -4, msg: failMessage(-4, "this image failed verification twice; not downloading it again") }, msg);
      return;
    }
    const j = this.job;
    this.dispatch(j && j.version === msg.version && j.md5 === msg.md5 && j.fileSize === msg.fileSize ? "same-update" : "update", msg);
  }

  onConnected(): void {
    // report_version at every connect: it is also how the cloud learns to re-push a
    // pending update, and its PUBACK is the trial image's proof of a working uplink.
    this.publishVersion(() => {
      if (this.state === "trial" && this.layout && this.saved && this.layout.running.offset === this.saved.targetSlot) this.dispatch("healthy");
    });
  }

  // ---- actions ----

  private startJob(msg: UpdateFirmware): void {
    this.stopDownload();
    const L = this.layout!;
    if (msg.fileSize > L.target.size) {
      this.job = msg;
      this.dispatch("failed", { code: -5, msg: failMessage(-5, "image of " + msg.fileSize + " bytes does not fit " + L.target.label + " (" + L.target.size + " bytes)") });
      return;
    }
    this.job = msg;
    const s = this.saved;
    let st: OtaState;
    if (s && s.phase === "downloading" && sameUpdate(s, msg.version, msg.md5, msg.fileSize) && s.targetSlot === L.target.offset) {
      st = s; // resume: same (version, md5, size) into the same slot
      this.md5 = this.ports.md5.restore(s.md5State);
      this.ports.system.log("ota: resuming " + msg.version + " at " + s.offset + " of " + msg.fileSize);
    } else {
      this.md5 = this.ports.md5.create();
      st = {
        phase: "downloading",
        version: msg.version,
        md5: msg.md5,
        size: msg.fileSize,
        targetSlot: L.target.offset,
        offset: 0,
        md5State: this.md5.saveState(),
        attempts: 0,
        freshUrlRequests: 0,
        failedMd5Count: failuresOf(s, msg.md5),
        previousSlot: L.running.offset,
        bootCount: 0,
      };
    }
    st.taskId = msg.taskId === undefined ? undefined : String(msg.taskId);
    st.fwType = msg.fwType;
    this.save(st);
    this.streak = 0;
    this.highWater = st.offset;
    this.openWriter(st.offset);
    this.throttle = new ProgressThrottle(this.board.progress.minStepPercent, this.board.progress.minIntervalMs);
    this.progress(st.offset);
    this.requestSpan();
  }

  private openWriter(offset: number): void {
    const L = this.layout!;
    const job = this.job!;
    const guard = new GuardedFlash(this.ports.flash, {
      chipSize: this.board.flash.size,
      allowed: [regionOf(L.target)],
      forbidden: protectedRegions(this.board.partitionTable.offset, L.running),
    });
    const board = this.board;
    this.writer = new SlotWriter(guard, this.ports.bytes, this.md5!, L.target.offset, job.fileSize, offset, (first: Uint8Array) => {
      // Before the first erase: refuse an image that cannot run here.
      preflightImage(first, chipIdOf(board.chip), L.target.size, job.fileSize, board.image.projectName);
    });
    this.download = new Download(this.ports, this.board, this.writer, job.fileSize, job.url, (pos: number) => this.progress(pos));
  }

  private takeFreshUrl(msg: UpdateFirmware): void {
    this.job = msg;
    if (!this.download) return;
    this.download.url = msg.url;
    this.cancelTimer();
    if (!this.download.active) this.requestSpan();
  }

  private requestSpan(): void {
    this.download!.requestSpan((o: SpanOutcome) => this.onSpan(o));
  }

  private onSpan(o: SpanOutcome): void {
    const d = this.board.download;
    switch (o.kind) {
      case "progress":
        this.noteProgress();
        this.checkpoint();
        return this.dispatch("span-end");
      case "complete":
        this.checkpoint();
        return this.dispatch("complete");
      case "url-expired":
        this.checkpoint();
        return this.dispatch("url-expired");
      case "not-found":
        return this.dispatch("failed", { code: -2, msg: failMessage(-2, "HTTP 404 for the firmware URL") });
      case "rejected":
        return this.dispatch("failed", { code: -5, msg: failMessage(-5, o.reason) });
      case "restart":
        this.ports.system.log("ota: restarting download: " + o.reason);
        this.md5 = this.ports.md5.create();
        this.openWriter(0);
        break;
      case "retry":
        this.ports.system.log("ota: request failed: " + o.reason);
        if (o.progressed) this.noteProgress();
        break;
    }
    this.streak++;
    const st = this.saved!;
    st.attempts++;
    this.checkpoint();
    if (this.streak > d.retryBudget) {
      this.dispatch("failed", { code: -1, msg: failMessage(-1, "no progress after " + d.retryBudget + " retries; last: " + o.reason) });
      return;
    }
    const wait = backoffDelay(this.streak - 1, d.backoffMinMs, d.backoffMaxMs, (this.ports.system.random() >>> 0) / 4294967296, o.kind === "retry" ? o.retryAfterMs : undefined);
    this.dispatch("retry", wait);
  }

  private noteProgress(): void {
    const p = this.writer!.position;
    if (p > this.highWater) {
      this.highWater = p;
      this.streak = 0;
    }
  }

  private scheduleRetry(ms: number): void {
    this.armTimer(ms, () => this.dispatch("timer"));
  }

  private askFreshUrl(): void {
    const st = this.saved!;
    const limit = this.board.download.freshUrlRequests;
    if (st.freshUrlRequests >= limit) {
      this.dispatch("failed", { code: -3, msg: failMessage(-3, "HTTP 403 and " + limit + " fresh URLs asked for did not help") });
      return;
    }
    st.freshUrlRequests++;
    this.save(st);
    // The platform re-pushes update_firmware (with a newly signed URL) to a device that
    // reports a version other than the task's target.
    this.publishVersion();
    this.armTimer(Math.min(this.board.download.requestTimeoutMs, 60000), () => this.dispatch("timer"));
  }

  private verifyAndSwitch(): void {
    const job = this.job!;
    const st = this.saved!;
    const got = toHex(this.md5!.digest());
    this.md5 = null;
    // sign: once the MD5 holds, the file must carry this product's tag (src/core/sign)
    const refused = got === job.md5 ? signCheck(this.board, this.id, this.ports, this.layout!.target.offset, job.fileSize, this.writer!.imageMd5, job.version, this.layout!.runningVersion) : "";
    if (got !== job.md5 || refused) {
      st.failedMd5Count++;
      st.phase = "failed";
      st.offset = 0;
      st.md5State = this.ports.md5.create().saveState();
      this.save(st);
      this.dispatch("failed", { code: -4, msg: refused || failMessage(-4, "expected " + job.md5 + ", flash holds " + got) });
      return;
    }
    const finish = () => {
      st.offset = job.fileSize; // sign: the journaled resume point stopped short of the image end
      st.phase = "verified";
      this.save(st);
      // "burning" goes out first; the reboot waits for its PUBACK (the switch is durable by then).
      this.publish(reportBurning(job.version, this.echo()), 1, this.rebootAfter());
      this.switchTo(this.layout!.target.offset, st, true);
    };
    if (this.board.image.verifySha256) this.checkImage(job.fileSize, finish);
    else finish(); // the MD5 proved the bytes; the bootloader checks checksum and hash at every boot
  }

  /**
   * Re-reads the written slot and checks the ESP32 image structure (checksum, appended
   * SHA-256), a few sectors per event-loop turn: in JS this is slow on an ESP32 and must
   * not starve MQTT. A defect fails the job with -5.
   */
  private checkImage(size: number, then: () => void): void {
    const v = new ImageVerifier(true);
    const slot = this.layout!.target.offset;
    let off = 0;
    const step = () => {
      try {
        for (let k = 0; k < 4 && off < size; k++, off += 4096) {
          const n = Math.min(4096, size - off);
          v.feed(this.ports.flash.read(slot + off, n), 0, n);
        }
        if (off < size) {
          this.ports.clock.after(0, step);
          return;
        }
        v.verify();
        then();
      } catch (e) {
        this.dispatch("failed", { code: -5, msg: failMessage(-5, "image check: " + errorText(e)) });
      }
    };
    step();
  }

  /** Points otadata at `slot` power-safely, journaling before (switching) and after (trial). */
  private switchTo(slot: number, st: OtaState, newTrial: boolean): void {
    const L = this.layout!;
    const target = slotByOffset(L.table, slot)!;
    st.phase = "switching";
    this.save(st);
    this.applyOtadata(planSwitch(L.table, readOtadata(this.ports.flash, L.table.otadata!), target, this.board.bootloaderRollback));
    st.phase = "trial";
    if (newTrial) st.bootCount = 0;
    this.save(st);
  }

  /**
   * At boot with a switch or trial in the journal: finish an interrupted switch or rollback,
   * re-arm a trial the bootloader aborted without a verdict, report a rollback, or start
   * judging the new image.
   */
  private beginTrial(): void {
    const L = this.layout!;
    const st = this.saved!;
    const mode = this.board.bootloaderRollback ? "bootloader rollback" : "agent trial";
    this.job = { type: "update_firmware", version: st.version, md5: st.md5, fileSize: st.size, url: "", taskId: st.taskId, fwType: st.fwType };
    const onTarget = L.running.offset === st.targetSlot;
    if (!onTarget && (st.phase === "verified" || st.phase === "switching")) {
      // Power was cut between a verified image and a finished switch: finish it.
      this.ports.system.log("ota: completing an interrupted slot switch");
      this.switchTo(st.targetSlot, st, true);
      this.rebootAfter()();
      return;
    }
    if (!onTarget && st.phase === "trial" && this.board.bootloaderRollback && st.bootCount < this.board.trial.maxBoots) {
      // The bootloader aborted a trial that never reached a verdict (a power cut or a crash
      // before confirmation). That is no proof of a bad image: try again, within maxBoots.
      st.bootCount++;
      this.ports.system.log("ota: trial of " + st.version + " aborted by the bootloader; switching again (" + st.bootCount + "/" + this.board.trial.maxBoots + ")");
      this.switchTo(st.targetSlot, st, false);
      this.rebootAfter()();
      return;
    }
    if (!onTarget) {
      this.dispatch("failed", { code: -5, msg: failMessage(-5, "image " + st.version + " did not prove healthy; back on " + L.running.label + " running " + L.runningVersion + " (" + mode + ")") });
      return;
    }
    if (st.phase === "rolledback") {
      this.dispatch("unhealthy", "completing an interrupted rollback");
      return;
    }
    st.phase = "trial";
    st.bootCount++;
    this.save(st);
    if (st.bootCount > this.board.trial.maxBoots) {
      this.dispatch("unhealthy", "booted " + (st.bootCount - 1) + " times without becoming healthy");
      return;
    }
    this.ports.system.log("ota: trial boot " + st.bootCount + " of " + st.version + " (" + mode + ")");
    this.armTimer(this.board.trial.healthyWithinMs, () => this.dispatch("unhealthy", "no working uplink within " + this.board.trial.healthyWithinMs + " ms"));
  }

  private confirmTrial(): void {
    this.cancelTimer();
    if (this.board.bootloaderRollback) this.ports.system.setOtaValid(true);
    const st = this.saved!;
    st.phase = "confirmed";
    this.save(st);
    this.job = null;
    this.sendDone(st);
  }

  /** "done" until the broker acknowledges it; only then is the journal cleared (survives reboots). */
  private sendDone(st: OtaState): void {
    this.publish(reportDone(st.version, { taskId: st.taskId, fwType: st.fwType }), 1, () => {
      if (this.saved === st) this.clearJournal();
    });
  }

  private rollBack(reason: string): void {
    const L = this.layout!;
    const st = this.saved!;
    this.ports.system.log("ota: rolling back: " + reason);
    const previous = slotByOffset(L.table, st.previousSlot)!;
    // Journaled first: the previous image, once booted, sees "rolledback" and reports fail
    // -5; a power cut before the switch below completes makes this image finish it.
    st.phase = "rolledback";
    this.save(st);
    this.applyOtadata(switchBack(L.table, readOtadata(this.ports.flash, L.table.otadata!), previous, this.board.bootloaderRollback));
    this.ports.system.reboot();
  }

  private reportFailure(f: Failure): void {
    this.stopDownload();
    const job = this.job;
    const st = this.saved;
    if (st && st.phase !== "failed") {
      if (st.failedMd5Count > 0) {
        // Keep the count so this md5 is refused after its second failure.
        st.phase = "failed";
        this.save(st);
      } else this.clearJournal();
    }
    if (job) this.publishFail(job.version, f, job);
    this.job = null;
  }

  // ---- helpers ----

  /**
   * Runs an otadata plan through a guard that allows exactly the sectors the plan touches
   * and forbids every other partition, so a planning slip cannot reach an app slot.
   */
  private applyOtadata(ops: FlashOp[]): void {
    const L = this.layout!;
    const allowed: FlashRegion[] = [];
    for (let i = 0; i < ops.length; i++) {
      const sector = ops[i].offset - (ops[i].offset % 4096);
      if (!allowed.some((r) => r.offset === sector)) allowed.push({ name: "otadata copy", offset: sector, size: 4096 });
    }
    const forbidden = protectedRegions(this.board.partitionTable.offset, L.running);
    const parts = L.table.partitions;
    for (let i = 0; i < parts.length; i++) if (parts[i] !== L.table.otadata) forbidden.push(regionOf(parts[i]));
    applyFlashOps(new GuardedFlash(this.ports.flash, { chipSize: this.board.flash.size, allowed: allowed, forbidden: forbidden }), ops);
  }

  private checkpoint(): void {
    const st = this.saved!;
    const r = this.writer!.resumePoint(); // sign: [offset, md5 state], never past the image end's sector
    if (st.offset === r[0] && st.phase === "downloading") return;
    st.offset = r[0];
    st.md5State = r[1];
    this.save(st);
  }

  private progress(position: number): void {
    const job = this.job!;
    const p = percentOf(position, job.fileSize);
    if (this.throttle!.next(p, this.ports.clock.now())) this.publish(reportDownloading(job.version, p, this.echo()), 0);
  }

  private save(st: OtaState): void {
    saveOtaState(this.journal, st);
    this.saved = st;
  }

  private clearJournal(): void {
    this.journal.clear();
    this.saved = null;
    this.link.check();
  }

  private echo(): Echo {
    const j = this.job;
    return j ? { taskId: j.taskId, fwType: j.fwType } : {};
  }

  private stopDownload(): void {
    this.cancelTimer();
    if (this.download) this.download.abort();
    this.download = null;
    this.writer = null;
  }

  private armTimer(ms: number, fn: () => void): void {
    this.cancelTimer();
    this.timer = this.ports.clock.after(ms, () => {
      this.timer = 0;
      fn();
    });
  }

  private cancelTimer(): void {
    if (this.timer) this.ports.clock.cancel(this.timer);
    this.timer = 0;
  }

  /** Reboots once `ack` has fired or after REBOOT_GRACE_MS, whichever comes first. */
  private rebootAfter(): () => void {
    let done = false;
    const go = () => {
      if (!done) {
        done = true;
        this.ports.system.reboot();
      }
    };
    this.ports.clock.after(REBOOT_GRACE_MS, go);
    return go;
  }

  private publish(payload: string, qos: 0 | 1, onAck?: () => void): void {
    this.link.publish(payload, qos, onAck);
  }

  private publishVersion(onAck?: () => void): void {
    this.publish(reportVersion(this.runningVersion()), 1, onAck);
  }

  private publishFail(version: string, f: Failure, echoFrom: UpdateFirmware | null): void {
    this.publish(reportFail(version, f.code, f.msg, echoFrom ? { taskId: echoFrom.taskId, fwType: echoFrom.fwType } : {}), 1);
  }
}
