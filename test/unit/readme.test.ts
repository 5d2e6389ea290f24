// The README's copy of the state table must be the table the agent runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { findTransition, transitions } from "../../src/core/agent/machine";

test("README state table equals src/core/agent/machine.ts", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const start = readme.indexOf("| state | event | next | action |");
  assert.ok(start >= 0, "README has the state table");
  const rows = readme
    .slice(start)
    .split("\n")
    .slice(2)
    .filter((l) => l.startsWith("|"))
    .map((l) => l.split("|").slice(1, -1).map((c) => c.trim()));
  const stop = rows.findIndex((r) => r.length !== 4);
  assert.deepEqual(stop < 0 ? rows : rows.slice(0, stop), transitions().map((r) => [...r]));
});

test("README names the commands CI and newcomers use", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  for (const script of ["sim", "test", "build"]) {
    assert.ok(pkg.scripts[script], `package.json has a ${script} script`);
    assert.match(readme, new RegExp("npm (run )?" + script));
  }
  assert.match(readFileSync(new URL("../../.ci/run", import.meta.url), "utf8"), /npm test/);
});

test("lookups take the state's own row first, then the wildcard, and nothing else", () => {
  assert.deepEqual(findTransition("downloading", "update"), ["downloading", "update", "downloading", "startJob"]);
  assert.deepEqual(findTransition("trial", "failed"), ["*", "failed", "idle", "reportFailure"]);
  assert.equal(findTransition("idle", "timer"), null);
  for (const r of transitions()) assert.equal(r.length, 4, r.join(" "));
});
