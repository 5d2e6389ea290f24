// The gate's member-level traps (src/host/gate/members.ts): each construct known to misbehave on
// Espruino 2v29 is reported with its rule and place; the ES5 ways of doing the same pass.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { checkBundle, formatIssues, type GateIssue } from "../../src/host/gate/check-bundle";

function issuesOf(code: string): GateIssue[] {
  return checkBundle(code, "user.js");
}

/** [rule, line, column] of every issue. */
function places(code: string): Array<[string, number, number]> {
  return issuesOf(code).map((i) => [i.rule, i.line, i.column]);
}

function assertPasses(code: string): void {
  const issues = issuesOf(code);
  assert.deepEqual(issues, [], formatIssues("user.js", issues));
}

describe("gate: Promise finally", () => {
  it("reports .finally( on a promise at the member", () => {
    assert.deepEqual(places("Promise.resolve(1).finally(function () {});\n"), [["promise-finally", 1, 20]]);
    assert.match(issuesOf("var p = Promise.resolve(1);\np.finally(print);\n")[0].message, /no finally/);
  });

  it("reports Promise.prototype.finally twice over: no Promise.prototype, no finally", () => {
    assert.deepEqual(places("var f = Promise.prototype.finally;\n"), [
      ["builtin-prototype", 1, 9],
      ["promise-finally", 1, 27],
    ]);
  });

  it("passes then/catch", () => {
    assertPasses("Promise.resolve(1).then(function (v) { print(v); }).catch(function (e) { print(e); });\n");
  });
});

describe("gate: assigning .length", () => {
  it("reports arr.length = n, compound assignment and ++ at the member", () => {
    assert.deepEqual(places("var a = [1, 2, 3];\na.length = 1;\na.length -= 1;\na.length++;\n"), [
      ["length-assign", 2, 3],
      ["length-assign", 3, 3],
      ["length-assign", 4, 3],
    ]);
    assert.match(issuesOf("var a = [];\na.length = 0;\n")[0].message, /read-only.*TypeError.*splice/);
  });

  it("reports a computed \"length\" and a length on any object (it cannot tell arrays apart)", () => {
    assert.deepEqual(places("var a = [];\na[\"length\"] = 0;\nvar o = { b: a };\no.b.length = 0;\n"), [
      ["length-assign", 2, 3],
      ["length-assign", 4, 5],
    ]);
  });

  it("passes reading .length and splice", () => {
    assertPasses("var a = [1, 2, 3];\nvar n = a.length;\na.splice(1);\nprint(n + a.length);\n");
  });
});

describe("gate: Array.prototype", () => {
  it("reports Array.prototype.X access", () => {
    assert.deepEqual(places("var m = Array.prototype.map;\nvar s = Array.prototype.slice.call([1]);\n"), [
      ["builtin-prototype", 1, 9],
      ["builtin-prototype", 2, 9],
    ]);
  });

  it("passes [].slice.call", () => {
    assertPasses("function f() { return [].slice.call(arguments); }\nprint(f(1));\n");
  });
});

describe("gate: .slice() on a typed array", () => {
  it("reports slice on a new Uint8Array variable, on a copy of it and on the constructor call", () => {
    const code = [
      "var buf = new Uint8Array(8);",
      "var head = buf.slice(0, 4);",
      "var alias;",
      "alias = buf;",
      "print(alias.slice(1), new Int16Array(2).slice(0));",
    ].join("\n");
    assert.deepEqual(places(code), [
      ["typed-array-slice", 2, 16],
      ["typed-array-slice", 5, 13],
      ["typed-array-slice", 5, 41],
    ]);
    assert.match(issuesOf(code)[0].message, /plain Array.*new Uint8Array\(x\.subarray/);
  });

  it("reports slice on subarray() and E.toUint8Array() results", () => {
    assert.deepEqual(places("var b = E.toUint8Array(\"ab\").slice(1);\nvar c = b.subarray(0, 1).slice(0);\n"), [
      ["typed-array-slice", 1, 30],
      ["typed-array-slice", 2, 26],
    ]);
  });

  it("follows bindings: a local that shadows a typed-array name, or an Array, is not a typed array", () => {
    assertPasses([
      "var list = [1, 2, 3];",
      "print(list.slice(1), \"abc\".slice(1));",
      "function f(Uint8Array) { var x = new Uint8Array(); return x.slice(0); }",
      "function g() { var buf = [1]; return buf.slice(0); }",
      "var buf = new Uint8Array(2);",
      "print(f(Array), g(), new Uint8Array(buf.subarray(0, 1)));",
    ].join("\n"));
  });
});

describe("gate: Error subclasses", () => {
  it("reports TypeScript's ES5 class-extends-Error output at the Error argument", () => {
    const code = [
      "var __extends = function (d, b) { d.prototype = Object.create(b.prototype); };",
      "var MyError = (function (_super) {",
      "  __extends(MyError, _super);",
      "  function MyError(m) { return _super.call(this, m) || this; }",
      "  return MyError;",
      "}(Error));",
    ].join("\n");
    const found = issuesOf(code).filter((i) => i.rule === "error-subclass");
    assert.deepEqual(found.map((i) => [i.line, i.column]), [[6, 3]], formatIssues("user.js", issuesOf(code)));
    assert.match(found[0].message, /loses its message/);
  });

  it("reports __extends(X, Error), a prototype from Object.create(Error.prototype) and setPrototypeOf", () => {
    const code = [
      "function __extends(d, b) { d.prototype = Object.create(b.prototype); }",
      "function A(m) { this.message = m; }",
      "__extends(A, TypeError);",
      "function B() {}",
      "B.prototype = Object.create(Error.prototype);",
      "function C() {}",
      "Object.setPrototypeOf(C.prototype, Error.prototype);",
      "function D() {}",
      "D.prototype = new Error();",
    ].join("\n");
    const found = issuesOf(code).filter((i) => i.rule === "error-subclass");
    assert.deepEqual(found.map((i) => [i.line, i.column]), [[3, 1], [5, 1], [7, 1], [9, 1]], formatIssues("user.js", issuesOf(code)));
  });

  it("reports class extends Error in code that is not ES5, next to the es5 issue", () => {
    const issues = issuesOf("class Oops extends Error {}\n");
    assert.deepEqual(issues.map((i) => [i.rule, i.line, i.column]), [["es5", 1, 1], ["error-subclass", 1, 20]]);
  });

  it("passes a plain Error with a code, and inheritance from a non-Error base", () => {
    assertPasses([
      "function fail(code, m) { var e = new Error(m); e.code = code; return e; }",
      "function __extends(d, b) { d.prototype = Object.create(b.prototype); }",
      "function Base() {}",
      "function Derived() {}",
      "__extends(Derived, Base);",
      "print(fail(1, \"x\"), new Derived());",
    ].join("\n"));
  });
});
