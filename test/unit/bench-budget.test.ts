// The static budget of the agent's code (src/host/bench/budget.json), the cheap stand-in for the
// bench's memory figures that CI can run: every board's bundle as `npm run build` leaves it in
// dist/, split into Storage files by agentStorageFiles(), parsed with acorn. The counts are in
// the test names, so a regression shows in the log even before it fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { boardFiles, loadBoard } from "../../src/host/boards/load-board";
import { DIST_DIR } from "../../src/host/bench/footprint";
import { agentCodeStats, codeStats, loadBudget, overBudget, type CodeStats } from "../../src/host/bench/budget";
import { BENCH_PROVISION } from "../../src/host/bench/provision";
import { readAgentCode } from "../../src/host/build/install";

const budget = loadBudget();
const shown = (s: CodeStats) => `${s.functions} functions, ${s.topLevelNames} top-level names, ${s.bytes} bytes`;

test("the budget file says why and holds non-negative whole numbers", () => {
  assert.ok(budget.why.length > 40, "budget.json needs its why");
  for (const part of [budget.resident, budget.all]) {
    for (const k of ["functions", "topLevelNames", "bytes"] as const) assert.ok(Number.isInteger(part[k]) && part[k] >= 0, k);
  }
  assert.ok(budget.resident.bytes <= budget.all.bytes, "the resident code is part of all the code");
});

test("codeStats counts functions of every kind, top-level names and bytes", () => {
  const code = "var a = 1, b = function () { return function () {}; };\nfunction c() { var inner = 2; }\nvar o = { m: function () {} };";
  assert.deepEqual(codeStats(code), { functions: 4, topLevelNames: 4, bytes: code.length });
  assert.deepEqual(overBudget({ functions: 5, topLevelNames: 4, bytes: 10 }, { functions: 4, topLevelNames: 4, bytes: 9 }), ["functions 5 > 4", "bytes 10 > 9"]);
});

for (const file of boardFiles()) {
  const board = loadBoard(file).name;
  const path = join(DIST_DIR, board + ".js");
  if (!existsSync(path)) {
    test(`${board}: bundle within budget`, () => assert.fail(`no ${path}: run \`npm run build\` first (npm test does)`));
    continue;
  }
  const stats = agentCodeStats(readAgentCode(path), BENCH_PROVISION);
  test(`${board}: resident ${stats.residentFiles.join("+")} ${shown(stats.resident)} (budget ${shown(budget.resident)})`, () => {
    assert.ok(stats.residentFiles.length > 0, "agentStorageFiles() gave no boot file");
    assert.deepEqual(overBudget(stats.resident, budget.resident), [], "over budget.json's resident budget: lower the code, or raise the budget with the bench's figures");
  });
  test(`${board}: all code ${stats.codeFiles.join("+")} ${shown(stats.all)} (budget ${shown(budget.all)})`, () => {
    assert.deepEqual(overBudget(stats.all, budget.all), [], "over budget.json's budget for all code: lower the code, or raise the budget with the bench's figures");
  });
}
