// `npm run reliability`: runs the whole campaign and writes docs/reliability.md from the
// results. `-- --quick` runs the seeded subset CI runs (report only with --out).
//   --seed N          campaign seed (fault offsets, matrix sample, double cuts); default 1
//   --concurrency N   scenarios at a time (each has its own broker, server and board); default 2
//   --only a,b        only scenarios whose id contains one of these strings
//   --out FILE        where to write the report (default docs/reliability.md for a full run)
// Exit code 1 when any scenario's observed outcome differs from the expected one.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { BOARDS_DIR } from "../boards/load-board";
import { resolveBoard } from "../sim/ota-run";
import { buildCampaign } from "./campaign";
import { renderReport, totals } from "./report";
import { runScenarios } from "./runner";

const USAGE = `usage: npm run reliability -- [--quick] [--seed N] [--concurrency N] [--only a,b] [--out FILE]
  --quick           the seeded subset CI runs (writes a report only with --out)
  --seed N          campaign seed (fault offsets, matrix sample, double cuts); default 1
  --concurrency N   scenarios at a time; default 2
  --only a,b        only scenarios whose id contains one of these strings
  --out FILE        where to write the report (default docs/reliability.md for a full run)`;

let parsed;
try {
  parsed = parseArgs({
    options: {
      help: { type: "boolean", short: "h", default: false },
      quick: { type: "boolean", default: false },
      seed: { type: "string", default: "1" },
      concurrency: { type: "string", default: "2" },
      only: { type: "string" },
      out: { type: "string" },
    },
  });
} catch (e) {
  process.stderr.write(`reliability: ${(e as Error).message.split("\n")[0]} (see --help)\n`);
  process.exit(2);
}
const args = parsed.values;
if (args.help) {
  process.stdout.write(USAGE + "\n");
  process.exit(0);
}

function commitOf(): string {
  const root = join(BOARDS_DIR, "..");
  try {
    const sha = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "boards", "rollup.config.js"], { cwd: root, encoding: "utf8" }).trim();
    return dirty ? sha + " + uncommitted changes" : sha;
  } catch {
    return "unknown";
  }
}

const seed = Number(args.seed);
const concurrency = Number(args.concurrency);
const started = new Date();
const t0 = Date.now();
const campaign = await buildCampaign({ quick: args.quick, seed });
const only = args.only ? args.only.split(",") : null;
const list = only ? campaign.scenarios.filter((s) => only.some((o) => s.id.includes(o))) : campaign.scenarios;
process.stderr.write(`reliability: ${list.length} scenarios (${args.quick ? "quick" : "full"}), seed ${seed}, ${concurrency} at a time\n`);

const results = await runScenarios(list, {
  seed,
  concurrency,
  onResult: (r, done, total) => {
    const o = r.observed;
    const mark = r.mismatches.length ? "MISMATCH" : "ok";
    process.stderr.write(`[${done}/${total}] ${mark} ${r.scenario.id} (${((o.metrics.durationMs ?? 0) / 1000).toFixed(1)} s)\n`);
    for (const m of r.mismatches.slice(0, 4)) process.stderr.write("    - " + m.substring(0, 300) + "\n");
  },
});

const span = resolveBoard("host-sim").download.spanBytes;
const t = totals(results, span);
const report = renderReport(
  results,
  {
    commit: commitOf(),
    seed,
    quick: args.quick,
    node: process.version,
    startedAt: started.toISOString().replace(/\.\d+Z$/, "Z"),
    durationMs: Date.now() - t0,
    concurrency,
    calibrations: campaign.calibrations,
  },
  span,
);
const out = args.out ?? (args.quick || only ? null : join(BOARDS_DIR, "..", "docs", "reliability.md"));
if (out) writeFileSync(out, report);

const inv = t.invariants;
console.log(
  [
    `scenarios ${t.scenarios}: ${t.asExpected} as expected, ${t.mismatches} mismatches`,
    `power cuts tried ${t.cutsTried} at ${t.cutPoints} points, ${t.matrixCompleted} completed; refetched total ${t.matrixRefetchTotal} B, max ${t.matrixRefetchMax} B, ${t.matrixOverOneSpan} points over one span per cut`,
    `unbootable ${inv.unbootable}, corrupt accepted ${inv.corruptAccepted}, outside writes ${inv.outsideWrites}, NOR violations ${inv.flashViolations}, device violations ${inv.deviceViolations}, uncaught ${inv.uncaught}, boots without a complete application ${inv.noCompleteApp}`,
    `took ${((Date.now() - t0) / 1000).toFixed(0)} s` + (out ? `; report: ${out}` : ""),
  ].join("\n"),
);
process.exit(t.mismatches ? 1 : 0);
