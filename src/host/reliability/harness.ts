// One scenario's simulation, driven step by step: startRun (broker, cloud, firmware server,
// the board running the real bundle), plus the audit and boot checks of invariants.ts wired
// in before the first boot, and helpers to push updates, send raw messages and wait.
// observe() turns what happened into an Observed for the runner.
import { simProvision } from "../boards/load-board";
import { createHash } from "node:crypto";
import type { BoardConfig } from "../../core/board";
import { startRun, type OtaRun, type OtaRunOptions } from "../sim/ota-run";
import { SIGN_TRAILER } from "../../core/sign/verify";
import type { DeviceRecord, FirmwareOffer } from "../cloud/tencent-ota-cloud";
import { story } from "../sim/story";
import { FlashAudit, allowedRegions, changedOutside, checkBootable, emptyCounts, type Region } from "./invariants";
import type { Expected, InvariantCounts, Observed, Outcome } from "./types";

export const md5Hex = (b: Uint8Array) => createHash("md5").update(b).digest("hex");
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** A wait that does not keep the process alive on its own. */
const grace = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export interface HarnessOptions extends Pick<OtaRunOptions, "board" | "bundle" | "broker" | "imageSize" | "seed" | "broken" | "toVersion"> {
  /** Known good images besides run.image (e.g. a second update's image). */
  extraImages?: Uint8Array[];
}

/** True once the cloud saw the update of `version` end (done from the new image, or fail). */
export function ended(d: DeviceRecord, version: string): boolean {
  return d.reports.some((r) => r.type === "report_progress" && r.report?.version === version && (r.report.progress?.state === "done" || r.report.progress?.state === "fail"));
}

export class Harness {
  readonly counts: InvariantCounts = emptyCounts();
  readonly audit: FlashAudit;
  readonly allowed: Region[];
  readonly images: Uint8Array[];
  readonly problems: string[] = [];
  readonly facts: string[] = [];
  /** Per-run values a scenario's steps hand to each other. */
  readonly scratch: Record<string, any> = {};
  /** Set by power-cut drivers. */
  powerCuts = 0;
  /** The version run.image carries. */
  readonly version: string;
  /** Whether the normal update pushed after a hostile input completed (undefined: not tried). */
  thenUpdated: boolean | undefined;
  /** The offer of the last deploy(). */
  lastOffer: FirmwareOffer | null = null;
  private sign = 0;
  /** Flash right after the first boot (see powerOn). */
  private booted: Uint8Array | null = null;
  private cleanups: (() => Promise<void> | void)[] = [];

  private constructor(
    readonly run: OtaRun,
    opts: HarnessOptions,
    onOp?: (kind: "erase" | "write", offset: number, length: number) => void,
  ) {
    const { sim, board, initialFlash } = run;
    this.version = opts.toVersion ?? "1.1.0";
    this.images = [run.image, ...(opts.extraImages ?? [])];
    this.allowed = allowedRegions(board, initialFlash);
    this.audit = new FlashAudit(sim.flash, board, this.allowed, onOp);
    // Every boot: the slot the bootloader picks must hold a known image (checked before the
    // bundle runs, on the flash exactly as the power-up finds it).
    const device = sim.device;
    const boot = device.boot;
    device.boot = () => {
      if (!sim.flash.poweredOff) {
        checkBootable(this.counts, "boot " + (device.boots + 1), sim.flash.bytes, initialFlash, board, this.images);
      }
      boot.call(device);
    };
  }

  static async start(opts: HarnessOptions = {}, onOp?: (kind: "erase" | "write", offset: number, length: number) => void): Promise<Harness> {
    // the image is a signature trailer short of 192 KB, so the served (signed) file is 192 KB (common.ts IMAGE)
    const run = await startRun({ imageSize: 192 * 1024 - SIGN_TRAILER, ...opts });
    run.server.setFile("/fw.bin", run.image);
    return new Harness(run, opts, onOp);
  }

  get board(): BoardConfig {
    return this.run.board;
  }

  get record(): DeviceRecord {
    const m = simProvision(this.board);
    return this.run.cloud.device(m.productId, m.deviceName);
  }

  /** Powers the board on and waits for its first report_version. */
  async powerOn(): Promise<void> {
    this.run.sim.powerOn();
    await this.waitFor((d) => d.reportedVersion !== undefined, 20000, "the first report_version");
    this.booted = this.run.sim.flash.snapshot();
  }

  /** The default offer: run.image as 1.1.0 at /fw.bin, every push with a freshly "signed" URL. */
  offer(over: Partial<FirmwareOffer> & { path?: string } = {}): FirmwareOffer {
    const { path = "/fw.bin", ...fields } = over;
    return {
      version: this.version,
      md5: md5Hex(this.run.image),
      size: this.run.image.length,
      url: () => this.run.server.url(path) + "?sign=" + ++this.sign,
      ...fields,
    };
  }

  deploy(offer: FirmwareOffer = this.offer()): FirmwareOffer {
    const m = simProvision(this.board);
    this.run.cloud.deploy(m.productId, m.deviceName, offer);
    this.lastOffer = offer;
    return offer;
  }

  /** Publishes a raw payload on the device's update topic (or `topic`). */
  sendRaw(payload: string | Buffer, topic?: string): void {
    const m = simProvision(this.board);
    this.run.cloud.sendRaw(m.productId, m.deviceName, payload, topic);
  }

  /** The JSON text of an update_firmware push (for duplicates and hand-made variants). */
  pushText(o: FirmwareOffer, url = o.url()): string {
    return JSON.stringify({ file_size: o.size, md5sum: o.md5, type: "update_firmware", url, version: o.version });
  }

  waitFor(pred: (d: DeviceRecord) => boolean, ms: number, what: string): Promise<DeviceRecord> {
    const m = simProvision(this.board);
    return this.run.cloud.waitFor(m.productId, m.deviceName, pred, ms, what);
  }

  /** Waits for the update of `version` to end (done from the new image, or fail). */
  waitEnded(version = "1.1.0", ms = 60000): Promise<DeviceRecord> {
    return this.waitFor((d) => ended(d, version), ms, "the update of " + version + " to end");
  }

  /** Bytes of firmware the server handed to the network, all requests. */
  get bytesFetched(): number {
    return this.run.server.requests.reduce((n, r) => n + r.bytesSent, 0);
  }

  /** Records a scenario-specific check. */
  check(ok: boolean, problem: string): void {
    if (!ok) this.problems.push(problem);
  }

  fact(s: string): void {
    this.facts.push(s);
  }

  /** Bytes of the slot at `label` in the current flash. */
  slotBytes(label: string, length: number): Uint8Array {
    const p = this.board.partitionTable.partitions.find((x) => x.label === label)!;
    return this.run.sim.flash.bytes.slice(p.offset, p.offset + length);
  }

  /**
   * Whether the partition `label` is byte for byte what it was when powerOn() returned (the
   * first boot's bootloader may have initialised otadata before that).
   */
  slotUntouched(label: string): boolean {
    const p = this.board.partitionTable.partitions.find((x) => x.label === label)!;
    const now = this.run.sim.flash.bytes.subarray(p.offset, p.offset + p.size);
    const was = (this.booted ?? this.run.initialFlash).subarray(p.offset, p.offset + p.size);
    for (let i = 0; i < now.length; i++) if (now[i] !== was[i]) return false;
    return true;
  }

  /**
   * Everything the runner needs: outcome of the update of `version` (or of a hostile
   * message), the compressed story, final boot state and the invariants.
   */
  observe(version: string, expected: Expected, extra: Partial<Observed> = {}): Observed {
    const { sim, board, initialFlash, server } = this.run;
    const d = this.record;
    const c = this.counts;
    const flash = sim.flash.snapshot();
    const final = checkBootable(c, "final state", flash, initialFlash, board, this.images);
    if (sim.bricked || sim.boots.some((b) => b.slot === null)) {
      c.unbootable++;
      c.details.push("a boot found no valid image (the simulated board is bricked)");
    }
    for (const o of this.audit.outside) c.details.push("write outside the allowed regions: " + o);
    const changed = changedOutside(initialFlash, flash, board, this.allowed);
    for (const ch of changed) c.details.push(ch);
    c.outsideWrites += this.audit.outside.length + changed.length;
    c.flashViolations += sim.flash.violations.length;
    for (const v of sim.flash.violations.slice(0, 5)) c.details.push("NOR violation: " + v);
    c.deviceViolations += sim.device.violations.length;
    for (const v of sim.device.violations.slice(0, 5)) c.details.push("device violation: " + v);
    c.uncaught += sim.device.uncaught.length;
    for (const v of sim.device.uncaught.slice(0, 5)) c.details.push("agent: " + v);

    const fails = d.reports.filter((r) => r.type === "report_progress" && r.report?.version === version && r.report.progress?.state === "fail");
    const done = d.reports.some((r) => r.type === "report_progress" && r.report?.version === version && r.report.progress?.state === "done");
    let outcome: Outcome = "ignored";
    let code: string | undefined;
    let msg: string | undefined;
    if (fails.length) {
      outcome = "failed";
      code = fails[fails.length - 1].report.progress.result_code;
      msg = fails[fails.length - 1].report.progress.result_msg;
    } else if (done) outcome = "done";
    else if (d.reports.some((r) => r.type === "report_progress" && r.report?.version === version)) outcome = "timeout"; // started, never ended
    const fetched = this.bytesFetched;
    if (expected.log) {
      // the clear error a hostile input got, as evidence in the report
      const line = sim.device.log.find((l) => expected.log!.test(l));
      if (line) this.facts.push("log: " + (line.length > 160 ? line.substring(0, 160) + "…" : line));
    }
    return {
      outcome,
      code,
      msg,
      story: story(d.reports, expected.storyVersions),
      runs: final.version,
      thenUpdated: this.thenUpdated,
      logMatched: expected.log ? sim.device.log.some((l) => expected.log!.test(l)) : undefined,
      problems: this.problems,
      facts: this.facts,
      metrics: {
        imageBytes: this.run.image.length,
        bytesFetched: fetched,
        refetched: Math.max(0, fetched - this.run.image.length),
        requests: server.requests.length,
        reboots: sim.device.boots - 1,
        powerCuts: this.powerCuts,
      },
      invariants: c,
      logTail: sim.device.log.slice(-25),
      ...extra,
    };
  }

  /** Runs `fn` when the harness closes (proxies, extra servers). */
  onClose(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  async close(): Promise<void> {
    for (const f of this.cleanups.splice(0)) await f();
    this.audit.stop();
    await this.run.close();
  }
}

/**
 * Runs `body` on a fresh harness and observes the update of `version` afterwards. A body
 * that throws (a wait that timed out) gives outcome "timeout" with the reason as a problem;
 * the invariants are checked either way.
 */
export async function withHarness(
  opts: HarnessOptions,
  expected: Expected,
  body: (h: Harness) => Promise<void>,
  o: { version?: string; onOp?: (kind: "erase" | "write", offset: number, length: number) => void } = {},
): Promise<Observed> {
  const h = await Harness.start(opts, o.onOp);
  try {
    let failure: string | null = null;
    try {
      await body(h);
    } catch (e) {
      failure = e instanceof Error ? e.message : String(e);
    }
    await Promise.race([h.run.server.settled(), grace(3000)]);
    const obs = h.observe(o.version ?? h.version, expected);
    if (failure !== null) {
      obs.outcome = "timeout";
      obs.problems.push(failure.length > 400 ? failure.substring(0, 400) + "..." : failure);
    }
    return obs;
  } finally {
    await h.close();
  }
}
