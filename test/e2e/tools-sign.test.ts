// `npm run keygen` and `npm run sign` run as a user runs them: the key file is private and
// never printed, the signed file passes the device's own check with that key, and every
// mistake is refused in one line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildAppImage } from "../../src/host/image/app-image-builder";
import { SIGN_TRAILER } from "../../src/core/sign/verify";
import { signProblem } from "../helpers/sign-check";

const tmp = mkdtempSync(join(tmpdir(), "tools-sign-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const tool = (name: string, ...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", `src/host/tools/${name}.ts`, ...args], { encoding: "utf8" });

test("keygen writes a private 32-byte key, never prints it and never overwrites one", () => {
  const key = join(tmp, "product.key");
  const r = tool("keygen", key);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(statSync(key).mode & 0o777, 0o600);
  const text = readFileSync(key, "latin1").trim();
  assert.equal(Buffer.from(text, "base64").length, 32);
  assert.ok(!r.stdout.includes(text) && !r.stderr.includes(text), "the key is not printed");
  const again = tool("keygen", key);
  assert.equal(again.status, 2);
  assert.equal(readFileSync(key, "latin1").trim(), text, "the existing key is kept");
  assert.match(again.stderr, /^keygen: .* exists; a key is never overwritten/);
  assert.equal(tool("keygen", "--help").status, 0);
  assert.deepEqual([tool("keygen", "--force", key).stderr], ["keygen: unknown option --force (see --help)\n"]);
});

test("sign appends the trailer, prints version, size and MD5 for the console, and the device check accepts it", () => {
  const key = join(tmp, "sign.key");
  assert.equal(tool("keygen", key).status, 0);
  const image = buildAppImage({ version: "2.1.0", projectName: "espruino", size: 32768, seed: 4 });
  const input = join(tmp, "fw.bin");
  const out = join(tmp, "fw.signed.bin");
  writeFileSync(input, image);
  const r = tool("sign", "--key", key, "--version", "2.1.0", input, out);
  assert.equal(r.status, 0, r.stderr);
  const file = readFileSync(out);
  assert.equal(file.length, image.length + SIGN_TRAILER);
  assert.deepEqual(file.subarray(0, image.length), Buffer.from(image));
  assert.match(r.stdout, /^version +2\.1\.0$/m);
  assert.match(r.stdout, new RegExp(`^size +${file.length}$`, "m"));
  assert.match(r.stdout, new RegExp(`^md5 +${createHash("md5").update(file).digest("hex")}$`, "m"));
  const keyText = readFileSync(key, "latin1").trim();
  assert.ok(!r.stdout.includes(keyText) && !r.stderr.includes(keyText));
  // what the board computes
  const md5 = new Uint8Array(createHash("md5").update(image).digest());
  const tail = file.subarray(file.length - 2 * SIGN_TRAILER);
  const sha = (d: Uint8Array) => new Uint8Array(createHash("sha256").update(d).digest());
  assert.equal(signProblem(tail, file.length, md5, Buffer.from(keyText, "base64"), "2.1.0", "2.0.0", false, sha), "");
  assert.match(signProblem(tail, file.length, md5, Buffer.alloc(32), "2.1.0", "2.0.0", false, sha), /^bad tag/);
});

test("sign refuses mistakes in one line", () => {
  const key = join(tmp, "k3.key");
  assert.equal(tool("keygen", key).status, 0);
  const input = join(tmp, "fw3.bin");
  writeFileSync(input, buildAppImage({ version: "3.0.0", projectName: "espruino", size: 8192, seed: 1 }));
  const cases: Array<[string[], RegExp]> = [
    [["--key", key, "--version", "3.0.1", input, join(tmp, "o1")], /^sign: --version 3\.0\.1 differs from .*app descriptor \(3\.0\.0\)/],
    [["--version", "3.0.0", input, join(tmp, "o2")], /^sign: --key FILE is required/],
    [["--key", key, "--version", "3.0.0", "--kind", "bootloader", input, join(tmp, "o3")], /^sign: --kind must be firmware or app/],
    [["--key", key, "--version", "3.0.0", "--sig", input, join(tmp, "o4")], /^sign: unknown option --sig \(see --help\)\n$/],
    [["--key", input, "--version", "3.0.0", input, join(tmp, "o5")], /^sign: .* is not a signing key file/],
    [["--key", key, "--version", "3.0.0", input, input], /^sign: IN and OUT are the same file/],
    [["--key", key, "--version", "x", "--kind", "app", join(tmp, "missing"), join(tmp, "o6")], /^sign: cannot read .*missing: ENOENT/],
  ];
  for (const [args, err] of cases) {
    const r = tool("sign", ...args);
    assert.equal(r.status, 2, args.join(" "));
    assert.match(r.stderr, err);
    assert.equal(r.stderr.split("\n").length, 2, "one line: " + r.stderr);
  }
  // an application package needs no ESP32 image; a signed file is not signed twice
  const pkg = join(tmp, "app.pkg");
  writeFileSync(pkg, '// ota-app 7 time\nprint("application code");\n');
  assert.equal(tool("sign", "--key", key, "--version", "7", "--kind", "app", pkg, join(tmp, "app.signed")).status, 0);
  assert.match(tool("sign", "--key", key, "--version", "7", "--kind", "app", join(tmp, "app.signed"), join(tmp, "x")).stderr, /already signed/);
  assert.equal(tool("sign", "--help").status, 0);
});
