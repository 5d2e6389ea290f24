// docs/reliability.md, written from a campaign's results: the counts, every mismatch
// (grouped by the known agent bug it belongs to), the power-cut matrix by phase, and one
// row per network, MQTT and hostile-input scenario with its expected and observed outcome.
import { addCounts, emptyCounts } from "./invariants";
import { knownBugOf, KNOWN_BUGS } from "./known-bugs";
import type { Calibration } from "./power-cut";
import type { Expected, Group, Observed, ScenarioResult } from "./types";

export interface ReportMeta {
  commit: string;
  seed: number;
  quick: boolean;
  node: string;
  startedAt: string;
  durationMs: number;
  concurrency: number;
  calibrations: Calibration[];
}

export interface Totals {
  scenarios: number;
  asExpected: number;
  mismatches: number;
  cutPoints: number;
  cutsTried: number;
  matrixCompleted: number;
  matrixRefetchTotal: number;
  matrixRefetchMax: number;
  matrixOverOneSpan: number;
  invariants: ReturnType<typeof emptyCounts>;
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const code = (s: string) => "`" + s.replace(/`/g, "'") + "`";

export function totals(results: ScenarioResult[], spanBytes: number): Totals {
  const inv = emptyCounts();
  const t: Totals = { scenarios: results.length, asExpected: 0, mismatches: 0, cutPoints: 0, cutsTried: 0, matrixCompleted: 0, matrixRefetchTotal: 0, matrixRefetchMax: 0, matrixOverOneSpan: 0, invariants: inv };
  for (const r of results) {
    if (r.mismatches.length) t.mismatches++;
    else t.asExpected++;
    addCounts(inv, r.observed.invariants);
    if (r.scenario.group === "power-cut") {
      const m = r.observed.metrics;
      t.cutPoints++;
      t.cutsTried += m.powerCuts ?? 0;
      if (r.observed.outcome === "done" && r.observed.runs === "1.1.0") t.matrixCompleted++;
      const extra = m.refetched ?? 0;
      t.matrixRefetchTotal += extra;
      t.matrixRefetchMax = Math.max(t.matrixRefetchMax, extra);
      if (extra > spanBytes * Math.max(1, m.powerCuts ?? 0)) t.matrixOverOneSpan++;
    }
  }
  return t;
}

export function describeExpected(e: Expected): string {
  let s = e.outcome + (e.code ? " " + e.code : "");
  if (e.story) s += ": " + e.story.join(", ");
  else if (e.shape) s += ": " + e.shape.text;
  if (e.runs) s += "; boots " + e.runs;
  if (e.thenUpdates) s += "; next update completes";
  return s;
}

export function describeObserved(o: Observed): string {
  let s = o.outcome + (o.code ? " " + o.code : "");
  if (o.story.length) s += ": " + o.story.join(", ");
  if (o.runs !== undefined) s += "; boots " + (o.runs ?? "nothing");
  if (o.thenUpdated !== undefined) s += o.thenUpdated ? "; next update completed" : "; next update did NOT complete";
  return s;
}

function metricsText(o: Observed): string {
  const m = o.metrics;
  const parts: string[] = [];
  if (m.bytesFetched !== undefined && m.imageBytes !== undefined) parts.push(`${m.bytesFetched} B in ${m.requests} req (image ${m.imageBytes})`);
  if (m.reboots) parts.push(`${m.reboots} reboot(s)`);
  if (m.durationMs !== undefined) parts.push((m.durationMs / 1000).toFixed(1) + " s");
  return parts.join(", ");
}

function verdict(r: ScenarioResult): string {
  if (!r.mismatches.length) return "as expected";
  const bug = knownBugOf(r.scenario);
  return "**MISMATCH**" + (bug ? ` (${bug.id})` : "");
}

function groupTable(results: ScenarioResult[], group: Group): string[] {
  const rows = results.filter((r) => r.scenario.group === group);
  const out = ["| scenario | expected | observed | result | details |", "|---|---|---|---|---|"];
  for (const r of rows) {
    const o = r.observed;
    const msg = o.msg ? " — " + code(o.msg.length > 140 ? o.msg.substring(0, 140) + "…" : o.msg) : "";
    const details = [metricsText(o), ...o.facts].filter(Boolean).join("; ");
    out.push(
      `| ${cell(r.scenario.name)}<br>${code(r.scenario.id)} | ${cell(describeExpected(r.scenario.expected))}${r.scenario.expected.notes ? "<br>_" + cell(r.scenario.expected.notes) + "_" : ""} | ${cell(describeObserved(o))}${cell(msg)} | ${verdict(r)}${r.mismatches.length ? "<br>" + cell(r.mismatches.join("; ").substring(0, 400)) : ""} | ${cell(details)} |`,
    );
  }
  return out;
}

function matrixSection(results: ScenarioResult[], cals: Calibration[], span: number): string[] {
  const out: string[] = [];
  const cuts = results.filter((r) => r.scenario.group === "power-cut");
  const variants = [...new Set(cuts.map((r) => r.scenario.tags?.variant ?? "?"))];
  for (const v of variants) {
    const cal = cals.find((c) => c.variant.id === v);
    const mine = cuts.filter((r) => r.scenario.tags?.variant === v);
    const single = mine.filter((r) => r.scenario.tags?.cuts !== "2");
    const twice = mine.filter((r) => r.scenario.tags?.cuts === "2");
    out.push(`### ${cal ? cal.variant.label : v}`, "");
    if (cal) {
      const seeds = [...new Set(single.map((r) => r.scenario.id.replace(/^.*-s(\d+).*$/, "$1")))];
      out.push(
        `A clean update of a ${cal.variant.imageSize / 1024} KB image makes ${cal.phases.length} flash operations after the push ` +
          phaseCounts(cal) +
          `. ${single.length} single-cut points (seed${seeds.length > 1 ? "s" : ""} ${seeds.join(", ")})` +
          (twice.length ? `, plus ${twice.length} seeded double cuts (a second cut during the recovery)` : "") +
          ".",
        "",
      );
    }
    out.push("| phase | points | cuts that hit | completed | unbootable | corrupt accepted | outside writes | refetched max (B) | over one span per cut | mismatches |", "|---|---|---|---|---|---|---|---|---|---|");
    const phases = [...new Set(mine.map((r) => (r.scenario.tags?.cuts === "2" ? "double cut" : r.scenario.tags?.phase ?? "?")))];
    for (const ph of phases) {
      const rs = mine.filter((r) => (r.scenario.tags?.cuts === "2" ? "double cut" : r.scenario.tags?.phase) === ph);
      const inv = emptyCounts();
      rs.forEach((r) => addCounts(inv, r.observed.invariants));
      const refetch = rs.map((r) => r.observed.metrics.refetched ?? 0);
      const over = rs.filter((r) => (r.observed.metrics.refetched ?? 0) > span * Math.max(1, r.observed.metrics.powerCuts ?? 0)).length;
      out.push(
        `| ${ph} | ${rs.length} | ${rs.reduce((n, r) => n + (r.observed.metrics.powerCuts ?? 0), 0)} | ${rs.filter((r) => r.observed.outcome === "done" && r.observed.runs === "1.1.0").length} | ${inv.unbootable} | ${inv.corruptAccepted} | ${inv.outsideWrites} | ${Math.max(0, ...refetch)} | ${over} | ${rs.filter((r) => r.mismatches.length).length} |`,
      );
    }
    out.push("");
    out.push("<details><summary>every point</summary>", "", "| point | journal at the cut | observed | refetched (B) | result |", "|---|---|---|---|---|");
    for (const r of mine) {
      const o = r.observed;
      out.push(`| ${code(r.scenario.id)} ${r.scenario.tags?.phase ?? ""} | ${r.scenario.tags?.journal ?? ""} | ${cell(describeObserved(o))} | ${o.metrics.refetched ?? ""} | ${verdict(r)} |`);
    }
    out.push("", "</details>", "");
  }
  return out;
}

function phaseCounts(cal: Calibration): string {
  const n: Record<string, number> = {};
  cal.phases.forEach((p) => (n[p] = (n[p] ?? 0) + 1));
  return "(" + Object.keys(n).map((k) => `${k} ${n[k]}`).join(", ") + ")";
}

function mismatchSection(results: ScenarioResult[]): string[] {
  const bad = results.filter((r) => r.mismatches.length);
  if (!bad.length) return ["None: every scenario's observed outcome equals the expected one.", ""];
  const out: string[] = [];
  const byBug = new Map<string, ScenarioResult[]>();
  for (const r of bad) {
    const id = knownBugOf(r.scenario)?.id ?? "unclassified";
    byBug.set(id, [...(byBug.get(id) ?? []), r]);
  }
  for (const [id, rs] of byBug) {
    const bug = KNOWN_BUGS.find((b) => b.id === id);
    out.push(`### ${id}: ${bug ? bug.title : "mismatches not matched to a known bug"} (${rs.length} scenario${rs.length > 1 ? "s" : ""})`, "");
    if (bug) out.push(bug.detail, "");
    const ex = rs[0];
    out.push(`Example ${code(ex.scenario.id)}: ${cell(ex.scenario.name)}`, "", "- expected: " + describeExpected(ex.scenario.expected), "- observed: " + describeObserved(ex.observed));
    for (const m of ex.mismatches.slice(0, 6)) out.push("- " + m);
    if (ex.observed.logTail.length) out.push("", "<details><summary>device log (last lines)</summary>", "", "```", ...ex.observed.logTail.slice(-14), "```", "", "</details>");
    out.push("", "Affected: " + rs.map((r) => code(r.scenario.id)).join(", "), "");
  }
  return out;
}

export function renderReport(results: ScenarioResult[], meta: ReportMeta, spanBytes: number): string {
  const t = totals(results, spanBytes);
  const inv = t.invariants;
  const groups: Group[] = ["power-cut", "app-power-cut", "network", "mqtt", "hostile-input"];
  const per = groups.map((g) => {
    const rs = results.filter((r) => r.scenario.group === g);
    return `| ${g} | ${rs.length} | ${rs.filter((r) => !r.mismatches.length).length} | ${rs.filter((r) => r.mismatches.length).length} |`;
  });
  const lines = [
    "# Reliability campaign",
    "",
    `<!-- Generated by \`npm run reliability${meta.quick ? " -- --quick" : ""}\` (src/host/reliability/main.ts) from the run itself. Do not edit by hand. -->`,
    "",
    `Generated by \`npm run reliability${meta.quick ? " -- --quick" : ""}\` from the run itself (never by hand): ${meta.quick ? "the quick seeded subset CI runs" : "the full campaign"}, ` +
      `commit ${code(meta.commit)}, seed ${meta.seed}, Node ${meta.node}, ${meta.concurrency} scenarios at a time, ` +
      `started ${meta.startedAt}, took ${(meta.durationMs / 60000).toFixed(1)} min.`,
    "",
    "Every scenario runs the real `dist/host-sim.js` bundle in the host runtime (NOR-flash emulator, Espruino's API, real sockets) against a real broker, the simulated Tencent cloud and the firmware server with its fault layer. " +
      "After every scenario, and at every power cut and every boot, the runner checks the global invariants: the bootloader model (src/host/image/boot-model.ts) finds a valid image; the slot it boots holds exactly the old image or a new one; no flash operation touched anything outside the target slot, otadata and the journal (every operation audited, every other region hashed); the NOR model saw no illegal operation.",
    "",
    "## Counts",
    "",
    "| | |",
    "|---|---|",
    `| scenarios run | ${t.scenarios} |`,
    `| observed = expected | ${t.asExpected} |`,
    `| mismatches (agent bugs, below) | ${t.mismatches} |`,
    `| power-cut points | ${t.cutPoints} |`,
    `| power cuts tried (cuts that hit) | ${t.cutsTried} |`,
    `| power-cut points that completed the update | ${t.matrixCompleted} of ${t.cutPoints} |`,
    `| unbootable states (bricks) | ${inv.unbootable} |`,
    `| corrupt images accepted | ${inv.corruptAccepted} |`,
    `| application boots without a complete application (old or new, byte for byte) | ${inv.noCompleteApp} |`,
    `| writes outside the allowed regions | ${inv.outsideWrites} |`,
    `| NOR-flash violations | ${inv.flashViolations} |`,
    `| device-runtime violations / uncaught exceptions | ${inv.deviceViolations} / ${inv.uncaught} |`,
    `| bytes refetched after power cuts (total / max per point) | ${t.matrixRefetchTotal} / ${t.matrixRefetchMax} (one span = ${spanBytes}) |`,
    `| power-cut points that refetched more than one span per cut | ${t.matrixOverOneSpan} |`,
    "",
    "| group | scenarios | as expected | mismatches |",
    "|---|---|---|---|",
    ...per,
    "",
    "## Mismatches",
    "",
    ...mismatchSection(results),
    "## Power-cut matrix",
    "",
    "Power is cut during flash operation k (counted from the push; the NOR model leaves that operation half done, seeded), the board stays off 100 ms and is powered on again; the cloud re-pushes the update on the next report_version. " +
      "Expected for every point: bootable at the cut and at every boot, the update completes (new image byte for byte, booted), at most one request span fetched again, never a fail report. " +
      "Phases: download (target-slot sectors and journal checkpoints), verify (journal records between the last image byte and the otadata switch), switch (otadata and the records around it), trial (the new image's first boot until done).",
    "",
    ...matrixSection(results, meta.calibrations, spanBytes),
    "## Application update: power-cut matrix",
    "",
    "An application update (docs/app-ota.md): package 1.0.0 runs from Storage's ota.app0, the cloud pushes a 12 KB package 1.1.0 under fw_type app. Power is cut during flash or Storage operation k (counted from the push: the download into ota.app1, the journal's switch, the trial boot, the confirmation, the old file's erase; a cut Storage write leaves half its bytes), the board stays off 100 ms and is powered on again. " +
      "Expected for every point: at every boot the agent starts a whole application, old or new, byte for byte, and no boot starts none (the invariant `noCompleteApp`); no Storage compaction; the update ends done with 1.1.0 running.",
    "",
    ...groupTable(results, "app-power-cut"),
    "",
    "## Network faults",
    "",
    ...groupTable(results, "network"),
    "",
    "## MQTT faults",
    "",
    ...groupTable(results, "mqtt"),
    "",
    "## Hostile inputs",
    "",
    "Payloads are published on the device's update topic; images are served by the firmware server with their true MD5; board files go through `validateBoard`. After each payload a normal update of 1.1.0 is pushed in the same run and must complete.",
    "",
    ...groupTable(results, "hostile-input"),
    "",
  ];
  return lines.join("\n");
}
