// The application update's power-cut matrix (docs/app-ota.md): one clean application update is
// run to count its flash and Storage operations from the push to the end (download into the app
// file, verify, the journal's switch, the trial boot, confirmation, erasing the old file); then, for
// every operation k, a fresh board is cut off during operation k, powered on again and left to
// finish. At every boot the application the agent starts must be a whole package, the old one or
// the new one byte for byte, and no boot may start none (InvariantCounts.noCompleteApp); the update
// must end done with the new application running.
import { emptyCounts } from "./invariants";
import { runAppOta, type AppRunResult } from "../sim/app-run";
import type { Expected, Observed, Scenario } from "./types";

/** Flash and Storage operations of a clean application update, from the push to the end. */
export async function calibrateApp(): Promise<number> {
  const r = await runAppOta({ appBytes: APP_BYTES });
  if (r.result !== "done") throw new Error(`the application update's calibration run ended ${r.result}: ${r.resultMsg}`);
  return r.opsAfterPush;
}

/** The test application's text: several spans and resume points, small enough for a fast matrix. */
const APP_BYTES = 12000;

const EXPECTED: Expected = {
  outcome: "done",
  runs: "1.1.0",
  notes: "the board starts a whole application (old or new) at every boot; the update ends done with 1.1.0 running",
};

function observe(r: AppRunResult, k: number): Observed {
  const invariants = emptyCounts();
  for (const a of r.appStarts) {
    if (a.complete) continue;
    invariants.noCompleteApp++;
    invariants.details.push(`boot ${a.boot} started ${a.file} (${a.version}), which is not that package byte for byte`);
  }
  for (const b of r.bootsWithoutApp) {
    invariants.noCompleteApp++;
    invariants.details.push(`boot ${b} started no application`);
  }
  const problems: string[] = [];
  const boots = r.appStarts.map((a) => a.boot);
  if (new Set(boots).size !== boots.length) problems.push("an application was started twice in one boot");
  if (r.storageCompactions) problems.push(`${r.storageCompactions} Storage compaction(s): not power-safe, the agent must cause none`);
  if (r.powerCuts < 1) problems.push(`the cut at operation ${k} never happened (the update took another path than the calibration run)`);
  return {
    outcome: r.result === "done" ? "done" : "failed",
    code: r.resultCode,
    msg: r.resultMsg,
    story: r.reports.map((x) => (x.type === "report_version" ? `version ${x.report.fw_type ? "app " : ""}${x.report.version}` : `${x.report.progress.state}${x.report.progress.state === "fail" ? " " + x.report.progress.result_code : ""}`)),
    runs: r.running,
    problems,
    facts: [`${r.appStarts.length} application starts in ${r.reboots + 1} boots`],
    metrics: { imageBytes: r.imageBytes, bytesFetched: r.bytesFetched, refetched: r.bytesFetched - r.imageBytes, requests: r.requests, reboots: r.reboots, powerCuts: r.powerCuts, cutAtOp: k, durationMs: r.durationMs },
    invariants,
    logTail: [],
  };
}

/** One scenario per operation (every `stride`-th with quick), each cutting the power during it. */
export function appPowerCutMatrix(ops: number, seed: number, stride = 1): Scenario[] {
  const out: Scenario[] = [];
  for (let k = 1; k <= ops; k += stride) {
    out.push({
      id: `app-power-cut-op-${k}`,
      name: `application update: power cut during flash/Storage operation ${k}/${ops}, seed ${seed}`,
      group: "app-power-cut",
      expected: EXPECTED,
      quick: stride > 1,
      timeoutSec: 60,
      tags: { variant: "app" },
      run: async () => observe(await runAppOta({ appBytes: APP_BYTES, cutAtOp: k, seed, offMs: 100 }), k),
    });
  }
  return out;
}
