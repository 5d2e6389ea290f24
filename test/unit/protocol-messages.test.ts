// Golden fixtures: builder output must equal test/fixtures/tencent/out-*.json byte for
// byte, and every in-*.json must parse to the expected message.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  DownMessage,
  failMessage,
  otaReport,
  parseDownMessage,
  reportBurning,
  reportDone,
  reportDownloading,
  reportFail,
  reportVersion,
} from "../../src/core/protocol/messages";

const FIXTURES = fileURLToPath(new URL("../fixtures/tencent/", import.meta.url));
const LIMITS = { maxUrlLength: 1024, maxVersionLength: 32, maxFileSize: 4 * 1024 * 1024 };
const V2 = { taskId: 123456, fwType: "mcu" };

function fixture(name: string): string {
  return readFileSync(FIXTURES + name, "utf8");
}

const OUTBOUND: { [file: string]: () => string } = {
  "out-report_version.json": () => reportVersion("1.0.0"),
  "out-report_version-fw_type.json": () => reportVersion("0.1", "mcu"),
  "out-downloading-0.json": () => reportDownloading("1.3.0", 0),
  "out-downloading-31.json": () => reportDownloading("1.3.0", 31),
  "out-downloading-100.json": () => reportDownloading("1.3.0", 100),
  "out-downloading-0-echo.json": () => reportDownloading("0.2", 0, V2),
  "out-downloading-31-echo.json": () => reportDownloading("0.2", 31, V2),
  "out-downloading-100-echo.json": () => reportDownloading("0.2", 100, V2),
  "out-downloading-10-echo-string-task_id.json": () =>
    reportDownloading("0.2", 10, { taskId: "123456", fwType: "mcu" }),
  "out-burning.json": () => reportBurning("1.3.0"),
  "out-burning-echo.json": () => reportBurning("0.2", V2),
  "out-done.json": () => reportDone("1.3.0"),
  "out-done-echo.json": () => reportDone("0.2", V2),
  "out-fail-1-timeout.json": () => reportFail("1.3.0", -1, failMessage(-1, "after 5 retries")),
  "out-fail-2-not-found.json": () => reportFail("1.3.0", -2, failMessage(-2, "HTTP 404")),
  "out-fail-3-signature-expired.json": () => reportFail("1.3.0", -3, failMessage(-3, "HTTP 403")),
  "out-fail-4-md5-mismatch.json": () => reportFail("1.3.0", -4, failMessage(-4)),
  "out-fail-5-update-failed-echo.json": () =>
    reportFail("0.2", -5, failMessage(-5, "image check: bad magic byte"), V2),
};

const HUB_URL = "https://ota-1255858890.cos.ap-guangzhou.myqcloud.com/100003908905_E69UADXUYY_V100R0001";

const INBOUND: { [file: string]: DownMessage } = {
  "in-update_firmware-hub-log.json": {
    type: "update_firmware",
    version: "V100R0001",
    url: HUB_URL + "?...",
    md5: "20a4d2b1f8492a22fa3e472a758bf9ec",
    fileSize: 29972,
  },
  "in-update_firmware-doc.json": {
    type: "update_firmware",
    version: "0.2",
    url: "https://ota-1255858890.cos.ap-guangzhou.myqcloud.com",
    md5: "36eb5951179db14a631463a37a9322a2",
    fileSize: 708482,
  },
  "in-update_firmware-numeric-strings.json": {
    type: "update_firmware",
    version: "V100R0001",
    url: HUB_URL,
    md5: "20a4d2b1f8492a22fa3e472a758bf9ec",
    fileSize: 29972,
    taskId: "123456",
  },
  "in-update_firmware-v2.json": {
    type: "update_firmware",
    version: "0.2",
    url:
      "https://ota-1255858890.cos.ap-guangzhou.myqcloud.com/100012619289_LWVUL5SZ2L_0.2?sign=q-sign-algorithm%3Dsha1" +
      "%26q-ak%3DAKIDEXAMPLE%26q-sign-time%3D1614129643%3B1614216043",
    md5: "36eb5951179db14a631463a37a9322a2",
    fileSize: 708482,
    taskId: 123456,
    fwType: "mcu",
  },
  "in-report_version_rsp.json": { type: "report_version_rsp", resultCode: 0, resultMsg: "success", version: "1.0.0" },
  "in-report_version_rsp-string-code.json": {
    type: "report_version_rsp",
    resultCode: -1,
    resultMsg: "report version failed",
  },
  "in-ignored-unknown-type.json": { type: "ignored", reason: 'unknown message type "request_firmware_rsp"' },
};

test("every fixture file has a test entry and vice versa", () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith(".json")).sort();
  const covered = Object.keys(OUTBOUND).concat(Object.keys(INBOUND)).sort();
  assert.deepEqual(files, covered);
});

for (const name of Object.keys(OUTBOUND)) {
  test("builder output equals " + name + " byte for byte", () => {
    assert.equal(OUTBOUND[name](), fixture(name));
  });
}

for (const name of Object.keys(INBOUND)) {
  test("parses " + name, () => {
    assert.deepStrictEqual(parseDownMessage(fixture(name), LIMITS), INBOUND[name]);
  });
}

// docs/tencent-protocol.md#report_progress: the SDK's own texts (with the C SDK's whitespace). Normalising them with
// JSON.parse/stringify keeps key order and value types, so equality proves we send the
// same message apart from insignificant whitespace.
const SDK_TEXTS: Array<[string, string]> = [
  ['{"type": "report_version", "report":{"version":"1.0.0"}}', reportVersion("1.0.0")],
  ['{"type":"report_version","report":{"fw_type":"mcu","version":"0.1"}}', reportVersion("0.1", "mcu")],
  [
    '{"type": "report_progress", "report": {"progress": {"state":"downloading", "percent":"31", "result_code":"0", "result_msg":""}, "version": "1.3.0"}}',
    reportDownloading("1.3.0", 31),
  ],
  [
    '{"type": "report_progress", "report":{"progress":{"state":"burning", "result_code":"0", "result_msg":""}, "version":"1.3.0"}}',
    reportBurning("1.3.0"),
  ],
  [
    '{"type": "report_progress", "report":{"progress":{"state":"done", "result_code":"0", "result_msg":""}, "version":"1.3.0"}}',
    reportDone("1.3.0"),
  ],
  [
    '{"type": "report_progress", "report": {"progress": {"state":"fail", "result_code":"-4", "result_msg":"time_out"}, "version": "1.3.0"}}',
    reportFail("1.3.0", -4, "time_out"),
  ],
  [
    '{"type":"report_progress","report":{"progress":{"state":"downloading","percent":"10","result_code":"0","result_msg":""},"version":"0.2","fw_type":"mcu","task_id":123456}}',
    reportDownloading("0.2", 10, V2),
  ],
];

test("builders match the SDK texts of docs/tencent-protocol.md (key order and types)", () => {
  for (const pair of SDK_TEXTS) assert.equal(pair[1], JSON.stringify(JSON.parse(pair[0])));
});

test("every outbound fixture is valid JSON with string percent and result_code", () => {
  for (const name of Object.keys(OUTBOUND)) {
    const msg = JSON.parse(fixture(name));
    if (msg.type !== "report_progress") continue;
    const p = msg.report.progress;
    assert.equal(typeof p.result_code, "string", name);
    if (p.state === "downloading") assert.equal(typeof p.percent, "string", name);
    else assert.equal(p.percent, undefined, name);
  }
});

test("failMessage names the cause for every code and appends the detail", () => {
  const texts = [-1, -2, -3, -4, -5].map((c) => failMessage(c as -1 | -2 | -3 | -4 | -5));
  assert.deepEqual(texts, [
    "download timed out",
    "firmware not found",
    "download URL signature expired",
    "MD5 mismatch",
    "update failed",
  ]);
  assert.equal(failMessage(-1, "after 3 retries"), "download timed out (after 3 retries)");
  assert.ok(texts.indexOf("time_out") < 0);
});

test("failMessage keeps result_msg short", () => {
  const msg = failMessage(-5, "x".repeat(500));
  assert.equal(msg.length, 120);
  assert.ok(msg.startsWith("update failed (xxx"));
  assert.ok(msg.endsWith("..."));
});

test("strings are escaped as JSON needs and otherwise passed through unchanged", () => {
  const version = 'v"1\\2\n\u00e9\u4e2d';
  const text = reportFail(version, -5, "tab\there");
  const back = JSON.parse(text);
  assert.equal(back.report.version, version);
  assert.equal(back.report.progress.result_msg, "tab\there");
  // Non-ASCII is not \u-escaped: the device echoes the version bytes it received.
  assert.ok(text.indexOf("\u00e9\u4e2d") > 0);
  assert.ok(text.indexOf("\\u000a") > 0);
});

test("percent is clamped to an integer 0..100", () => {
  const pct = (p: number) => JSON.parse(reportDownloading("1", p)).report.progress.percent;
  assert.equal(pct(-3), "0");
  assert.equal(pct(NaN), "0");
  assert.equal(pct(42.9), "42");
  assert.equal(pct(250), "100");
});

test("echo with only one field, and a non-finite numeric task_id is left out", () => {
  assert.equal(
    reportDone("2", { fwType: "wifi" }),
    '{"type":"report_progress","report":{"progress":{"state":"done","result_code":"0","result_msg":""},"version":"2","fw_type":"wifi"}}'
  );
  assert.equal(
    reportDone("2", { taskId: 7 }),
    '{"type":"report_progress","report":{"progress":{"state":"done","result_code":"0","result_msg":""},"version":"2","task_id":7}}'
  );
  assert.equal(reportDone("2", { taskId: NaN }), reportDone("2"));
});

test("a parsed update_firmware can be passed straight back as the echo", () => {
  const push = parseDownMessage(fixture("in-update_firmware-v2.json"), LIMITS);
  assert.equal(push.type, "update_firmware");
  if (push.type !== "update_firmware") return;
  assert.equal(reportDownloading(push.version, 31, push), fixture("out-downloading-31-echo.json"));
});

test("otaReport builds every fixture's bytes, one function for all kinds", () => {
  const same: Array<[string, string]> = [
    [otaReport("version", "1.0.0"), fixture("out-report_version.json")],
    [otaReport("version", "0.1", { fwType: "mcu" }), fixture("out-report_version-fw_type.json")],
    [otaReport("version", "0.1", { fwType: "mcu", taskId: 5 }), fixture("out-report_version-fw_type.json")],
    [otaReport("downloading", "1.3.0", null, 31), fixture("out-downloading-31.json")],
    [otaReport("downloading", "0.2", V2, 100), fixture("out-downloading-100-echo.json")],
    [otaReport("burning", "0.2", V2), fixture("out-burning-echo.json")],
    [otaReport("done", "1.3.0"), fixture("out-done.json")],
    [otaReport("fail", "0.2", V2, -5, failMessage(-5, "image check: bad magic byte")), fixture("out-fail-5-update-failed-echo.json")],
  ];
  for (const [got, want] of same) assert.equal(got, want);
  assert.equal(otaReport("version", 'v"1\u00e9', { fwType: "a\nb" }), reportVersion('v"1\u00e9', "a\nb"));
});
