// The real-interpreter scenarios (real-board.ts): a full OTA, memory at every step, the
// longest blocking turn, re-hashing after a power cut; and a leak probe that runs several
// failing jobs in one boot and sees what each leaves behind.
import { createHash } from "node:crypto";
import { updateEnded } from "../sim/ota-run";
import { BoardTrouble, RealBoard, updateImage, type BootMemory, type LateTurn, type RealBoardOptions } from "./real-board";
import type { StubEvent } from "./device-stub";
import { slope } from "./stats";

export type { LateTurn, BootMemory };

export interface RealUpdateOptions extends RealBoardOptions {
  /** Default: the whole target slot of espruino-linux (64 KB). */
  imageSize?: number;
  /** Cut the power (SIGKILL) once this many image bytes are programmed (one cut). */
  powerCutAtBytes?: number;
  /** Cut the power once each of these many image bytes are programmed. */
  powerCutsAtBytes?: number[];
  /** The firmware server resets every connection after this many body bytes. */
  dropEvery?: number;
  timeoutMs?: number;
}

/** A real-interpreter run that could not go on, with where it stopped and the console's last lines. */
export class RealRunFailure extends Error {
  constructor(
    message: string,
    readonly tail: string[],
    readonly trouble: BoardTrouble | null,
    /** The application's longest timer gap until then (null: no application, or no tick). */
    readonly appMaxGapMs: number | null = null,
  ) {
    super(message);
  }
}

const maxGap = (rb: RealBoard) => (rb.appGaps.length ? Math.max(...rb.appGaps.map((g) => g.ms)) : null);

export interface RealUpdateResult {
  result: "done" | "failed";
  resultCode?: string;
  resultMsg?: string;
  imageBytes: number;
  bytesFetched: number;
  requests: number;
  boots: number;
  powerCuts: number;
  durationMs: number;
  /** Usage (blocks) with the agent connected and idle, just before the update was pushed (net of ballast). */
  idle: number;
  /** The same net of the bare interpreter and the stub: what the agent holds idle. */
  idleAgent: number;
  /** Highest usage above the interpreter and stub, from the push until the update ended, in any boot (download, verify, switch, trial boot). */
  peakAgent: number;
  /** Where peakAgent was seen. */
  peakAgentAt: string;
  /** Ballast and free JsVars of the first boot (heap model; 0 ballast: none). */
  ballast: number;
  freeAtStart: number;
  /** JsVars the application held (null: no application). */
  appHeld: number | null;
  /** Longest gap of the application's timer in any boot (null: no application, or no tick). */
  appMaxGapMs: number | null;
  appGaps: { boot: number; ms: number; tick: number }[];
  /** Where the application was installed, and notes on the install. */
  appFile: string | null;
  installNotes: string[];
  residentBytes: number;
  agentBootFiles: string[];
  /** Highest usage from the push until the download boot ended. */
  peakDuringDownload: number;
  /** The report that carried the peak: which flash operation, in which region. */
  peakAt: string;
  bootMemory: BootMemory[];
  /** Usage at each programmed sector of the image, in order (all boots). */
  perSector: number[];
  /** Least-squares growth of usage per programmed sector (blocks); about 0 when bounded. */
  growthPerSector: number;
  longestTurn: LateTurn | null;
  lateTurns: LateTurn[];
  /** Target-slot bytes read after a resume before the first new write (null: no resume happened). */
  rehashBytesOnResume: number | null;
  /** Image offsets the agent said it resumed at ("ota: resuming <version> at <offset>"). */
  resumedAt: number[];
  journalErases: number;
  slotErases: number;
  blockSize: number | null;
  boardFaults: { what: string; count: number }[];
  logTail: string[];
}

const md5Hex = (b: Uint8Array) => createHash("md5").update(b).digest("hex");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** "write journal+0x100 (256 bytes)", "read slot+0x3000 (4096 bytes)", "memory report". */
function describe(rb: RealBoard, e: StubEvent): string {
  if (e.kind !== "erase" && e.kind !== "write" && e.kind !== "read") return e.kind === "mem" ? "a periodic memory report" : e.kind;
  const j = rb.board.journal;
  const where = rb.inSlot(e.offset)
    ? "slot+0x" + (e.offset - rb.target.offset).toString(16)
    : rb.inJournal(e.offset)
      ? "journal+0x" + (e.offset - j.offset).toString(16)
      : "0x" + e.offset.toString(16);
  return e.kind + " " + where + ("length" in e ? " (" + e.length + " bytes)" : "");
}

function longest(turns: LateTurn[]): LateTurn | null {
  return turns.reduce<LateTurn | null>((m, t) => (!m || t.ms > m.ms ? t : m), null);
}

export async function runRealUpdate(o: RealUpdateOptions): Promise<RealUpdateResult> {
  const t0 = Date.now();
  const rb = await RealBoard.start(o);
  try {
    const imageSize = o.imageSize ?? rb.target.size;
    const image = updateImage(rb.board, "1.1.0", imageSize, 8);
    rb.server.setFile("/fw.bin", image);

    let phase: "boot" | "idle" | "download" | "after" = "boot";
    let peakDuringDownload = 0;
    let peakAgent = 0;
    let peakAgentAt = "";
    let updating = false;
    let programmed = 0;
    const cuts = [...(o.powerCutsAtBytes ?? []), ...(o.powerCutAtBytes !== undefined ? [o.powerCutAtBytes] : [])].sort((a, b) => a - b);
    let powerCuts = 0;
    let resumeReads: number | null = null;
    let countingResume = false;
    const perSector: number[] = [];
    let peakAt = "";
    let imageDone = false;
    rb.observe((e, boot) => {
      if ("usage" in e && phase === "download" && e.usage > peakDuringDownload) {
        peakDuringDownload = e.usage;
        peakAt = describe(rb, e) + (imageDone ? " (after the last image byte)" : "");
      }
      const bm = rb.bootMemory[boot - 1];
      if ("usage" in e && updating && bm && e.usage - bm.base > peakAgent) {
        peakAgent = e.usage - bm.base;
        peakAgentAt = describe(rb, e) + " in boot " + boot + (boot > 1 ? (imageDone ? " (after the switch)" : " (after a power cut)") : imageDone ? " (after the last image byte)" : "");
      }
      if (e.kind === "write" && rb.inSlot(e.offset)) {
        countingResume = false;
        const end = e.offset + e.length - rb.target.offset;
        programmed = Math.max(programmed, end);
        if (programmed >= imageSize) imageDone = true;
        if (e.length === 4096 || end === imageSize) perSector.push(e.usage);
        if (cuts.length && programmed >= cuts[0]) {
          while (cuts.length && programmed >= cuts[0]) cuts.shift();
          powerCuts++;
          void rb.powerCut();
        }
      } else if (e.kind === "read" && countingResume && rb.inSlot(e.offset)) {
        resumeReads = (resumeReads ?? 0) + e.length;
      }
    });
    const resumedAt: number[] = [];
    rb.observeLines((line, boot) => {
      const m = /ota: resuming \S+ at (\d+)/.exec(line);
      if (boot > 1 && m) {
        countingResume = true;
        resumeReads = resumeReads ?? 0;
        resumedAt.push(Number(m[1]));
      }
    });

    if (o.dropEvery) rb.server.faults.every({ kind: "reset-after", bytes: o.dropEvery });
    rb.powerOn();
    try {
      await rb.waitFor((d) => d.reportedVersion !== undefined, 30000, "the first report_version");
    } catch (e) {
      throw new RealRunFailure("did not boot: " + (e as Error).message, rb.tail(), e instanceof BoardTrouble ? e : null, maxGap(rb));
    }
    phase = "idle";
    await sleep(1500); // a few memory reports of the connected, idle agent
    const idle = rb.lastUsage;
    const idleAgent = idle - (rb.memory?.base ?? 0);
    phase = "download";
    updating = true;
    let sign = 0;
    const server = rb.server;
    rb.cloud.deploy(rb.key.productId, rb.key.deviceName, { version: "1.1.0", md5: md5Hex(image), size: image.length, url: () => server.url("/fw.bin") + "?sign=" + ++sign });
    try {
      await rb.waitFor(
        (d) => {
          if (phase === "download" && d.reports.some((r) => r.report?.progress?.state === "burning")) phase = "after";
          return updateEnded(d);
        },
        o.timeoutMs ?? 180000,
        "the update to end",
      );
    } catch (e) {
      throw new RealRunFailure("the update did not end: " + (e as Error).message, rb.tail(), e instanceof BoardTrouble ? e : null, maxGap(rb));
    }
    await server.settled();
    const rec = rb.record;
    return {
      result: rec.task === "done" ? "done" : "failed",
      resultCode: rec.resultCode,
      resultMsg: rec.resultMsg,
      imageBytes: image.length,
      bytesFetched: server.requests.reduce((n, r) => n + r.bytesSent, 0),
      requests: server.requests.length,
      boots: rb.proc.boots,
      powerCuts,
      durationMs: Date.now() - t0,
      idle,
      idleAgent,
      peakAgent: Math.max(peakAgent, idleAgent),
      peakAgentAt,
      ballast: rb.bootMemory[0]?.ballast ?? 0,
      freeAtStart: rb.bootMemory[0]?.free ?? 0,
      appHeld: rb.appHeld,
      appMaxGapMs: maxGap(rb),
      appGaps: rb.appGaps,
      appFile: rb.plan.appFile,
      installNotes: rb.plan.notes,
      residentBytes: rb.plan.residentBytes,
      agentBootFiles: rb.plan.agentBootFiles,
      peakDuringDownload,
      peakAt,
      bootMemory: rb.bootMemory.filter(Boolean),
      perSector,
      growthPerSector: slope(perSector),
      longestTurn: longest(rb.lateTurns),
      lateTurns: rb.lateTurns,
      rehashBytesOnResume: resumeReads,
      resumedAt,
      journalErases: rb.journalErases,
      slotErases: rb.slotErases,
      blockSize: rb.blockSize,
      boardFaults: [...rb.boardFaults].map(([what, count]) => ({ what, count })),
      logTail: rb.proc.log.slice(-40),
    };
  } catch (e) {
    if (!(e instanceof RealRunFailure)) (e as Error).message += "\n--- device console (last lines) ---\n" + rb.proc.log.slice(-40).join("\n");
    throw e;
  } finally {
    await rb.close();
  }
}

export interface LeakProbeResult {
  jobs: number;
  /** Idle usage before the first job and after each job ended. */
  idleAfterJob: number[];
  /** Least-squares growth of idle usage per job (blocks). */
  retainedPerJob: number;
  requests: number;
  /** Usage at each programmed sector over all jobs (many requests each). */
  perSector: number[];
  /** Growth per sector within the jobs, where every request was cut after `dropEvery` bytes. */
  growthPerSector: number;
  dropEvery: number;
  failures: string[];
}

/**
 * Several jobs in one boot, each a full download through a link that drops every `dropEvery`
 * bytes, announced with a wrong MD5 so the job ends in fail -4 and the agent stays up. Memory a
 * job (or a request) leaves behind shows as idle usage growing from job to job.
 */
export async function runLeakProbe(o: RealBoardOptions & { jobs?: number; dropEvery?: number; imageSize?: number; timeoutMs?: number }): Promise<LeakProbeResult> {
  const rb = await RealBoard.start(o);
  try {
    const jobs = o.jobs ?? 3;
    const dropEvery = o.dropEvery ?? 6000;
    const imageSize = o.imageSize ?? rb.target.size;
    const perSector: number[] = [];
    rb.observe((e) => {
      if (e.kind === "write" && rb.inSlot(e.offset) && e.length === 4096) perSector.push(e.usage);
    });
    rb.server.faults.every({ kind: "reset-after", bytes: dropEvery });
    rb.powerOn();
    try {
      await rb.waitFor((d) => d.reportedVersion !== undefined, 30000, "the first report_version");
    } catch (e) {
      throw new RealRunFailure("did not boot: " + (e as Error).message, rb.tail(), e instanceof BoardTrouble ? e : null);
    }
    await sleep(1500);
    const idleAfterJob = [rb.lastUsage];
    const failures: string[] = [];
    for (let k = 0; k < jobs; k++) {
      const version = "2.0." + k;
      const image = updateImage(rb.board, version, imageSize, 100 + k);
      rb.server.setFile("/fw" + k + ".bin", image);
      let sign = 0;
      const server = rb.server;
      // a wrong MD5: the job downloads everything, fails verification, the agent stays up
      rb.cloud.deploy(rb.key.productId, rb.key.deviceName, {
        version,
        md5: String(k + 1).padStart(32, "0"),
        size: image.length,
        url: () => server.url("/fw" + k + ".bin") + "?sign=" + ++sign,
      });
      const d = await rb.waitFor((r) => r.task === "failed" || r.task === "done", o.timeoutMs ?? 120000, "leak probe job " + (k + 1));
      failures.push((d.resultCode ?? "") + " " + (d.resultMsg ?? ""));
      await sleep(1200); // idle again: let the memory report come after the job's last turn
      idleAfterJob.push(rb.lastUsage);
    }
    return {
      jobs,
      idleAfterJob,
      retainedPerJob: slope(idleAfterJob.slice(1)),
      requests: rb.server.requests.length,
      perSector,
      growthPerSector: slope(perSector),
      dropEvery,
      failures,
    };
  } finally {
    await rb.close();
  }
}
