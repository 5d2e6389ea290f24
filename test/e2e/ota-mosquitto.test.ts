// The same end-to-end suite against a real mosquitto process (installed by .ci/run).
import { test } from "node:test";
import { mosquittoAvailable } from "../../src/host/sim/broker";
import { endToEndSuite, slowerScenarios } from "./scenarios";

if (mosquittoAvailable()) {
  endToEndSuite("mosquitto");
  slowerScenarios("mosquitto");
} else if (process.env.CI) {
  test("mosquitto is installed in CI", () => {
    throw new Error("mosquitto is not on PATH: .ci/run must install it");
  });
} else {
  test("mosquitto suite", { skip: "mosquitto is not installed (apt-get install mosquitto)" }, () => undefined);
}
