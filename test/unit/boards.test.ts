// Board files are data; a bad one must fail with the file, the field and what was expected.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { boardFiles, loadBoard, validateBoard, BoardError } from "../../src/host/boards/load-board";

const stock = JSON.parse(readFileSync(new URL("../../boards/esp32-espruino-stock.json", import.meta.url), "utf8"));
const FILE = "boards/esp32-espruino-stock.json";
const clone = () => JSON.parse(JSON.stringify(stock));

function problemsOf(raw: unknown, file = FILE): string {
  try {
    validateBoard(raw, file);
  } catch (e) {
    assert.ok(e instanceof BoardError, "expected a BoardError, got " + e);
    assert.ok(e.message.startsWith(file + ":"), "message names the file: " + e.message);
    return e.message;
  }
  assert.fail("board was accepted");
}

test("every shipped board validates and normalises hex strings to numbers", () => {
  const names = boardFiles().map((f) => loadBoard(f).name);
  assert.deepEqual(names, ["esp32-4mb-ab", "esp32-espruino-stock", "espruino-linux", "host-sim"]);
  const b = loadBoard(boardFiles()[1]);
  assert.equal(b.partitionTable.offset, 0x8000);
  assert.deepEqual(
    b.partitionTable.partitions.map((p) => [p.label, p.offset, p.size]),
    [
      ["nvs", 0x9000, 0x3000],
      ["otadata", 0xc000, 0x2000],
      ["factory", 0x10000, 0x180000],
      ["ota_0", 0x190000, 0x180000],
      ["flash", 0x310000, 0x10000],
      ["storage", 0x320000, 0xe0000],
    ],
  );
});

test("schema errors name the field and the expectation", () => {
  const b = clone();
  b.mqtt.port = 70000;
  assert.match(problemsOf(b), /\/mqtt\/port: must be <= 65535/);
  const c = clone();
  delete c.download.spanBytes;
  assert.match(problemsOf(c), /\/download: missing field "spanBytes"/);
  const d = clone();
  d.md5 = "sha1";
  assert.match(problemsOf(d), /\/md5: must be one of \["js","rom"\]/);
  const e = clone();
  e.flash.size = "4MB";
  assert.match(problemsOf(e), /\/flash\/size/);
  const f = clone();
  f.mqtt.colour = "blue";
  assert.match(problemsOf(f), /\/mqtt: unknown field "colour"/);
});

test("overlapping partitions are rejected with both ranges", () => {
  const b = clone();
  b.partitionTable.partitions[3].offset = "0x180000"; // ota_0 now overlaps factory (and is misaligned)
  const msg = problemsOf(b);
  assert.match(msg, /"ota_0" \(0x180000\.\.0x300000\) overlaps partition "factory" \(0x10000\.\.0x190000\)/);
});

test("layout rules: alignment, otadata size, OTA gaps, flash end", () => {
  const b = clone();
  b.partitionTable.partitions[3].subtype = "ota_1"; // factory + ota_1: gap at ota_0
  assert.match(problemsOf(b), /must be ota_0, ota_1, \.\.\. without gaps/);
  const c = clone();
  c.partitionTable.partitions[1].size = "0x1000";
  assert.match(problemsOf(c), /otadata must be exactly 0x2000/);
  const d = clone();
  d.partitionTable.partitions[5].size = "0x100000";
  assert.match(problemsOf(d), /"storage" ends at 0x420000, past the end/);
  const e = clone();
  e.partitionTable.partitions[2].offset = "0x11000";
  assert.match(problemsOf(e), /0x11000 must be 0x10000-aligned for a app partition/);
});

test("the journal must sit in a data partition of its own, in whole sectors", () => {
  const b = clone();
  b.journal.offset = "0xc000"; // otadata
  b.journal.size = "0x2000";
  assert.match(problemsOf(b), /\/journal: lies in partition "otadata"/);
  const c = clone();
  c.journal.size = "0x1000";
  assert.match(problemsOf(c), /at least two/);
  const d = clone();
  d.journal.offset = "0x200000"; // inside an app slot
  assert.match(problemsOf(d), /\/journal: lies in partition "ota_0" \(app\/ota_0\)/);
});

test("a board's simulation identity needs the credentials of its auth mode; the name must match the file", () => {
  const b = clone();
  b.provision = { productId: "P1", deviceName: "d1", signKey: "c2lnbi1rZXktZm9yLXRoZS1ib2FyZHMtdGVzdC0wMDA=" };
  assert.match(problemsOf(b), /\/provision: deviceSecret is required: the board authenticates with "tencent"/);
  const c = clone();
  c.mqtt.auth = "plain";
  c.provision = { productId: "P1", deviceName: "d1", deviceSecret: "c2VjcmV0", signKey: "c2lnbi1rZXktZm9yLXRoZS1ib2FyZHMtdGVzdC0wMDA=" };
  assert.match(problemsOf(c), /\/provision: username and password are required/);
  const e = clone();
  e.provision = { productId: "P1", deviceName: "d1", deviceSecret: "c2VjcmV0" };
  assert.match(problemsOf(e), /\/provision: signKey is required while the board's sign\.required is true/);
  const d = clone();
  d.mqtt.productId = "P1";
  assert.match(problemsOf(d), /\/mqtt: unknown field "productId"/);
  assert.match(problemsOf(clone(), "boards/other.json"), /\/name: "esp32-espruino-stock" must equal the file name "other"/);
});

test("unreadable or non-JSON files fail with the path", () => {
  assert.throws(() => loadBoard("/nonexistent/board.json"), /\/nonexistent\/board\.json: invalid board file\n {2}- cannot read/);
});
