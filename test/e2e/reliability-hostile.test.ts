// CI's share of the hostile inputs of the reliability campaign: malformed and unusable
// pushes, images that must never be installed and bad board files. Each must get a clear
// error (fail -5 where its version is readable, -4 for a file the signature check refuses), leave flash outside target slot,
// otadata and journal untouched, and the agent must complete a normal update afterwards.
import { test } from "node:test";
import assert from "node:assert/strict";
import { assertScenario, ciFaultScenarios } from "../../src/host/reliability/ci";

const list = ciFaultScenarios(["hostile-input"]);

test("the CI subset covers payloads, images and board files", () => {
  assert.ok(list.length >= 8, `only ${list.length} quick hostile inputs`);
  assert.ok(list.some((s) => s.id.startsWith("hostile-image-")), "no hostile image");
  assert.ok(list.some((s) => s.id.startsWith("hostile-board-")), "no hostile board file");
  assert.ok(list.some((s) => s.id.startsWith("hostile-sign-")), "no signed-update case");
});

for (const s of list) test(`${s.name} [${s.id}]`, () => assertScenario(s));
