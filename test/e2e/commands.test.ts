// Every command a user runs answers --help and refuses an unknown option in one line, without
// a stack trace (the project's rule for its tools).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

const COMMANDS: [string, string][] = [
  ["flash", "src/host/tools/flash.ts"],
  ["partition-table", "src/host/tools/partition-table.ts"],
  ["sign", "src/host/tools/sign.ts"],
  ["app-package", "src/host/tools/app-package.ts"],
  ["keygen", "src/host/tools/keygen.ts"],
  ["sim", "src/host/sim/main.ts"],
  ["reliability", "src/host/reliability/main.ts"],
  ["bench", "src/host/bench/main.ts"],
  ["ota-cloud", "src/host/cloud-cli/main.ts"],
  ["espruino-gate", "src/host/gate/cli.ts"],
];

for (const [name, file] of COMMANDS) {
  test(`${name}: --help, and one line for an unknown option`, () => {
    const run = (arg: string) => spawnSync(process.execPath, ["--import", "tsx", file, arg], { encoding: "utf8", timeout: 60000 });
    const help = run("--help");
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /usage/i);
    const bad = run("--no-such-option");
    assert.equal(bad.status, 2, bad.stdout + bad.stderr);
    const lines = bad.stderr.trim().split("\n");
    assert.equal(lines.length, 1, bad.stderr);
    assert.match(lines[0], /no-such-option/);
    assert.doesNotMatch(bad.stderr, /\n\s+at /);
  });
}
