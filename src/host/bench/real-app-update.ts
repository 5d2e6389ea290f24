// An application update on the real interpreter (docs/app-ota.md): the board boots with
// application 1.0.0 installed as a package in Storage's ota.app0 (the bench's application, which
// holds JsVars and times its interval, app-program.ts), the cloud pushes 1.1.0 under fw_type
// "app", and the run ends when the cloud sees done or fail. Memory is read at every flash
// operation, every Storage write and every memory report of the device stub (device-stub.ts).
import { createHash } from "node:crypto";
import { buildAppPackage } from "../app/package";
import { testApp, runningApp } from "../sim/app-run";
import { updateEnded } from "../sim/ota-run";
import { bytesToBinary } from "../runtime/bytes";
import { BoardTrouble, RealBoard, type RealBoardOptions } from "./real-board";
import { appProgram, type AppOptions } from "./app-program";
import { BENCH_PROVISION } from "./provision";
import { RealRunFailure } from "./real-update";

export interface RealAppUpdateOptions extends RealBoardOptions {
  /** The application installed as 1.0.0 (default: the bench's application holding 300 JsVars). */
  installedApp?: AppOptions;
  /** Text bytes of the new application (default 24000). */
  appBytes?: number;
  timeoutMs?: number;
}

export interface RealAppUpdateResult {
  result: "done" | "failed";
  resultCode?: string;
  resultMsg?: string;
  packageBytes: number;
  bytesFetched: number;
  /** The application running at the end, from its "app-running" line. */
  running: string | null;
  /** Usage above the interpreter and stub with the agent idle and application 1.0.0 running. */
  idle: number;
  /** JsVars application 1.0.0 said it holds (app-program.ts), null if it never said. */
  appHeld: number | null;
  /** Highest usage above the interpreter and stub from the push until the update ended, in any boot. */
  peak: number;
  /** The boot the peak was seen in (1: the download and switch; 2: the new application's trial). */
  peakBoot: number;
  /** The stub event that carried the peak, and the agent's last log line before it. */
  peakAt: string;
  boots: number;
  durationMs: number;
  logTail: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runRealAppUpdate(o: RealAppUpdateOptions): Promise<RealAppUpdateResult> {
  const t0 = Date.now();
  const id = o.provision ?? BENCH_PROVISION;
  const signKey = id.signKey ? Buffer.from(id.signKey, "base64") : undefined;
  const installed = buildAppPackage(appProgram(o.installedApp ?? { holdJsVars: 300 }) + 'print("app-running 1.0.0");\n', { version: "1.0.0", confirm: "time", signKey });
  const pkg = buildAppPackage(testApp("1.1.0", { pad: o.appBytes ?? 24000 }), { version: "1.1.0", confirm: "api", signKey });
  const rb = await RealBoard.start({ ...o, files: { ...o.files, "ota.app0": bytesToBinary(installed.bytes) } });
  const lines: string[] = [];
  rb.observeLines((line) => lines.push(line));
  try {
    if (!rb.board.app) throw new Error(`board ${rb.board.name} has no "app" kind (docs/app-ota.md)`);
    rb.server.setFile("/app.pkg", pkg.bytes);
    let updating = false;
    let peak = 0;
    let peakBoot = 0;
    let peakAt = "";
    let events = 0;
    rb.observe((e, boot) => {
      const bm = rb.bootMemory[boot - 1];
      if (updating) events++;
      if (updating && "usage" in e && bm && e.usage - bm.base > peak) {
        peak = e.usage - bm.base;
        peakBoot = boot;
        peakAt = e.kind + " #" + events + " after " + lines.length + " log lines (" + (lines[lines.length - 1] ?? "") + ")";
      }
    });

    rb.powerOn();
    try {
      await rb.waitFor((d) => d.versions[rb.board.app!.fwType] !== undefined, 30000, "the application's first report_version");
    } catch (e) {
      throw new RealRunFailure("did not boot: " + (e as Error).message, rb.tail(), e instanceof BoardTrouble ? e : null);
    }
    await sleep(1500); // a few memory reports of the connected, idle agent beside the application
    const idle = rb.lastUsage - (rb.memory?.base ?? 0);
    updating = true;
    let sign = 0;
    const server = rb.server;
    rb.cloud.deploy(rb.key.productId, rb.key.deviceName, {
      kind: "app",
      fwType: rb.board.app.fwType,
      version: "1.1.0",
      md5: createHash("md5").update(pkg.bytes).digest("hex"),
      size: pkg.size,
      url: () => server.url("/app.pkg") + "?sign=" + ++sign,
    });
    try {
      await rb.waitFor(updateEnded, o.timeoutMs ?? 180000, "the application update to end");
    } catch (e) {
      throw new RealRunFailure("the application update did not end: " + (e as Error).message, rb.tail(), e instanceof BoardTrouble ? e : null);
    }
    await server.settled();
    const rec = rb.record;
    return {
      result: rec.task === "done" ? "done" : "failed",
      resultCode: rec.resultCode,
      resultMsg: rec.resultMsg,
      packageBytes: pkg.size,
      bytesFetched: server.requests.reduce((n, r) => n + r.bytesSent, 0),
      running: runningApp(lines),
      idle,
      appHeld: rb.appHeld,
      peak,
      peakBoot,
      peakAt,
      boots: rb.bootMemory.length,
      durationMs: Date.now() - t0,
      logTail: rb.tail(),
    };
  } finally {
    await rb.close();
  }
}
