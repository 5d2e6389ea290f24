// CI's share of the MQTT faults of the reliability campaign: a broker restart mid-download,
// duplicate, stale and replacing pushes, and pushes on topics the agent does not own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { assertScenario, ciFaultScenarios } from "../../src/host/reliability/ci";

const list = ciFaultScenarios(["mqtt"]);

test("the CI subset covers the MQTT faults", () => {
  assert.ok(list.length >= 4, `only ${list.length} quick MQTT scenarios`);
});

for (const s of list) test(`${s.name} [${s.id}]`, () => assertScenario(s));
