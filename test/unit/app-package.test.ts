// Application packages (src/host/app/package.ts) and `npm run app-package`: the header line, the
// checks on the application's JavaScript, every refusal, and signing as kind app, checked with
// the board's own signCheck.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SIGN_TRAILER } from "../../src/core/sign/verify";
import { signCheck } from "../../src/core/sign/check";
import { base64Encode } from "../../src/core/crypto/base64";
import type { BoardConfig } from "../../src/core/board";
import type { Ports } from "../../src/core/ports";
import type { Provision } from "../../src/core/provision";
import { AppPackageError, appHeader, buildAppPackage, checkAppSource, readAppPackage } from "../../src/host/app/package";
import { readSigned, signImage, writeKeyFile, readKeyFile, SignError } from "../../src/host/sign/trailer";
import { signFile } from "../../src/host/tools/sign";

const KEY = new Uint8Array(createHash("sha256").update("app package test key").digest());
const OTHER = new Uint8Array(createHash("sha256").update("another key").digest());
const tmp = mkdtempSync(join(tmpdir(), "app-package-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** Modern syntax Espruino 2v29 has: arrow functions, let/const, classes, template literals, for...of, ??. */
const APP = [
  "const led = D2;",
  "let on = false;",
  "class Blink { constructor(ms) { this.ms = ms; } start() { return setInterval(() => { on = !on; digitalWrite(led, on); }, this.ms); } }",
  "for (const x of [1, 2]) print(`x=${x}`);",
  'new Blink(500 ?? 1000).start();',
  'E.on("init", function () { E.emit("OTA:healthy"); });',
  "",
].join("\n");

const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AppPackageError, `expected an AppPackageError, got ${(e as Error).stack}`);
    return e.message;
  }
  assert.fail("expected a refusal");
}

test("a package is the header line followed by the application's bytes, and reads back", () => {
  const built = buildAppPackage(APP, { version: "1.2.0" });
  assert.equal(built.bytes.toString("utf8"), "// ota-app 1.2.0 time\n" + APP);
  assert.deepEqual([built.version, built.confirm, built.signed, built.size, built.md5], ["1.2.0", "time", false, built.bytes.length, md5(built.bytes)]);
  assert.deepEqual(built.warnings, []);
  const read = readAppPackage(built.bytes);
  assert.deepEqual([read.version, read.confirm, read.body, read.signed], ["1.2.0", "time", APP, false]);
  assert.deepEqual(Buffer.from(read.content), built.bytes);

  const api = buildAppPackage(Buffer.from("print('é');", "utf8"), { version: "v2-beta+7", confirm: "api" });
  assert.equal(api.bytes.toString("utf8"), "// ota-app v2-beta+7 api\nprint('é');");
  assert.deepEqual(readAppPackage(api.bytes).confirm, "api");
  assert.equal(readAppPackage(api.bytes).body, "print('é');");
  // a byte order mark would stand before the header: it is dropped
  assert.equal(buildAppPackage(Buffer.from("\ufeffprint(1);", "utf8"), { version: "1" }).bytes.toString("latin1"), "// ota-app 1 time\nprint(1);");
  assert.equal(appHeader("1.0", "api"), "// ota-app 1.0 api\n");
});

test("the builder refuses an empty source, one that is already a package, a signed file, and bytes that are not UTF-8", () => {
  assert.match(refusal(() => buildAppPackage("", { version: "1", filename: "main.js" })), /^main\.js is empty/);
  assert.match(refusal(() => buildAppPackage(" \n\t\n", { version: "1", filename: "main.js" })), /^main\.js is empty/);
  const pkg = buildAppPackage(APP, { version: "1.0.0" }).bytes;
  assert.match(refusal(() => buildAppPackage(pkg, { version: "1.0.1", filename: "app.pkg" })), /^app\.pkg already starts with a header line \("\/\/ ota-app 1\.0\.0 time"\)/);
  assert.match(refusal(() => buildAppPackage("// ota-app\nprint(1)", { version: "1" })), /already starts with a header line/);
  // only the header's own words count: another comment starting the same way is application code
  assert.doesNotThrow(() => buildAppPackage("// ota-application notes\nprint(1);", { version: "1" }));
  assert.match(refusal(() => buildAppPackage(signImage(KEY, Buffer.from("print(1);"), "1", "app"), { version: "1", filename: "s.js" })), /^s\.js ends with a signature trailer/);
  assert.match(refusal(() => buildAppPackage(new Uint8Array([0x70, 0xff, 0x3b]), { version: "1", filename: "bin.js" })), /^bin\.js is not UTF-8 text$/);
});

test("the builder refuses an invalid version or confirm mode", () => {
  // the board's header parser (src/core/agent/app-files.ts) refuses a quote or backslash too
  for (const version of ["", "1 2", "a".repeat(33), "1.0\n", "versión", '1"2', "1\\2"]) {
    assert.match(refusal(() => buildAppPackage(APP, { version })), /^version must be 1\.\.32 printable ASCII characters without a space, quote or backslash, got /, JSON.stringify(version));
  }
  assert.doesNotThrow(() => buildAppPackage(APP, { version: "a".repeat(32) }));
  assert.doesNotThrow(() => buildAppPackage(APP, { version: "!#[]~'" }));
  assert.match(refusal(() => buildAppPackage(APP, { version: "1", confirm: "soon" as "api" })), /^confirm mode must be api or time, got "soon"$/);
});

test("JavaScript that does not parse is refused with its line and column", () => {
  const message = refusal(() => buildAppPackage("var a = 1;\nvar b = 2;\nvar c = ;\n", { version: "1", filename: "main.js" }));
  assert.equal(message, "main.js is not JavaScript Espruino can run (1 problem):\nmain.js:3:9 syntax: not valid JavaScript: Unexpected token");
  // import/export: a Storage file is a script, not a module
  assert.match(refusal(() => buildAppPackage('import x from "y";\n', { version: "1", filename: "m.js" })), /^m\.js is not JavaScript Espruino can run \(1 problem\):\nm\.js:1:1 syntax: /);
});

test("syntax Espruino 2v29 lacks is refused, one line per place", () => {
  const code = [
    "function f({ x, y: [z] }, q = 2, ...r) { return x ** 2; }", // destructuring (once), default, rest, **
    "async function g() {}",
    "function* h() {}",
    "var o = { [f]: 1 }, p = [...o], s = o?.x;",
    "outer: for (;;) break outer;", // the gate's label rule
    "var of = 1;", // the gate's reserved-word rule
    "o.x ||= 1;",
  ].join("\n");
  const message = refusal(() => buildAppPackage(code, { version: "1", filename: "a.js" }));
  const lines = message.split("\n");
  assert.equal(lines[0], "a.js is not JavaScript Espruino can run (12 problems):");
  assert.deepEqual(
    lines.slice(1).map((l) => l.replace(/ is not in Espruino 2v29's parser \(docs\/espruino-runtime\.md#language\)$/, "")),
    [
      "a.js:1:12 espruino-syntax: destructuring",
      "a.js:1:27 espruino-syntax: default parameter value",
      "a.js:1:34 espruino-syntax: rest parameter (...)",
      "a.js:1:49 espruino-syntax: exponent operator (**)",
      "a.js:2:1 espruino-syntax: async function",
      "a.js:3:1 espruino-syntax: generator function (function*)",
      "a.js:4:11 espruino-syntax: computed property key ([key])",
      "a.js:4:26 espruino-syntax: spread (...)",
      "a.js:4:37 espruino-syntax: optional chaining (?.)",
      'a.js:5:1 label: labelled statement "outer:" is not supported by Espruino',
      'a.js:6:5 reserved-word: "of" is a keyword in Espruino and cannot be used as a name',
      "a.js:7:1 espruino-syntax: logical assignment (||=)",
    ],
  );
});

test("code that parses but misbehaves on Espruino is a warning, not a refusal", () => {
  const built = buildAppPackage('var re = /\\bword/;\nPromise.resolve(1).finally(print);\n', { version: "1", filename: "w.js" });
  assert.equal(built.warnings.length, 2, built.warnings.join("\n"));
  assert.match(built.warnings[0], /^w\.js:1:10 regex: /);
  assert.match(built.warnings[1], /^w\.js:2:20 promise-finally: /);
  assert.deepEqual(checkAppSource(APP), { errors: [], warnings: [] });
});

test("maxBytes bounds the whole package, trailer included", () => {
  const size = buildAppPackage(APP, { version: "1" }).size;
  assert.equal(buildAppPackage(APP, { version: "1", maxBytes: size }).size, size);
  assert.match(refusal(() => buildAppPackage(APP, { version: "1", maxBytes: size - 1 })), new RegExp(`^the package is ${size} bytes, more than the limit of ${size - 1}$`));
  assert.match(
    refusal(() => buildAppPackage(APP, { version: "1", maxBytes: size, signKey: KEY })),
    new RegExp(`^the package is ${size + SIGN_TRAILER} bytes \\(signature trailer included\\), more than the limit of ${size}$`),
  );
});

/** The board's signCheck on a downloaded file, for an application (kind 1): "" or what failed. */
function boardCheck(file: Uint8Array, key: Uint8Array, version: string): string {
  const image = file.subarray(0, file.length - SIGN_TRAILER);
  const state = new Uint8Array(88);
  const ports = {
    sha256: (d: Uint8Array) => new Uint8Array(createHash("sha256").update(d).digest()),
    flash: { read: (addr: number, len: number) => new Uint8Array(file.subarray(addr - 0x10000, addr - 0x10000 + len)) },
    md5: { restore: () => ({ digest: () => new Uint8Array(createHash("md5").update(image).digest()) }) },
  } as unknown as Ports;
  const board = { sign: { required: true, allowDowngrade: true } } as unknown as BoardConfig;
  return signCheck(board, { signKey: base64Encode(key) } as unknown as Provision, ports, 0x10000, file.length, state, version, "0.0.1", 1);
}

test("signing: a kind-1 trailer for the header's version that the board's check accepts, and reads back", () => {
  const unsigned = buildAppPackage(APP, { version: "2.0.0", confirm: "api" });
  const signed = buildAppPackage(APP, { version: "2.0.0", confirm: "api", signKey: KEY });
  assert.equal(signed.signed, true);
  assert.equal(signed.size, unsigned.size + SIGN_TRAILER);
  assert.deepEqual(signed.bytes.subarray(0, unsigned.size), unsigned.bytes);
  assert.equal(signed.md5, md5(signed.bytes));
  const trailer = signed.bytes.subarray(unsigned.size);
  assert.equal(trailer.toString("latin1", 0, 4), "ESIG");
  assert.equal(trailer[5], 1, "kind 1: application");
  assert.deepEqual(readSigned(signed.bytes, KEY), { signed: true, image: unsigned.bytes, kind: "app", version: "2.0.0", format: 1, tagValid: true });
  assert.equal(boardCheck(signed.bytes, KEY, "2.0.0"), "");
  assert.equal(boardCheck(signed.bytes, OTHER, "2.0.0"), "signature check failed: bad tag (not signed with this product's key)");
  // what `npm run sign -- --kind firmware` would have made is refused by a board installing an application
  assert.equal(boardCheck(signImage(KEY, unsigned.bytes, "2.0.0", "firmware"), KEY, "2.0.0"), "signature check failed: wrong kind 0 (expected 1)");

  const read = readAppPackage(signed.bytes, KEY);
  assert.deepEqual([read.version, read.confirm, read.body, read.signed, read.tagValid], ["2.0.0", "api", APP, true, true]);
  assert.deepEqual(Buffer.from(read.content), unsigned.bytes);
  assert.equal(readAppPackage(signed.bytes, OTHER).tagValid, false);
  assert.equal(readAppPackage(signed.bytes).tagValid, undefined);
});

test("the reader refuses each malformed package with what is wrong", () => {
  const body = "print(1);\n";
  const bad = (text: string | Uint8Array) => refusal(() => readAppPackage(typeof text === "string" ? Buffer.from(text, "utf8") : text));
  assert.match(bad(body), /^not an application package: it does not start with the header line "\/\/ ota-app <version> <api\|time>"/);
  assert.match(bad("\ufeff// ota-app 1 time\n" + body), /^not an application package/);
  assert.match(bad("// ota-app 1 time"), /^the header line has no end/);
  assert.match(bad("// ota-app 1 time\r\n" + body), /^the header line ends in "\\r\\n"/);
  assert.match(bad("// ota-app 1 time extra\n" + body), /^the header line must be "\/\/ ota-app <version> <api\|time>" with nothing else on it, got "\/\/ ota-app 1 time extra"$/);
  assert.match(bad("// ota-app 1  time\n" + body), /with nothing else on it/);
  assert.match(bad("// ota-app 1\n" + body), /with nothing else on it/);
  assert.match(bad(`// ota-app ${"v".repeat(33)} time\n` + body), /^version must be 1\.\.32 printable ASCII/);
  assert.match(bad('// ota-app 1"0 time\n' + body), /^version must be 1\.\.32 printable ASCII/);
  assert.match(bad("// ota-app 1 later\n" + body), /^the header's confirm mode must be api or time, got "later"$/);
  assert.match(bad("// ota-app 1 time\n \n"), /^the package holds no application code after the header line$/);
  assert.match(bad(Buffer.concat([Buffer.from("// ota-app 1 time\n"), Buffer.from([0xc3, 0x28])])), /^the application after the header line is not UTF-8 text$/);
  const pkg = buildAppPackage(body, { version: "1.0" }).bytes;
  assert.match(bad(signImage(KEY, pkg, "1.0", "firmware")), /^the package is signed as kind firmware, not app: boards refuse it$/);
  assert.match(bad(signImage(KEY, pkg, "1.1", "app")), /^the package is signed for version 1\.1 but its header says 1\.0: boards refuse it$/);
});

test("npm run sign -- --kind app checks the package and its version", () => {
  const keyFile = join(tmp, "sign.key");
  writeKeyFile(keyFile);
  const pkgFile = join(tmp, "sign-me.pkg");
  writeFileSync(pkgFile, buildAppPackage(APP, { version: "3.1" }).bytes);
  const out = join(tmp, "sign-me.signed");
  const r = signFile({ keyFile, version: "3.1", kind: "app", input: pkgFile, output: out });
  assert.equal(r.size, readFileSync(pkgFile).length + SIGN_TRAILER);
  assert.equal(readAppPackage(readFileSync(out), readKeyFile(keyFile)).tagValid, true);
  const signError = (o: Parameters<typeof signFile>[0]): string => {
    try {
      signFile(o);
    } catch (e) {
      assert.ok(e instanceof SignError, String(e));
      return e.message;
    }
    assert.fail("expected a SignError");
  };
  assert.equal(
    signError({ keyFile, version: "3.2", kind: "app", input: pkgFile, output: join(tmp, "x") }),
    `--version 3.2 differs from ${pkgFile}'s header line (3.1); the board would report 3.1 after the update`,
  );
  const plain = join(tmp, "plain.js");
  writeFileSync(plain, APP);
  assert.match(signError({ keyFile, version: "3.1", kind: "app", input: plain, output: join(tmp, "y") }), /plain\.js: not an application package: it does not start with the header line/);
  assert.equal(existsSync(join(tmp, "x")) || existsSync(join(tmp, "y")), false);
});

const run = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "src/host/tools/app-package.ts", ...args], { encoding: "utf8", timeout: 60000 });

test("app-package: writes OUT and prints version, confirm, size, MD5 and the next step", () => {
  const input = join(tmp, "main.js");
  writeFileSync(input, APP);
  const out = join(tmp, "main.pkg");
  const r = run("--version", "1.4.0", "--confirm", "api", input, out);
  assert.equal(r.status, 0, r.stderr);
  const bytes = readFileSync(out);
  assert.equal(bytes.toString("utf8"), "// ota-app 1.4.0 api\n" + APP);
  assert.equal(
    r.stdout.split("\n").slice(0, 6).join("\n"),
    `package  ${out}\nversion  1.4.0\nconfirm  api\nsize     ${bytes.length}\nmd5      ${md5(bytes)}\nsigned   no`,
  );
  assert.match(r.stdout, new RegExp(`^next     sign it: npm run sign -- --key product\\.key --kind app --version 1\\.4\\.0 ${out} ${out}\\.signed$`, "m"));
  assert.equal(r.stderr, "");

  // --sign-key: one command makes what a board with sign.required installs
  const keyFile = join(tmp, "cli.key");
  writeKeyFile(keyFile);
  const signedOut = join(tmp, "main.signed.pkg");
  const s = run("--version", "1.4.0", "--sign-key", keyFile, input, signedOut);
  assert.equal(s.status, 0, s.stderr);
  const signed = readFileSync(signedOut);
  assert.match(s.stdout, /^confirm  time$/m);
  assert.match(s.stdout, new RegExp(`^size     ${signed.length}\nmd5      ${md5(signed)}\nsigned   yes \\(kind app\\)$`, "m"));
  assert.match(s.stdout, /^next     serve it: npx ota-cloud serve --app /m);
  assert.equal(boardCheck(signed, readKeyFile(keyFile), "1.4.0"), "");
  assert.ok(!s.stdout.includes(readFileSync(keyFile, "latin1").trim()), "the key is never printed");
});

test("app-package: refusals are one clear message, exit 1 for IN, 2 for usage", () => {
  const input = join(tmp, "broken.js");
  writeFileSync(input, "print(1);\nvar = 2;\n");
  const out = join(tmp, "broken.pkg");
  const r = run("--version", "1", input, out);
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `app-package: ${input} is not JavaScript Espruino can run (1 problem):\n${input}:2:5 syntax: not valid JavaScript: Unexpected token\n`);
  assert.equal(existsSync(out), false, "nothing written");

  const empty = join(tmp, "empty.js");
  writeFileSync(empty, "");
  assert.deepEqual([run("--version", "1", empty, out).status, run("--version", "1", empty, out).stderr], [1, `app-package: ${empty} is empty: there is no application to package\n`]);

  const good = join(tmp, "good.js");
  writeFileSync(good, APP);
  const usage: [string[], string][] = [
    [["--version", "1 2", good, out], 'app-package: --version: version must be 1..32 printable ASCII characters without a space, quote or backslash, got "1 2"\n'],
    [[good, out], "app-package: --version V is required (see --help)\n"],
    [["--version", "1", "--confirm", "never", good, out], 'app-package: --confirm must be api or time, got "never"\n'],
    [["--version", "1", "--max-bytes", "0", good, out], 'app-package: --max-bytes must be a positive integer, got "0"\n'],
    [["--version", "1", good], "app-package: give IN.js and OUT (see --help)\n"],
    [["--version", "1", good, good], "app-package: IN and OUT are the same file; write the package elsewhere\n"],
    [["--version", "1", "--frobnicate", good, out], "app-package: unknown option --frobnicate (see --help)\n"],
    [["--version", "1", join(tmp, "missing.js"), out], `app-package: cannot read ${join(tmp, "missing.js")}: ENOENT\n`],
  ];
  for (const [args, stderr] of usage) {
    const u = run(...args);
    assert.deepEqual([u.status, u.stderr], [2, stderr], args.join(" "));
  }
  const tooBig = run("--version", "1", "--max-bytes", "10", good, out);
  assert.equal(tooBig.status, 1);
  assert.match(tooBig.stderr, /^app-package: the package is \d+ bytes, more than the limit of 10\n$/);
  assert.equal(existsSync(out), false, "nothing written");
  const help = run("--help");
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: npm run app-package -- --version V \[--confirm api\|time\] \[--max-bytes N\] \[--sign-key FILE\] IN\.js OUT$/m);
});
