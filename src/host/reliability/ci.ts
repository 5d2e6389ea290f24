// What the CI test files (test/e2e/reliability*.test.ts) share: the quick subset of a group,
// without scenarios of known open bugs, and one assertion per scenario that names what
// differed, with the device log.
import assert from "node:assert/strict";
import { faultScenarios } from "./campaign";
import { countsClean } from "./invariants";
import { knownBugOf } from "./known-bugs";
import { runOne } from "./runner";
import type { Group, Scenario } from "./types";

export const CI_SEED = 1;

/** The quick scenarios of these groups that currently pass (known open bugs excluded). */
export function ciFaultScenarios(groups: Group[]): Scenario[] {
  return faultScenarios(true).filter((s) => groups.includes(s.group) && !knownBugOf(s));
}

/** Runs one scenario and asserts the invariants and observed == expected. */
export async function assertScenario(s: Scenario, seed = CI_SEED): Promise<void> {
  const r = await runOne(s, seed);
  const o = r.observed;
  if (s.group === "power-cut" || s.group === "app-power-cut") assert.ok((o.metrics.powerCuts ?? 0) >= 1, "the cut never happened");
  assert.ok(countsClean(o.invariants), "invariants broken: " + o.invariants.details.join("; "));
  assert.deepEqual(r.mismatches, [], `observed ${o.outcome} ${o.code ?? ""} ${o.msg ?? ""} [${o.story.join(", ")}]\n${o.logTail.join("\n")}`);
}
