// The flash tool: its dry-run output against a golden upload script, the agent's real upload
// script replayed against a model of Espruino's Storage (the agent's boot file and its
// provisioning file, never the application's .bootcde, then a reboot), a real send over the
// CLI's TCP port to a stand-in board, and the errors a user meets (no port, missing port, bad
// board, too big, bad provisioning); secrets never reach the output.
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
const SECRET = "Zmxhc2gtdG9vbC10ZXN0LXNlY3JldA==";
const secretFile = join(tmp, "device.key");
writeFileSync(secretFile, SECRET + "\n");
const SIGN_KEY = "c2lnbi1rZXktZm9yLXRoZS1mbGFzaC10b29sLXRlc3Q=";
const keyFile = join(tmp, "product.key");
writeFileSync(keyFile, SIGN_KEY + "\n");
const ID = ["--device", "PRODUCT1/dev-1", "--secret-file", secretFile, "--sign-key-file", keyFile];

function runFlash(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/host/tools/flash.ts", ...args], { encoding: "utf8", timeout: 60000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("--dry-run writes exactly the golden upload script for a fixed bundle", () => {
  const out = join(tmp, "tiny.upload.js");
  const r = runFlash("--board", "boards/esp32-4mb-ab.json", "--bundle", `${FIX}/tiny-bundle.js`, ...ID, "--dry-run", out);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(out, "latin1"), readFileSync(`${FIX}/tiny-bundle.upload.js`, "latin1"));
  assert.match(r.stdout, /upload +10 Storage\.write commands into \.boot0, ota\.job, ota\.fmt, ota\.cfg, then E\.reboot\(\) \(\.bootcde, the application, untouched\)/);
  assert.match(r.stdout, /nothing sent/);
  for (const k of [SECRET, SIGN_KEY]) assert.ok(!(r.stdout + r.stderr).includes(k.slice(0, 12)), "a secret was printed");
  // the golden stores the bundle byte for byte as .boot0 and the provisioning as ota.cfg, then reboots
  const replay = replayUploadScript(readFileSync(`${FIX}/tiny-bundle.upload.js`, "latin1"));
  assert.equal(replay.files.get(".boot0"), readFileSync(`${FIX}/tiny-bundle.js`, "latin1"));
  assert.deepEqual(JSON.parse(replay.files.get("ota.cfg")!), { productId: "PRODUCT1", deviceName: "dev-1", deviceSecret: SECRET, signKey: SIGN_KEY });
  assert.equal(replay.files.get("ota.job"), readFileSync(`${FIX}/tiny-bundle.job.js`, "latin1"));
  assert.equal(replay.files.get("ota.fmt"), readFileSync(`${FIX}/tiny-bundle.fmt.js`, "latin1"));
  assert.deepEqual([...replay.files.keys()].sort(), [".boot0", "ota.cfg", "ota.fmt", "ota.job"]);
  assert.deepEqual(replay.loads, []);
  assert.equal(replay.reboots, 1);
});

test("the agent's upload script stores the board's bundle as .boot0 with its provisioning and never writes .bootcde", async () => {
  const out = join(tmp, "agent.upload.js");
  const r = await flash({ board: "boards/host-sim.json", provision: { productId: "P2", deviceName: "d2", deviceSecret: SECRET, signKey: SIGN_KEY }, dryRun: out });
  const code = await buildBundle(r.board);
  const replay = replayUploadScript(readFileSync(out, "latin1"));
  assert.equal(replay.files.get(".boot0"), code.boot);
  assert.equal(replay.files.get("ota.job"), code.job);
  assert.equal(replay.files.get("ota.fmt"), code.fmt);
  assert.deepEqual(JSON.parse(replay.files.get("ota.cfg")!), { productId: "P2", deviceName: "d2", deviceSecret: SECRET, signKey: SIGN_KEY });
  assert.ok(!replay.files.has(".bootcde"));
  assert.equal(replay.reboots, 1);
  assert.equal(r.bundleBytes, code.boot.length + code.job.length + code.fmt.length);
  assert.ok(r.bundleBytes <= r.limit);
  // an agent update keeps the board's provisioning file
  const keep = await flash({ board: "boards/host-sim.json", dryRun: join(tmp, "keep.upload.js") });
  assert.deepEqual(keep.files, [".boot0", "ota.job", "ota.fmt"]);
});

test("provisioning flags: a clear one-line error for each mistake, and the secret never echoed", () => {
  const run = (...a: string[]) => runFlash("--board", "boards/esp32-4mb-ab.json", "--bundle", `${FIX}/tiny-bundle.js`, "--dry-run", join(tmp, "p.js"), ...a);
  assert.match(run().stderr, /--device PRODUCT\/NAME is required \(or --keep-provision/);
  assert.match(run("--device", "P/d/x", "--secret-file", secretFile).stderr, /--device "P\/d\/x" is not of the form productId\/deviceName/);
  assert.match(run("--device", "P/d", "--sign-key-file", keyFile).stderr, /deviceSecret is required: the board authenticates with "tencent"/);
  assert.match(run("--device", "P/d", "--secret-file", secretFile).stderr, /signKey is required while the board's sign\.required is true/);
  assert.match(run("--device", "P/d", "--secret-file", join(tmp, "missing.key")).stderr, /--secret-file .*missing\.key: ENOENT/);
  const bad = join(tmp, "bad.key");
  writeFileSync(bad, "not base64 at all!");
  const r = run("--device", "P/d", "--secret-file", bad);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--secret-file: not a base64 device secret/);
  assert.ok(!r.stderr.includes("not base64 at all"));
  assert.match(run("--keep-provision", "--device", "P/d").stderr, /--keep-provision keeps the board's ota\.cfg: drop --device/);
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
    const r = await flash({ board: "boards/esp32-4mb-ab.json", bundle: `${FIX}/tiny-bundle.js`, provision: { productId: "PRODUCT1", deviceName: "dev-1", deviceSecret: SECRET, signKey: SIGN_KEY }, port, onOutput: (l) => lines.push(l) });
    assert.equal(r.sent, true);
    assert.ok(lines.some((l) => /Connected/.test(l)), lines.join("\n"));
    // \x10 turns echo off for a line; ESC [ n d tells Espruino's console the line number of
    // what follows (for error messages): both are consumed by the console, not code
    const sent = Buffer.concat(received).toString("latin1").replace(/\x10/g, "").replace(/\x1b\[\d+d/g, "");
    // the CLI resets the board, clears the prompt, then sends the script unchanged
    const golden = readFileSync(`${FIX}/tiny-bundle.upload.js`, "latin1");
    assert.ok(sent.includes("reset();\nprint()\n" + golden), JSON.stringify(sent.slice(0, 300)));
    const replay = replayUploadScript(sent.slice(sent.indexOf("require(")));
    assert.equal(replay.files.get(".boot0"), readFileSync(`${FIX}/tiny-bundle.js`, "latin1"));
  } finally {
    board.close();
  }
});

test("a --bundle without its job or formats bundle beside it is a clear error", () => {
  const lone = join(tmp, "lone.js");
  writeFileSync(lone, "print(1);");
  const r = runFlash("--board", "boards/esp32-4mb-ab.json", "--bundle", lone, ...ID, "--dry-run", join(tmp, "never.js"));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /cannot read --bundle .*lone\.js, its job bundle .*lone\.job\.js and its formats bundle .*lone\.fmt\.js: ENOENT/);
  // the job alone is not enough: without the formats the job cannot read the flash layout
  writeFileSync(join(tmp, "lone.job.js"), "module.exports=function(){};");
  const noFmt = runFlash("--board", "boards/esp32-4mb-ab.json", "--bundle", lone, ...ID, "--dry-run", join(tmp, "never.js"));
  assert.equal(noFmt.code, 2);
  assert.match(noFmt.stderr, /lone\.fmt\.js: ENOENT/);
});

test("no --port (and no --dry-run) is a clear error", () => {
  const r = runFlash("--board", "boards/esp32-4mb-ab.json", ...ID);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no --port given/);
  assert.match(r.stderr, /--dry-run FILE/);
});

test("a serial port that does not exist is a clear error, before anything is built", () => {
  const r = runFlash("--board", "boards/esp32-4mb-ab.json", ...ID, "--port", "/dev/ttyUSB-not-here");
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
  const r = runFlash("--board", file, ...ID, "--dry-run", join(tmp, "never.js"));
  assert.equal(r.code, 2);
  assert.ok(r.stderr.includes(`${file}: invalid board file`), r.stderr);
  assert.match(r.stderr, /\/mqtt\/port: must be integer/);
  assert.match(r.stderr, /\/download: missing field "spanBytes"/);
});

test("a bundle too big for the board's Storage is refused with the limit and where it comes from", () => {
  const big = join(tmp, "big.js");
  writeFileSync(big, "var x=1;\n".repeat(500)); // 4500 bytes, its job 900 and its formats 90: the board keeps 4064 for the agent
  writeFileSync(join(tmp, "big.job.js"), "var y=1;\n".repeat(100));
  writeFileSync(join(tmp, "big.fmt.js"), "var z=1;\n".repeat(10));
  const r = runFlash("--board", `${FIX}/small-storage.json`, "--bundle", big, ...ID, "--dry-run", join(tmp, "never.js"));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /the agent is 5490 bytes, more than the 4064 bytes allowed on small-storage \(partition "storage" \(0x11000 bytes at 0x320000\) less 64 KB kept free\)/);
  const fits = runFlash("--board", `${FIX}/small-storage.json`, "--bundle", `${FIX}/tiny-bundle.js`, ...ID, "--dry-run", join(tmp, "fits.js"));
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

test("partition-table answers --help and refuses an unknown option in one line", () => {
  const run = (...a: string[]) => spawnSync(process.execPath, ["--import", "tsx", "src/host/tools/partition-table.ts", ...a], { encoding: "utf8", timeout: 60000 });
  const help = run("--help");
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: npm run partition-table -- --board/);
  const bad = run("--bogus");
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
  assert.match(bad.stderr, /^partition-table: Unknown option '--bogus'/);
});
