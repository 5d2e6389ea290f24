// The `espruino-gate` command, spawned as a user runs it (the package.json bin): located
// messages, exit codes 0/1/2, --json, --help, and a one-line refusal of unknown options.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const bin = join(root, pkg.bin["espruino-gate"]);

function gate(...args: string[]) {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", cwd: root });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const dir = mkdtempSync(join(tmpdir(), "gate-cli-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, code: string): string {
  const path = join(dir, name);
  writeFileSync(path, code);
  return path;
}

const clean = file("clean.js", [
  "var Storage = require(\"Storage\");",
  "function blink(n) { var out = []; for (var i = 0; i < n; i++) out.push(i % 2); return out; }",
  "var copy = new Uint8Array(new Uint8Array(4).subarray(0, 2));",
  "setTimeout(function () { print(blink(3), copy.length, Storage); }, 10);",
].join("\n"));

const broken = file("broken.js", [
  "var a = [1, 2, 3];",
  "a.length = 1;",
  "Promise.resolve(a).finally(function () { print(\"done\"); });",
].join("\n"));

test("a clean ES5 file exits 0 and prints no problem", () => {
  const run = gate(clean);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.equal(run.stdout, "");
  assert.match(run.stderr, /1 file checked, no problems/);
});

test("each problem is printed as file:line:col rule: message and the exit code is 1", () => {
  const run = gate(clean, broken);
  assert.equal(run.code, 1);
  const lines = run.stdout.trim().split("\n");
  assert.equal(lines.length, 2, run.stdout);
  assert.match(lines[0], new RegExp(`^${broken.replace(/[.\\]/g, "\\$&")}:2:3 length-assign: `));
  assert.match(lines[1], /broken\.js:3:20 promise-finally: /);
  assert.match(run.stderr, /2 problems in 2 files/);
});

test("--json prints one object with every file and its issues", () => {
  const run = gate("--json", broken, clean);
  assert.equal(run.code, 1);
  const report = JSON.parse(run.stdout);
  assert.equal(report.ok, false);
  assert.equal(report.problems, 2);
  assert.deepEqual(report.files.map((f: { file: string; issues: unknown[] }) => [f.file, f.issues.length]), [[broken, 2], [clean, 0]]);
  assert.deepEqual(report.files[0].issues[0], {
    rule: "length-assign",
    message: report.files[0].issues[0].message,
    line: 2,
    column: 3,
  });
  const ok = gate("--json", clean);
  assert.equal(ok.code, 0);
  assert.equal(JSON.parse(ok.stdout).ok, true);
});

test("a syntax error is a located problem too", () => {
  const run = gate(file("modern.js", "var f = (x) => x * 2;\n"));
  assert.equal(run.code, 1);
  assert.match(run.stdout, /modern\.js:1:9 es5: arrow function/);
});

test("--help prints the usage and exits 0", () => {
  const run = gate("--help");
  assert.equal(run.code, 0);
  assert.match(run.stdout, /^usage: espruino-gate \[--json\] FILE\.\.\./);
  assert.match(run.stdout, /--json/);
});

test("an unknown option is refused in one line, without a stack trace, exit 2", () => {
  const run = gate("--fix", clean);
  assert.equal(run.code, 2);
  assert.equal(run.stdout, "");
  assert.equal(run.stderr, "espruino-gate: Unknown option '--fix' (see espruino-gate --help)\n");
});

test("no file, or a file that cannot be read, is exit 2 with one line", () => {
  const none = gate();
  assert.equal(none.code, 2);
  assert.equal(none.stderr.trim().split("\n").length, 1);
  const missing = gate(join(dir, "nope.js"));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^espruino-gate: cannot read .*nope\.js: ENOENT\n$/);
});

test("npm run gate runs the same command", () => {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const run = spawnSync(npm, ["run", "--silent", "gate", "--", broken], { encoding: "utf8", cwd: root });
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stdout, /broken\.js:2:3 length-assign/);
});

test("the README's example shows what the gate really prints for that file", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const example = /\$ cat blink\.js\n([\s\S]*?)\n\n\$ npx espruino-gate blink\.js[^\n]*\n([\s\S]*?)\n\$ echo \$\?\n(\d)\n/.exec(readme);
  assert.ok(example, "README has the blink.js example");
  const [, source, shown, status] = example;
  const blink = file("blink.js", source + "\n");
  const run = spawnSync(process.execPath, [bin, "blink.js"], { encoding: "utf8", cwd: dir });
  assert.equal(String(run.status), status);
  assert.equal(run.stdout + run.stderr, shown + "\n");
  assert.ok(blink.endsWith("blink.js"));
});
