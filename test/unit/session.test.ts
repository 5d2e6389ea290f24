// The resident session against port-level fakes: what it publishes itself when no job is loaded.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startSession, type Job } from "../../src/core/agent/session";
import type { SocketHandlers } from "../../src/core/ports";
import { otaReport } from "../../src/core/protocol/messages";

test("with no job loaded, the resident's report_version is byte for byte the job's otaReport(\"version\"), whatever the version holds", () => {
  // Quote, backslash, control characters and UTF-8 bytes (a binary string, as Espruino holds it).
  const version = 'v"1\\2\x01\x1f\xc3\xa9 end';
  const sent: string[] = [];
  let handlers: SocketHandlers | null = null;
  const timers: (() => void)[] = [];
  const job: Job = (what) => (what === "quiet" ? true : what === "runningVersion" ? version : undefined);
  startSession(
    { host: "broker", port: 1883, tls: false, auth: "plain", keepaliveSec: 0 },
    1000,
    {
      net: {
        hasTls: false,
        connect(_host, _port, _tls, h) {
          handlers = h;
          return { write: (d) => sent.push(d), close() {} };
        },
      },
      clock: { now: () => 0, after: (_ms, fn) => timers.push(fn), cancel() {} },
      system: { reboot() {}, setOtaValid() {}, log() {}, random: () => 0, unixTime: () => 0, emit() {}, on() {} },
      sha256: null,
    },
    { productId: "P", deviceName: "D", username: "u", password: "p" },
    () => job,
  );
  assert.ok(handlers, "the session connects at start");
  const h = handlers as SocketHandlers;
  h.onConnect.call(h);
  h.onData.call(h, "\x20\x02\x00\x00"); // CONNACK accepted
  const publish = sent.find((p) => p.charCodeAt(0) >> 4 === 3);
  assert.ok(publish, "a PUBLISH went out after CONNACK");
  // Header, one-byte remaining length, topic, packet id (QoS 1), then the payload.
  const topicLen = (publish.charCodeAt(2) << 8) | publish.charCodeAt(3);
  assert.equal(publish.substr(4, topicLen), "$ota/report/P/D");
  assert.equal(publish.charCodeAt(0) & 6, 2, "QoS 1");
  assert.equal(publish.substring(4 + topicLen + 2), otaReport("version", version));
});
