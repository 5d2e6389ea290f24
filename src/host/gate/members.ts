// Member-level traps: code that parses and names only real globals, yet misbehaves on Espruino
// 2v29 because a member works differently there (docs/espruino-runtime.md#traps):
//   promise-finally    `.finally` on a promise: Espruino's Promise has then/catch only
//   length-assign      `x.length = n` (or `+=`, `++`): an array's length is read-only there and
//                      the assignment throws TypeError; use x.splice(n)
//   typed-array-slice  `.slice()` on a typed array gives a plain Array there, not a typed array
//   error-subclass     a subclass of Error (class extends Error, __extends(X, Error), a prototype
//                      made from Error.prototype): its instances lose `message`
// (`Array.prototype.x` is the globals check's `builtin-prototype` rule.)
//
// Works on any acorn AST (ES5 or newer, for the non-ES5 report too). With the ES5 scope analysis,
// names resolve to their bindings, so a local `Error` or `Uint8Array` is not the builtin.
import type { Program } from "acorn";
import { walkAll, type AnyNode } from "./ast";
import { issueAt, type GateIssue } from "./issues";
import type { ScopeAnalysis } from "./scopes";

/** Constructors whose instances Espruino 2v29 treats as typed arrays. */
const TYPED_ARRAYS = new Set([
  "Uint8Array", "Uint8ClampedArray", "Int8Array", "Uint16Array", "Int16Array", "Uint24Array",
  "Uint32Array", "Int32Array", "Float32Array", "Float64Array",
]);

const ERROR_CONSTRUCTORS = new Set([
  "Error", "TypeError", "RangeError", "SyntaxError", "ReferenceError", "EvalError", "URIError", "InternalError",
]);

/** Helpers that set up inheritance: tslib/TypeScript `__extends`, Babel `_inherits`, Node's `util.inherits`. */
const INHERIT_HELPER = /extends|inherits/i;

function staticName(member: AnyNode): string | null {
  if (member.type !== "MemberExpression") return null;
  if (!member.computed) return member.property.type === "Identifier" ? member.property.name : null;
  const property = member.property;
  return property.type === "Literal" && typeof property.value === "string" ? property.value : null;
}

function isMember(node: AnyNode | null | undefined, name: string): boolean {
  return !!node && staticName(node) === name;
}

/** Resolves identifiers to bindings: with the scope analysis, one key per binding; without, the name. */
class Bindings {
  private readonly ofNode = new Map<AnyNode, object>();
  private analysed = false;

  constructor(analysis: ScopeAnalysis | null) {
    if (!analysis) return;
    for (const reference of analysis.references) {
      this.ofNode.set(reference.node, reference.declarations.length > 0 ? reference.declarations : GLOBAL);
    }
    for (const scope of analysis.scopes) {
      for (const declarations of scope.declarations.values()) {
        for (const d of declarations) if (d.node) this.ofNode.set(d.node, declarations);
      }
    }
    this.analysed = true;
  }

  /** The binding an Identifier names (a declared one, or the global of that name). */
  key(identifier: AnyNode): object | string {
    if (!this.analysed) return identifier.name;
    const binding = this.ofNode.get(identifier);
    return binding === GLOBAL || binding === undefined ? `global:${identifier.name}` : binding;
  }

  /** True when the Identifier names the builtin global, not a local of the same name. */
  isGlobal(identifier: AnyNode): boolean {
    if (!this.analysed) return true;
    const binding = this.ofNode.get(identifier);
    return binding === GLOBAL || binding === undefined;
  }
}

const GLOBAL = {};

function isGlobalNamed(node: AnyNode | null | undefined, names: ReadonlySet<string>, bindings: Bindings): boolean {
  return !!node && node.type === "Identifier" && names.has(node.name) && bindings.isGlobal(node);
}

/** `Error.prototype` (or another error constructor's prototype). */
function isErrorPrototype(node: AnyNode | null | undefined, bindings: Bindings): boolean {
  return !!node && isMember(node, "prototype") && isGlobalNamed(node.object, ERROR_CONSTRUCTORS, bindings);
}

function errorSubclassIssue(node: AnyNode, how: string): GateIssue {
  return issueAt(
    "error-subclass",
    `${how}: on Espruino 2v29 a subclass of Error loses its message (super(m) / Error.call(this, m) leaves ` +
      "message undefined) and instanceof fails; throw a plain Error and put a code property on it",
    node,
  );
}

/** The function called by `(function (_super) {...})(Error)` or `(function (_super) {...}.call(...))`. */
function invokedFunction(call: AnyNode): AnyNode | null {
  const callee = call.callee;
  return callee.type === "FunctionExpression" ? callee : null;
}

/** True when `fn`'s body calls an inheritance helper with parameter `param` as the base. */
function inheritsFromParameter(fn: AnyNode, param: string): boolean {
  let found = false;
  walkAll(fn.body, (node) => {
    if (found || node.type !== "CallExpression") return;
    const base = node.arguments[1];
    if (base?.type === "Identifier" && base.name === param && isInheritHelper(node.callee)) found = true;
  });
  return found;
}

function isInheritHelper(callee: AnyNode): boolean {
  if (callee.type === "Identifier") return INHERIT_HELPER.test(callee.name);
  const name = staticName(callee);
  return name !== null && INHERIT_HELPER.test(name);
}

/**
 * Which expressions are typed arrays, by a deliberately simple heuristic (no types in plain JS):
 * `new Uint8Array(...)` and the other typed-array constructors, `E.toUint8Array(...)`,
 * `x.subarray(...)` (only typed arrays have subarray), and a variable whose declaration or any
 * assignment gives it one of those (or another such variable). Parameters, properties and
 * function results are not followed, so `.slice()` on them is not reported.
 */
class TypedArrays {
  private readonly bindings = new Set<object | string>();

  constructor(private readonly names: Bindings) {}

  isTypedArray(node: AnyNode | null | undefined): boolean {
    if (!node) return false;
    switch (node.type) {
      case "NewExpression":
        return isGlobalNamed(node.callee, TYPED_ARRAYS, this.names);
      case "CallExpression":
        if (isMember(node.callee, "subarray")) return true;
        return isMember(node.callee, "toUint8Array") && isGlobalNamed(node.callee.object, new Set(["E"]), this.names);
      case "Identifier":
        return this.bindings.has(this.names.key(node));
      case "AssignmentExpression":
        return node.operator === "=" && this.isTypedArray(node.right);
      case "SequenceExpression":
        return this.isTypedArray(node.expressions[node.expressions.length - 1]);
      case "ConditionalExpression":
        return this.isTypedArray(node.consequent) || this.isTypedArray(node.alternate);
      default:
        return false;
    }
  }

  /** Marks every variable that receives a typed array, until nothing changes (x = y chains). */
  collect(program: AnyNode): void {
    const sources: Array<{ target: AnyNode; value: AnyNode }> = [];
    walkAll(program, (node) => {
      if (node.type === "VariableDeclarator" && node.id.type === "Identifier" && node.init) {
        sources.push({ target: node.id, value: node.init });
      } else if (node.type === "AssignmentExpression" && node.operator === "=" && node.left.type === "Identifier") {
        sources.push({ target: node.left, value: node.right });
      }
    });
    for (let changed = true; changed;) {
      changed = false;
      for (const { target, value } of sources) {
        const key = this.names.key(target);
        if (!this.bindings.has(key) && this.isTypedArray(value)) {
          this.bindings.add(key);
          changed = true;
        }
      }
    }
  }
}

/** The member-level traps in `program`; pass the ES5 scope analysis when there is one. */
export function checkMemberTraps(program: Program, analysis: ScopeAnalysis | null): GateIssue[] {
  const root = program as AnyNode;
  const bindings = new Bindings(analysis);
  const typed = new TypedArrays(bindings);
  typed.collect(root);
  const issues: GateIssue[] = [];
  walkAll(root, (node, parent, key) => {
    switch (node.type) {
      case "MemberExpression": {
        const name = staticName(node);
        if (name === "finally") {
          issues.push(issueAt(
            "promise-finally",
            "\".finally\": Espruino 2v29's Promise has no finally (only then and catch); " +
              "call the clean-up from both then and catch",
            node.property,
          ));
        } else if (name === "slice" && parent?.type === "CallExpression" && key === "callee" && typed.isTypedArray(node.object)) {
          issues.push(issueAt(
            "typed-array-slice",
            "\".slice()\" on a typed array returns a plain Array on Espruino 2v29, not a typed array; " +
              "copy with new Uint8Array(x.subarray(begin, end)) (or the matching typed-array constructor)",
            node.property,
          ));
        }
        break;
      }
      case "AssignmentExpression":
      case "UpdateExpression": {
        const target = node.type === "AssignmentExpression" ? node.left : node.argument;
        if (isMember(target, "length")) {
          issues.push(issueAt(
            "length-assign",
            "assignment to \".length\": an array's length is read-only on Espruino 2v29 and assigning it " +
              "throws TypeError; shorten an array with arr.splice(n) instead",
            target.property,
          ));
        }
        if (node.type === "AssignmentExpression" && node.operator === "=" &&
          (isMember(target, "prototype") || isMember(target, "__proto__"))) {
          const value = node.right;
          const fromErrorPrototype = isErrorPrototype(value, bindings) ||
            (value.type === "CallExpression" && isMember(value.callee, "create") &&
              isErrorPrototype(value.arguments[0], bindings));
          const fromErrorInstance = value.type === "NewExpression" && isGlobalNamed(value.callee, ERROR_CONSTRUCTORS, bindings);
          if (fromErrorPrototype || fromErrorInstance) {
            issues.push(errorSubclassIssue(node, "a prototype made from an Error"));
          }
        }
        break;
      }
      case "CallExpression": {
        const base = node.arguments[1];
        if (isInheritHelper(node.callee) && isGlobalNamed(base, ERROR_CONSTRUCTORS, bindings)) {
          issues.push(errorSubclassIssue(node, `inherits from ${base.name}`));
        } else if (isMember(node.callee, "setPrototypeOf") && isErrorPrototype(base, bindings)) {
          issues.push(errorSubclassIssue(node, "a prototype set to Error.prototype"));
        }
        const fn = invokedFunction(node);
        if (fn) {
          (node.arguments as AnyNode[]).forEach((argument, index) => {
            const param = fn.params[index];
            if (isGlobalNamed(argument, ERROR_CONSTRUCTORS, bindings) && param?.type === "Identifier" &&
              inheritsFromParameter(fn, param.name)) {
              issues.push(errorSubclassIssue(argument, `a class that extends ${argument.name} (compiled to ES5)`));
            }
          });
        }
        break;
      }
      case "ClassDeclaration":
      case "ClassExpression":
        if (isGlobalNamed(node.superClass, ERROR_CONSTRUCTORS, bindings)) {
          issues.push(errorSubclassIssue(node.superClass, `class extends ${node.superClass.name}`));
        }
        break;
      default:
        break;
    }
  });
  return issues;
}
