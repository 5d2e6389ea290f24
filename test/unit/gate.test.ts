// The Espruino gate: known-bad bundles are rejected with a message naming the construct and
// where it is; ES5 code written for Espruino's no-hoisting model passes.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import ts from "typescript";
import {
  assertBundle,
  checkBundle,
  espruinoGlobals,
  formatIssues,
  type GateIssue,
} from "../../src/host/gate/check-bundle";
import { parseEspruinoGlobals } from "../../src/host/gate/espruino-globals";

function issuesOf(code: string): GateIssue[] {
  return checkBundle(code, "bundle.js");
}

/** Asserts exactly one issue, with this rule and place, and returns its message. */
function single(code: string, rule: string, line: number, column: number): string {
  const issues = issuesOf(code);
  assert.equal(issues.length, 1, `expected one issue, got:\n${formatIssues("bundle.js", issues)}`);
  const [issue] = issues;
  assert.equal(issue.rule, rule, formatIssues("bundle.js", issues));
  assert.deepEqual([issue.line, issue.column], [line, column], formatIssues("bundle.js", issues));
  return issue.message;
}

function assertPasses(code: string): void {
  const issues = issuesOf(code);
  assert.deepEqual(issues, [], formatIssues("bundle.js", issues));
}

describe("gate: ES2015+ syntax is named with its place", () => {
  it("destructuring", () => {
    const issues = issuesOf("var o = { a: 1 };\nvar {a} = o;\n");
    assert.equal(issues.length, 1, formatIssues("bundle.js", issues));
    assert.deepEqual([issues[0].rule, issues[0].line, issues[0].column], ["es5", 2, 5]);
    assert.match(issues[0].message, /^destructuring is ES2015\+ syntax/);
  });

  it("const with destructuring names both constructs", () => {
    const issues = issuesOf("var o = {};\nconst {a} = o;");
    assert.deepEqual(issues.map((i) => [i.line, i.column]), [[2, 1], [2, 7]]);
    assert.match(issues[0].message, /"const" declaration/);
    assert.match(issues[1].message, /destructuring/);
  });

  it("spread", () => {
    const message = single("function f() {}\nvar a = [1];\nf(...a);\n", "es5", 3, 3);
    assert.match(message, /spread \(\.\.\.\)/);
  });

  it("rest parameter and default parameter", () => {
    const issues = issuesOf("function f(a, b = 2, ...c) { return a; }");
    assert.deepEqual(issues.map((i) => [i.column, i.message.split(" is ")[0]]), [
      [15, "default value (default parameter or destructuring default)"],
      [22, "rest parameter/element (...)"],
    ]);
  });

  it("async function", () => {
    const message = single("var x = 1;\nasync function load() { return x; }\n", "es5", 2, 1);
    assert.match(message, /^async function is ES2015\+ syntax/);
  });

  it("arrow function", () => {
    const message = single("var f = function () {};\nvar g = (x) => x + 1;\n", "es5", 2, 9);
    assert.match(message, /arrow function \(=>\)/);
  });

  it("template literal", () => {
    const message = single("var n = 1;\nvar s = `a${n}b`;\n", "es5", 2, 9);
    assert.match(message, /template literal/);
  });

  it("class with extends, optional chaining, exponent, for...of", () => {
    const code = "function A() {}\nclass B extends A {}\nvar o = {};\nvar y = o?.p;\nvar z = 2 ** 8;\nfor (var v of [1]) {}\n";
    const found = issuesOf(code).map((i) => `${i.line}:${i.column} ${i.message.split(" is ")[0]}`);
    assert.deepEqual(found, [
      "2:1 class with extends",
      "4:9 optional chaining (?.)",
      "5:9 exponent operator (**)",
      "6:1 for...of",
    ]);
  });

  it("ES module syntax", () => {
    const message = single("var a = 1;\nexport { a };\n", "es5", 2, 1);
    assert.match(message, /ES module syntax/);
  });

  it("code that is not JavaScript at all gets the parser's own message", () => {
    const message = single("var a = ;\n", "syntax", 1, 9);
    assert.match(message, /^not valid JavaScript: Unexpected token/);
  });
});

describe("gate: ES5 forms Espruino cannot run", () => {
  it("labelled statement", () => {
    const message = single("var i;\nouter: for (i = 0; i < 3; i++) { break outer; }\n", "label", 2, 1);
    assert.match(message, /labelled statement "outer:"/);
  });

  it("array hole", () => {
    const message = single("var a = [1, , 2];\n", "array-hole", 1, 9);
    assert.match(message, /array hole .*element 1.*void 0/);
  });

  it("case after default", () => {
    const message = single("var x = 1;\nswitch (x) {\n  default: break;\n  case 1: break;\n}\n", "case-after-default", 4, 3);
    assert.match(message, /put default last/);
  });

  it("with statement", () => {
    single("var o = {};\nwith (o) {}\n", "with", 2, 1);
  });

  it("regex features Espruino silently gets wrong", () => {
    const message = single("var r = /a{2}(?=b)(?:c)\\bd/;\n", "regex", 1, 9);
    assert.match(message, /counted quantifier \{n\}, lookahead \(\?=\.\.\.\), non-capturing group \(\?:\.\.\.\), word boundary \(\\b\)/);
    single("var r = new RegExp(\"(a)\\\\1\");\n", "regex", 1, 20);
    assertPasses("var r = /^[a-z{}]+\\d*(x|y)$/g;\n");
  });

  it("names Espruino reserves: of, let, static, declaring undefined, keyword getters", () => {
    const code = "var of = 1;\nfunction f(undefined) { return of; }\nvar o = { of: 1, let: 2, get size() { return 0; } };\n" +
      "o.static = o.of;\nvar g = { get default() { return 1; } };\n";
    const issues = issuesOf(code);
    assert.deepEqual(issues.map((i) => `${i.line}:${i.column} ${i.rule}`), [
      "1:5 reserved-word",
      "2:12 reserved-word",
      "2:32 reserved-word",
      "5:15 reserved-word",
    ]);
    assert.match(issues[3].message, /getter named "default"/);
  });
});

describe("gate: no hoisting", () => {
  it("rejects TypeScript's ES5 class-with-extends output (__extends before function B)", () => {
    const code = [
      "var __extends = function (d, b) { d.prototype = Object.create(b.prototype); };",
      "function A() {}",
      "var B = (function (_super) { __extends(B, _super); function B() { return _super.call(this) || this; } return B; }(A));",
      "",
    ].join("\n");
    const message = single(code, "no-hoist", 3, 40);
    assert.equal(message, "\"B\" is used before its declaration at 3:61 executes (Espruino does not hoist function declarations)");
    assert.throws(
      () => assertBundle(code, "bundle.js"),
      (error: Error) => error.message.includes(`bundle.js:3:40 no-hoist: ${message}`),
    );
  });

  it("rejects a top-level call before the function's declaration", () => {
    const message = single("var ready = true;\nstart();\nfunction start() { return ready; }\n", "no-hoist", 2, 1);
    assert.match(message, /"start" is used before its declaration at 3:10 executes.*does not hoist function declarations/);
  });

  it("rejects a var read before its declaration in the same body", () => {
    const message = single("function f() {\n  var a = b + 1;\n  var b = 2;\n  return a;\n}\n", "no-hoist", 2, 11);
    assert.match(message, /"b" is used before its declaration at 3:7 executes.*var declarations/);
  });

  it("rejects a function that runs at load time and uses a later top-level binding", () => {
    const message = single("function init() { return helper(); }\ninit();\nfunction helper() { return 1; }\n", "no-hoist", 1, 26);
    assert.equal(
      message,
      "\"helper\" is used before its declaration executes: this runs at load time during init() at 2:1, " +
        "but \"helper\" is only declared at 3:10 (Espruino does not hoist)",
    );
  });

  it("follows load-time calls transitively, into IIFEs and TypeScript class constructors", () => {
    const code = [
      "function a() { return b(); }",
      "function b() { return limit; }",
      "var Queue = (function () { function Queue() { this.max = limit; } return Queue; }());",
      "var total = (function () { return a(); })();",
      "var q = new Queue();",
      "var limit = 4;",
      "",
    ].join("\n");
    const found = issuesOf(code).map((i) => `${i.line}:${i.column} ${i.rule}`);
    assert.deepEqual(found, ["2:23 no-hoist", "3:58 no-hoist"]);
  });

  it("follows callbacks that run synchronously (forEach) but not deferred ones (setTimeout)", () => {
    const code = "[1, 2].forEach(function (n) { total += n; });\nsetTimeout(function () { total = 0; }, 1);\nvar total = 0;\n";
    const issues = issuesOf(code);
    assert.deepEqual(issues.map((i) => `${i.line}:${i.column} ${i.rule}`), ["1:31 no-hoist"]);
    assert.match(issues[0].message, /during the callback passed to \.forEach\(\) at 1:1/);
  });

  it("rejects a var declared in a block that may not run and used after it", () => {
    const message = single("function g(c) {\n  if (c) { var y = 1; }\n  return y;\n}\n", "conditional-declaration", 3, 10);
    assert.match(message, /"y" is declared at 2:16 inside a block that may not run/);
  });

  it("guards recursion: a load-time recursive call terminates and still finds late bindings", () => {
    const code = "function even(n) { return n === 0 ? ok : odd(n - 1); }\nfunction odd(n) { return n === 0 ? !ok : even(n - 1); }\neven(4);\nvar ok = true;\n";
    const found = issuesOf(code).map((i) => `${i.line}:${i.column} ${i.rule}`);
    assert.deepEqual(found, ["1:37 no-hoist", "2:37 no-hoist"]);
  });
});

/** What TypeScript's ES5 emit (the first stage of the build) makes of device-style source. */
function es5(source: string): string {
  return ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES5, module: ts.ModuleKind.None } })
    .outputText;
}

function rulesAndPlaces(code: string): string[] {
  return issuesOf(code).map((i) => `${i.line}:${i.column} ${i.rule}`);
}

describe("gate: a var is usable where some declaration of it has already run", () => {
  it("accepts TypeScript's ES5 output of the same const name in two sibling branches", () => {
    const code = es5([
      "function judge(status: number, raw: string): number {",
      "  if (status === 206) {",
      "    const range = parse(raw);",
      "    if (range === null) return -1;",
      "    return range.first;",
      "  }",
      "  if (status === 416) {",
      "    const range = parse(raw);",
      "    return range === null ? -2 : range.total;",
      "  }",
      "  return 0;",
      "}",
      "function parse(raw: string): { first: number; total: number } | null {",
      "  return raw ? { first: 0, total: raw.length } : null;",
      "}",
      "print(judge(416, \"x\"));",
    ].join("\n"));
    assert.equal(code.match(/var range = parse\(raw\)/g)?.length, 2, `TypeScript emitted:\n${code}`);
    assertPasses(code);
  });

  it("accepts a var declared in each branch of if/else and in each case, used in that branch", () => {
    assertPasses(
      "function f(c) {\n  if (c) { var n = 1; print(n); } else { var n = 2; print(n + 1); }\n" +
        "  switch (c) { case 1: var k = 3; print(k); break; default: var k = 4; print(k); }\n}\nf(1);\n",
    );
  });

  it("accepts a loop body's var used later in the same iteration, and in blocks nested after it", () => {
    assertPasses(
      "function sum(a) {\n  var total = 0;\n  for (var i = 0; i < a.length; i++) {\n" +
        "    var v = a[i] | 0;\n    if (v > 0) { total += v; } else { while (v < 0) { v++; total--; } }\n  }\n" +
        "  try { var parsed = JSON.parse(\"[1]\"); total += parsed[0]; } catch (e) { print(e.message); }\n" +
        "  return total;\n}\nprint(sum([1, -2]));\n",
    );
  });

  it("accepts a later use when a declaration at the function's own level ran first", () => {
    assertPasses("function f(c) {\n  if (c) { var n = 1; }\n  var n = c ? n : 0;\n  return n;\n}\nprint(f(1));\n");
  });

  it("rejects a var from an if block used after it (reading it throws ReferenceError on Espruino)", () => {
    const message = single("function f(x) {\n  if (x) { var h = 1; }\n  return h;\n}\n", "conditional-declaration", 3, 10);
    assert.match(message, /"h" is declared at 2:16 inside a block that may not run .*ReferenceError/);
  });

  it("rejects a read in the else branch of a var declared in the then branch", () => {
    const message = single("function f(x) {\n  if (x) { var h = 1; } else { print(h); }\n}\n", "conditional-declaration", 2, 38);
    assert.match(message, /"h" is declared at 2:16/);
  });

  it("rejects a case that falls through to a var declared in an earlier case", () => {
    const code = "function f(x) {\n  switch (x) {\n    case 1: var n = 1;\n    case 2: return n;\n  }\n}\n";
    assert.deepEqual(rulesAndPlaces(code), ["4:20 conditional-declaration"]);
  });

  it("rejects a try block's var used in its catch or after the statement (the throw may come first)", () => {
    const code = "function f() {\n  try { var k = JSON.parse(\"1\"); } catch (e) { print(k); }\n  return k;\n}\n";
    assert.deepEqual(rulesAndPlaces(code), ["2:54 conditional-declaration", "3:10 conditional-declaration"]);
  });

  it("rejects the bare assignment terser leaves when it drops a repeated var (it clobbers a global)", () => {
    // terser's compress.unused keeps the first `var range` and turns the second into `range = ...`;
    // on Espruino that assignment, with the first branch skipped, replaces the global `range`.
    const code = [
      "function range(a) { return a; }",
      "function judge(s, raw) {",
      "  if (s === 206) { var r = range(raw); return r.first; }",
      "  if (s === 416) { r = range(raw); return r.total; }",
      "  return 0;",
      "}",
      "",
    ].join("\n");
    const message = single(code, "conditional-declaration", 4, 20);
    assert.match(message, /"r" is assigned here but is only declared at 3:24 inside a block that may not run/);
    assert.match(message, /assigns a global "r"/);
  });

  it("still reports reads that no flagged assignment precedes", () => {
    const code = "function f(s) {\n  if (s) { var r = 1; }\n  print(r);\n  if (!s) { r = 2; }\n  return r;\n}\n";
    assert.deepEqual(rulesAndPlaces(code), [
      "3:9 conditional-declaration", "4:13 conditional-declaration", "5:10 conditional-declaration",
    ]);
  });
});

describe("gate: globals must exist on Espruino", () => {
  it("Map", () => {
    const message = single("var m = new Map();\n", "unknown-global", 1, 13);
    assert.match(message, /"Map" is not available on Espruino/);
  });

  it("Math.imul", () => {
    const message = single("var x = 3;\nvar y = Math.imul(x, 4);\n", "unknown-member", 2, 9);
    assert.match(message, /"Math\.imul" is not available on Espruino/);
  });

  it("Array.from", () => {
    const message = single("var y = Array.from([1]);\n", "unknown-member", 1, 9);
    assert.match(message, /"Array\.from"/);
  });

  it("Object.freeze", () => {
    const message = single("var table = Object.freeze({ a: 1 });\n", "unknown-member", 1, 13);
    assert.match(message, /"Object\.freeze"/);
  });

  it("Array.prototype.slice.call", () => {
    const message = single("function args() {\n  return Array.prototype.slice.call(arguments);\n}\n", "builtin-prototype", 2, 10);
    assert.match(message, /"Array\.prototype" is not usable on Espruino.*\[\]\.slice\.call/);
  });

  it("Object.prototype.hasOwnProperty is allowed, other Object.prototype members are not", () => {
    assertPasses("var has = Object.prototype.hasOwnProperty;\nprint(has.call({ a: 1 }, \"a\"));\n");
    single("var p = Object.prototype.propertyIsEnumerable;\n", "unknown-member", 1, 9);
  });

  it("typeof may probe an unknown global; any other use of it is rejected", () => {
    const message = single("var hasSymbol = typeof Symbol !== \"undefined\";\nvar it = hasSymbol && Symbol.iterator;\n", "unknown-global", 2, 23);
    assert.match(message, /"Symbol"/);
  });

  it("an assignment to an undeclared name is an implicit global", () => {
    const message = single("function f() { leaked = 1; }\n", "unknown-global", 1, 16);
    assert.match(message, /"leaked" is assigned without being declared/);
  });

  it("require only of the Espruino modules the agent uses", () => {
    assertPasses("var flash = require(\"Flash\");\nvar storage = require(\"Storage\");\n");
    const message = single("var fs = require(\"fs\");\n", "require-module", 1, 10);
    assert.match(message, /require\("fs"\)/);
  });

  it("a local that shadows a global name is not judged as the global", () => {
    assertPasses("function f(Math) { return Math.imul(1, 2); }\nvar Map = function () {};\nvar m = new Map();\n");
  });
});

describe("gate: accepts ES5 written for Espruino", () => {
  it("a representative program using only allowed globals", () => {
    const code = [
      "var CHUNK = 4096;",
      "var state = { offset: 0, crc: 0 };",
      "function toBytes(s) {",
      "  var out = new Uint8Array(s.length);",
      "  for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 255;",
      "  return out;",
      "}",
      "function step(chunk) {",
      "  var bytes = toBytes(chunk);",
      "  state.offset = (state.offset + bytes.length) >>> 0;",
      "  state.crc = E.CRC32(E.toString(bytes)) | 0;",
      "  try { JSON.parse(\"{}\"); } catch (e) { console.log(e.message); }",
      "  return Math.min(CHUNK, state.offset);",
      "}",
      "var Counter = (function () {",
      "  function Counter(start) { this.n = start; }",
      "  Counter.prototype.add = function (k) { this.n += k; return this; };",
      "  return Counter;",
      "}());",
      "var counter = new Counter(step(\"abc\"));",
      "var keys = Object.keys(state).filter(function (k) { return k !== \"crc\"; });",
      "if (typeof ESP32 !== \"undefined\") ESP32.setOTAValid(true);",
      "Promise.resolve(keys).then(function (k) { print(k.join(\",\"), counter.n, getTime()); });",
      "",
    ].join("\n");
    assertPasses(code);
    assert.doesNotThrow(() => assertBundle(code, "bundle.js"));
  });

  it("a function declared before its use", () => {
    assertPasses("function double(x) { return x * 2; }\nvar four = double(2);\nprint(four);\n");
  });

  it("mutual recursion between functions called only after both are declared", () => {
    assertPasses(
      "function isEven(n) { return n === 0 ? true : isOdd(n - 1); }\n" +
        "function isOdd(n) { return n === 0 ? false : isEven(n - 1); }\n" +
        "print(isEven(10));\n",
    );
  });

  it("closures that use later top-level vars but run only after load", () => {
    assertPasses(
      "function report() { print(status, attempts); }\n" +
        "setTimeout(function () { attempts++; report(); }, 100);\n" +
        "E.on(\"init\", report);\n" +
        "var status = \"idle\";\n" +
        "var attempts = 0;\n",
    );
  });

  it("a var initialiser may read the var itself (it exists once the statement starts)", () => {
    assertPasses("var ns = ns || {};\nfor (var k in ns) { print(k); }\nprint(k);\n");
  });
});

describe("gate: the allow-list data", () => {
  it("every entry says where it was confirmed, and known gaps stay out", () => {
    const { globals } = espruinoGlobals;
    for (const [name, entry] of Object.entries(globals)) assert.ok(entry.confirmed.length > 10, name);
    assert.ok(globals.Math.members?.includes("floor"));
    for (const missing of ["imul", "trunc", "clz32"]) assert.ok(!globals.Math.members?.includes(missing), missing);
    assert.ok(!("Map" in globals) && !("Symbol" in globals) && !("setImmediate" in globals));
    assert.equal(globals.Array.prototype, undefined);
    assert.deepEqual(globals.Promise.members?.slice().sort(), ["all", "reject", "resolve"]);
  });

  it("rejects a malformed allow-list with the entry's name", () => {
    assert.throws(() => parseEspruinoGlobals('{"globals":{"Math":{"members":["abs"]}}}', "x.json"), /"Math" must say where/);
    assert.throws(() => parseEspruinoGlobals('{"globals":{"E":{"members":"on","confirmed":"here"}}}', "x.json"), /"E"\.members/);
  });

  it("covers every global and require() module that src/espruino/espruino.d.ts declares", () => {
    const path = new URL("../../src/espruino/espruino.d.ts", import.meta.url);
    const source = ts.createSourceFile("espruino.d.ts", readFileSync(path, "utf8"), ts.ScriptTarget.ES5, true);
    const declared: string[] = [];
    const requiredModules: string[] = [];
    for (const statement of source.statements) {
      if (ts.isFunctionDeclaration(statement) && statement.name) {
        declared.push(statement.name.text);
        const type = statement.parameters[0]?.type;
        const isModuleName = statement.name.text === "require" && type && ts.isLiteralTypeNode(type) &&
          ts.isStringLiteral(type.literal);
        if (isModuleName) requiredModules.push(type.literal.text);
      }
      if (!ts.isVariableStatement(statement)) continue;
      for (const declaration of statement.declarationList.declarations) {
        const name = declaration.name.getText(source);
        // __NAME__: a build flag that rollup.config.js replaces with a literal, never a global
        if (/^__[A-Z0-9_]+__$/.test(name)) continue;
        declared.push(name);
        const type = declaration.type;
        if (type && ts.isTypeLiteralNode(type)) {
          for (const member of type.members) if (member.name) declared.push(`${name}.${member.name.getText(source)}`);
        }
      }
    }
    assert.ok(declared.includes("E.toUint8Array"), "the d.ts parse found E's members");
    const missing = declared.filter((entry) => {
      const [name, member] = entry.split(".");
      const global = espruinoGlobals.globals[name];
      return !global || (member !== undefined && !global.members?.includes(member));
    });
    assert.deepEqual(missing, []);
    assert.ok(requiredModules.includes("Flash"), "the d.ts parse found require overloads");
    const allowedModules = espruinoGlobals.globals.require.modules ?? [];
    assert.deepEqual(requiredModules.filter((name) => !allowedModules.includes(name)), []);
  });
});

it("bare-return: terser's `return}` is rejected, `return;}` passes, and the build post-pass adds the semicolon", async () => {
  const { espruinoPostPass } = await import("../../src/host/build/espruino-postpass");
  const bad = "function f(a){if(a)return}function g(){x=1;return}";
  const issues = checkBundle(bad, "b.js").filter((i) => i.rule === "bare-return");
  assert.equal(issues.length, 2);
  assert.match(issues[0].message, /Unexpected end of Input/);
  const fixed = espruinoPostPass(bad + 'var s="return}";');
  assert.equal(fixed, 'function f(){var a=arguments[0];arguments=0;if(a)return;}function g(){x=1;return;}var s="return}";');
  assert.equal(checkBundle(fixed, "b.js").filter((i) => i.rule === "bare-return").length, 0);
});

it("parameters: the build post-pass turns a leaf function's parameters into arguments[i], and leaves functions that hold closures or run from RAM alone", async () => {
  const { espruinoPostPass } = await import("../../src/host/build/espruino-postpass");
  const src =
    'function add(a,b){return a+b}' +
    'function mk(a){return function(b){return a+b}}' +
    'function hot(x){"ram";return x*2}' +
    'var r=[add(2,3),mk(1)(2),hot(4)];';
  const out = espruinoPostPass(src);
  // the leaf loses its parameter list; the parent of a closure and the "ram" function keep theirs
  assert.match(out, /function add\(\)\{var a=arguments\[0\],b=arguments\[1\];arguments=0;return a\+b\}/);
  assert.match(out, /function mk\(a\)\{return function\(\)\{var b=arguments\[0\];arguments=0;return a\+b\}\}/);
  assert.match(out, /function hot\(x\)\{"ram";return x\*2\}/);
  // and the program computes what it did before
  const run = (code: string) => new Function(code + "return r;")();
  assert.deepEqual(run(out), run(src));
  assert.deepEqual(run(out), [5, 3, 8]);
  assert.deepEqual(checkBundle(out, "p.js"), []);
});
