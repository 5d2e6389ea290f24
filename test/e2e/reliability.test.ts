// CI's share of the reliability campaign (src/host/reliability): the quick network-fault
// scenarios against the real bundle, each checked for its expected outcome and report
// sequence and for the global invariants. MQTT faults, hostile inputs and power cuts have
// their own reliability-*.test.ts files; `npm run reliability` runs the whole campaign.
import { test } from "node:test";
import assert from "node:assert/strict";
import { assertScenario, ciFaultScenarios } from "../../src/host/reliability/ci";

const list = ciFaultScenarios(["network"]);

test("the CI subset covers the network faults", () => {
  for (const id of ["net-reset-random", "net-stall-mid", "net-503-retry-after", "net-403-fresh-url", "net-404", "net-200-to-range", "net-content-range-wrong-start", "net-short-body", "net-file-changed", "net-chunked"]) {
    assert.ok(list.some((s) => s.id === id), id + " is not in the CI subset");
  }
});

for (const s of list) test(`${s.name} [${s.id}]`, () => assertScenario(s));
