// The flash tool: its dry-run output against a golden upload script, the agent's real upload
// script replayed against a model of Espruino's Storage, a real send over the CLI's TCP port
// to a stand-in board, and the errors a user meets (no port, missing port, bad board, too big).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { flash } from "../../src/host/tools/flash";
import { replayUploadScript } from "../../src/host/tools/upload-script";
import { buildBundle } from "../../src/host/build/bundle";
import { loadBoard } from "../../src/host/boards/load-board";
import { parsePartitionTable } from "../../src/core/esp32/partition-table";
import { md5Bytes } from "../../src/core/crypto/md5";

const FIX = "test/fixtures/flash";
const tmp = mkdtempSync(join(tmpdir(), "tools-flash-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function runFlash(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/host/tools/flash.ts", ...args], { encoding: "utf8", timeout: 60000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("--dry-run writes exactly the golden upload script for a fixed bundle", () => {
  const out = join(tmp, "tiny.upload.js");
  const r = runFlash("--board", "boards/esp32-4mb-ab.json", "--bundle", `${FIX}/tiny-bundle.js`, "--dry-run", out);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(out, "latin1"), readFileSync(`${FIX}/tiny-bundle.upload.js`, "latin1"));
  assert.match(r.stdout, /upload +3 Storage\.write commands into \.bootcde, then load\("\.bootcde"\)/);
  assert.match(r.stdout, /nothing sent/);
  // the golden itself stores the bundle byte for byte in three 1024-byte chunks and loads it
  const replay = replayUploadScript(readFileSync(`${FIX}/tiny-bundle.upload.js`, "latin1"));
  const bundle = readFileSync(`${FIX}/tiny-bundle.js`, "latin1");
  assert.equal(replay.files.get(".bootcde"), bundle);
  assert.deepEqual(
    replay.commands.map((c) => [c.file, c.offset, c.bytes, c.total]),
    [
      [".bootcde", 0, 1024, bundle.length],
      [".bootcde", 1024, 1024, undefined],
      [".bootcde", 2048, bundle.length - 2048, undefined],
    ],
  );
  assert.deepEqual(replay.loads, [".bootcde"]);
});

test("the agent's upload script stores the board's bundle as .bootcde and loads it", async () => {
  const out = join(tmp, "agent.upload.js");
  const r = await flash({ board: "boards/host-sim.json", dryRun: out });
  const bundle = await buildBundle(r.board);
  const replay = replayUploadScript(readFileSync(out, "latin1"));
  assert.equal(replay.files.size, 1);
  assert.equal(replay.files.get(".bootcde"), bundle);
  assert.equal(replay.commands.length, Math.ceil(bundle.length / 1024));
  replay.commands.forEach((c, i) => assert.equal(c.offset, i * 1024));
  assert.equal(replay.commands[0].total, bundle.length);
  assert.deepEqual(replay.loads, [".bootcde"]);
  assert.equal(r.bundleBytes, bundle.length);
  assert.ok(r.bundleBytes <= r.limit);
});

test("with a port the CLI sends the dry-run script to the board (Espruino's telnet port, stood in for)", async () => {
  // a stand-in board: answers every line with Espruino's prompt and records what it gets
  const received: Buffer[] = [];
  const board = createServer((s) => {
    s.on("data", (d) => {
      received.push(d);
      if (d.includes(10) || d.includes(3)) s.write("\r\n>");
    });
  });
  await new Promise<void>((r) => board.listen(0, "127.0.0.1", r));
  const port = `tcp://127.0.0.1:${(board.address() as AddressInfo).port}`;
  try {
    const lines: string[] = [];
    const r = await flash({ board: "boards/esp32-4mb-ab.json", bundle: `${FIX}/tiny-bundle.js`, port, onOutput: (l) => lines.push(l) });
    assert.equal(r.sent, true);
    assert.ok(lines.some((l) => /Connected/.test(l)), lines.join("\n"));
    const sent = Buffer.concat(received).toString("latin1").replace(/\x10/g, "");
    // the CLI resets the board, clears the prompt, then sends the script unchanged
    const golden = readFileSync(`${FIX}/tiny-bundle.upload.js`, "latin1");
    assert.ok(sent.includes("reset();\nprint()\n" + golden), JSON.stringify(sent.slice(0, 200)));
    const replay = replayUploadScript(sent.slice(sent.indexOf("require(")));
    assert.equal(replay.files.get(".bootcde"), readFileSync(`${FIX}/tiny-bundle.js`, "latin1"));
  } finally {
    board.close();
  }
});

test("no --port (and no --dry-run) is a clear error", () => {
  const r = runFlash("--board", "boards/esp32-4mb-ab.json");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no --port given/);
  assert.match(r.stderr, /--dry-run FILE/);
});

test("a serial port that does not exist is a clear error, before anything is built", () => {
  const r = runFlash("--board", "boards/esp32-4mb-ab.json", "--port", "/dev/ttyUSB-not-here");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /serial port \/dev\/ttyUSB-not-here does not exist/);
});

test("a board file that fails validation names the file and the field", () => {
  const raw = JSON.parse(readFileSync("boards/esp32-4mb-ab.json", "utf8"));
  raw.name = "bad-board";
  raw.mqtt.port = "1883";
  delete raw.download.spanBytes;
  const file = join(tmp, "bad-board.json");
  writeFileSync(file, JSON.stringify(raw));
  const r = runFlash("--board", file, "--dry-run", join(tmp, "never.js"));
  assert.equal(r.code, 2);
  assert.ok(r.stderr.includes(`${file}: invalid board file`), r.stderr);
  assert.match(r.stderr, /\/mqtt\/port: must be integer/);
  assert.match(r.stderr, /\/download: missing field "spanBytes"/);
});

test("a bundle too big for the board's Storage is refused with the limit and where it comes from", () => {
  const big = join(tmp, "big.js");
  writeFileSync(big, "var x=1;\n".repeat(600)); // 5400 bytes; the board keeps 4064 for .bootcde
  const r = runFlash("--board", `${FIX}/small-storage.json`, "--bundle", big, "--dry-run", join(tmp, "never.js"));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /the bundle is 5400 bytes, more than the 4064 bytes allowed on small-storage \(partition "storage" \(0x11000 bytes at 0x320000\) less 64 KB kept free\)/);
  const fits = runFlash("--board", `${FIX}/small-storage.json`, "--bundle", `${FIX}/tiny-bundle.js`, "--dry-run", join(tmp, "fits.js"));
  assert.equal(fits.code, 0, fits.stderr);
});

test("partition-table writes the board's table as the bootloader reads it, and the esptool commands for its layout", () => {
  for (const name of ["esp32-4mb-ab", "esp32-espruino-stock"]) {
    const out = join(tmp, `${name}.partitions.bin`);
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/host/tools/partition-table.ts", "--board", `boards/${name}.json`, "--out", out], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const board = loadBoard(`boards/${name}.json`);
    const bytes = new Uint8Array(readFileSync(out));
    assert.equal(bytes.length, 0xc00);
    const table = parsePartitionTable(bytes, md5Bytes, board.flash.size);
    assert.equal(table.md5Checked, true);
    assert.deepEqual(
      table.partitions.map((p) => [p.label, p.offset, p.size]),
      board.partitionTable.partitions.map((p) => [p.label, p.offset, p.size]),
    );
    const first = name === "esp32-4mb-ab" ? "ota_0" : "factory";
    assert.match(r.stdout, new RegExp(`write_flash .* 0x1000 bootloader\\.bin 0x8000 ${out.replace(/[.]/g, "\\.")} 0x10000 espruino_esp32\\.bin`));
    assert.match(r.stdout, new RegExp(`the bootloader starts "${first}"`));
  }
});
