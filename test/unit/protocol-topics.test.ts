import { test } from "node:test";
import assert from "node:assert/strict";
import { otaTopics } from "../../src/core/protocol/topics";
import { isOtaError } from "../../src/core/errors";

test("topics follow $ota/report|update/<product>/<device>", () => {
  assert.deepStrictEqual(otaTopics("E69UADXUYY", "dev_01"), {
    report: "$ota/report/E69UADXUYY/dev_01",
    update: "$ota/update/E69UADXUYY/dev_01",
  });
});

test("names that would change the topic are refused", () => {
  const bad: Array<[string, string, string]> = [
    ["", "dev", "productId must be a non-empty string"],
    ["P1", "", "deviceName must be a non-empty string"],
    ["P1", "a/b", "deviceName contains a character not allowed in an MQTT topic at index 1"],
    ["P+", "dev", "productId contains a character not allowed"],
    ["P1", "#", "deviceName contains a character not allowed"],
    ["P1", "d\u0000", "deviceName contains a character not allowed"],
  ];
  for (const b of bad) {
    assert.throws(
      () => otaTopics(b[0], b[1]),
      (e: unknown) => isOtaError(e) && e.code === "BOARD_INVALID" && e.message.indexOf(b[2]) >= 0
    );
  }
});
