// Syntax gate: the bundle must be ES5 (Espruino's parser has no ES2015+ forms we may rely on),
// and must avoid the ES5 forms Espruino's parser rejects or misreads.
import { parse, type Options, type Program } from "acorn";
import { walkAll, type AnyNode } from "./ast";
import { issueAt, type GateIssue } from "./issues";
import { regexProblems } from "./regex";

const ES5_OPTIONS: Options = { ecmaVersion: 5, sourceType: "script", locations: true };

interface AcornSyntaxError extends SyntaxError {
  loc?: { line: number; column: number };
}

export type Es5ParseResult =
  | { ok: true; program: Program }
  | { ok: false; error: AcornSyntaxError };

export function parseEs5(code: string): Es5ParseResult {
  try {
    return { ok: true, program: parse(code, ES5_OPTIONS) };
  } catch (error) {
    if (error instanceof SyntaxError) return { ok: false, error };
    throw error;
  }
}

const NOT_ES5 = "is ES2015+ syntax, not allowed in an Espruino bundle (compile to ES5)";

/** Names the ES2015+ construct a node is, or null for ES5 nodes. */
function modernConstruct(node: AnyNode, parent: AnyNode | null): string | null {
  switch (node.type) {
    case "VariableDeclaration":
      return node.kind === "var" ? null : `"${node.kind}" declaration`;
    case "FunctionDeclaration":
    case "FunctionExpression":
    case "ArrowFunctionExpression":
      if (node.async) return node.type === "ArrowFunctionExpression" ? "async arrow function" : "async function";
      if (node.generator) return "generator function (function*)";
      return node.type === "ArrowFunctionExpression" ? "arrow function (=>)" : null;
    case "SpreadElement":
      return "spread (...)";
    case "RestElement":
      return "rest parameter/element (...)";
    case "ObjectPattern":
    case "ArrayPattern":
      return "destructuring";
    case "AssignmentPattern":
      return "default value (default parameter or destructuring default)";
    case "AwaitExpression":
      return "await";
    case "YieldExpression":
      return "yield";
    case "TemplateLiteral":
      return parent?.type === "TaggedTemplateExpression" ? null : "template literal";
    case "TaggedTemplateExpression":
      return "tagged template literal";
    case "ClassDeclaration":
    case "ClassExpression":
      return node.superClass ? "class with extends" : "class";
    case "Super":
      return "super";
    case "MetaProperty":
      return `${node.meta.name}.${node.property.name}`;
    case "ForOfStatement":
      return node.await ? "for await...of" : "for...of";
    case "BinaryExpression":
      return node.operator === "**" ? "exponent operator (**)" : null;
    case "LogicalExpression":
      return node.operator === "??" ? "nullish coalescing (??)" : null;
    case "AssignmentExpression":
      if (node.operator === "**=") return "exponent operator (**=)";
      return ["||=", "&&=", "??="].includes(node.operator) ? `logical assignment (${node.operator})` : null;
    case "ChainExpression":
      return "optional chaining (?.)";
    case "Property":
      if (parent?.type === "ObjectPattern") return null;
      if (node.computed) return "computed property key ([key])";
      if (node.shorthand) return "shorthand property ({ name })";
      return node.method ? "method shorthand ({ m() {} })" : null;
    case "Literal":
      if (node.bigint !== undefined) return "BigInt literal";
      if (node.regex) return /[^gim]/.test(node.regex.flags) ? `regular expression with flags "${node.regex.flags}"` : null;
      if (typeof node.value === "number" && /^0[bBoO]/.test(node.raw)) return "binary/octal literal (0b/0o)";
      if (typeof node.value === "number" && node.raw.includes("_")) return "numeric separator (1_000)";
      if (typeof node.value === "string" && /\\u\{/.test(node.raw)) return "code point escape (\\u{...})";
      return null;
    case "CatchClause":
      return node.param ? null : "optional catch binding (catch {})";
    case "ImportDeclaration":
    case "ExportNamedDeclaration":
    case "ExportDefaultDeclaration":
    case "ExportAllDeclaration":
      return "ES module syntax (import/export)";
    case "ImportExpression":
      return "dynamic import()";
    default:
      return null;
  }
}

/** Parses with the newest grammar (script, then module) to name what made the ES5 parse fail. */
function parseModern(code: string): Program | null {
  for (const sourceType of ["script", "module"] as const) {
    try {
      return parse(code, { ecmaVersion: "latest", sourceType, locations: true });
    } catch {
      // try the next grammar
    }
  }
  return null;
}

/** Issues for code that is not ES5: every ES2015+ construct with its place, or the parser's own error. */
export function describeNonEs5(code: string, error: AcornSyntaxError): { program: Program | null; issues: GateIssue[] } {
  const program = parseModern(code);
  const issues: GateIssue[] = [];
  if (program) {
    walkAll(program as AnyNode, (node, parent) => {
      const construct = modernConstruct(node, parent);
      if (construct) issues.push(issueAt("es5", `${construct} ${NOT_ES5}`, node));
    });
  }
  if (issues.length === 0) {
    const line = error.loc?.line ?? 1;
    const column = (error.loc?.column ?? 0) + 1;
    const pos = (error as { pos?: number }).pos ?? -1;
    const trailingComma = code[pos] === ")" && /,\s*$/.test(code.slice(0, pos));
    const reason = trailingComma
      ? "trailing comma before \")\" (ES2017)"
      : error.message.replace(/\s*\(\d+:\d+\)$/, "");
    const kind = program ? "not valid ES5" : "not valid JavaScript";
    issues.push({ rule: "syntax", message: `${kind}: ${reason}`, line, column });
  }
  return { program, issues };
}

// Espruino's lexer makes these keywords, so they cannot name a variable, parameter or function.
const ESPRUINO_RESERVED_NAMES = new Set(["let", "of", "static"]);

// Every keyword of Espruino's lexer (src/jslex.c): none may name a getter or setter.
const ESPRUINO_KEYWORDS = new Set([
  "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete", "do", "else",
  "extends", "false", "finally", "for", "function", "if", "in", "instanceof", "let", "new", "null", "of",
  "return", "static", "super", "switch", "this", "throw", "true", "try", "typeof", "undefined", "var",
  "void", "while",
]);

/** True when an Identifier is a property name or label rather than a variable name. */
function isPropertyOrLabel(parent: AnyNode | null, key: string | null): boolean {
  if (!parent) return false;
  switch (parent.type) {
    case "MemberExpression":
      return key === "property" && !parent.computed;
    case "Property":
    case "MethodDefinition":
    case "PropertyDefinition":
      return key === "key" && !parent.computed;
    case "LabeledStatement":
    case "BreakStatement":
    case "ContinueStatement":
      return key === "label";
    case "MetaProperty":
    case "ImportSpecifier":
    case "ExportSpecifier":
      return true;
    default:
      return false;
  }
}

function isBindingName(parent: AnyNode | null, key: string | null): boolean {
  if (!parent) return false;
  if (key === "params") return true;
  if (key === "id") return ["VariableDeclarator", "FunctionDeclaration", "FunctionExpression"].includes(parent.type);
  return parent.type === "CatchClause" && key === "param";
}

function regexIssue(node: AnyNode, pattern: string, flags: string): GateIssue | null {
  const problems = regexProblems(pattern);
  if (problems.length === 0) return null;
  return issueAt(
    "regex",
    `regular expression /${pattern}/${flags} uses ${problems.join(", ")}: Espruino's regex engine silently fails to match or throws on these`,
    node,
  );
}

/** ES5 forms that Espruino's parser or regex engine rejects or gets wrong. Works on any acorn AST. */
export function checkEspruinoSyntax(program: Program): GateIssue[] {
  const issues: GateIssue[] = [];
  walkAll(program as AnyNode, (node, parent, key) => {
    switch (node.type) {
      case "LabeledStatement":
        issues.push(issueAt("label", `labelled statement "${node.label.name}:" is not supported by Espruino`, node));
        break;
      case "ReturnStatement":
        // acorn counts a terminating ";" in the node, so a 6-character node is a bare `return`
        if (node.argument === null && node.end - node.start === 6) {
          issues.push(issueAt(
            "bare-return",
            "`return` without a semicolon (e.g. terser's `return}`): Espruino 2v29 throws \"Unexpected end of Input\" when it reaches one at the end of a function; write `return;`",
            node,
          ));
        }
        break;
      case "WithStatement":
        issues.push(issueAt("with", "with statement is not supported by Espruino", node));
        break;
      case "ArrayExpression":
        node.elements.forEach((element: AnyNode | null, index: number) => {
          if (element === null) {
            issues.push(issueAt(
              "array-hole",
              `array hole (empty element ${index} in [a, , b]): Espruino throws a SyntaxError on it in skipped code; write void 0`,
              node,
            ));
          }
        });
        break;
      case "SwitchStatement": {
        const defaultIndex = node.cases.findIndex((c: AnyNode) => c.test === null);
        if (defaultIndex >= 0 && defaultIndex < node.cases.length - 1) {
          issues.push(issueAt(
            "case-after-default",
            "case after default in a switch: Espruino throws \"CASE after DEFAULT unsupported\"; put default last",
            node.cases[defaultIndex + 1],
          ));
        }
        break;
      }
      case "Literal": {
        const found = node.regex ? regexIssue(node, node.regex.pattern, node.regex.flags) : null;
        if (found) issues.push(found);
        break;
      }
      case "NewExpression":
      case "CallExpression": {
        const [pattern, flags] = node.arguments as AnyNode[];
        const literalPattern = pattern?.type === "Literal" && typeof pattern.value === "string";
        if (node.callee.type === "Identifier" && node.callee.name === "RegExp" && literalPattern) {
          const flagText = flags?.type === "Literal" && typeof flags.value === "string" ? flags.value : "";
          const found = regexIssue(pattern, pattern.value, flagText);
          if (found) issues.push(found);
        }
        break;
      }
      case "Property":
        if ((node.kind === "get" || node.kind === "set") && !node.computed && ESPRUINO_KEYWORDS.has(node.key.name)) {
          issues.push(issueAt(
            "reserved-word",
            `${node.kind}ter named "${node.key.name}": Espruino cannot parse a keyword after ${node.kind}`,
            node.key,
          ));
        }
        break;
      case "Identifier":
        if (isPropertyOrLabel(parent, key)) break;
        if (ESPRUINO_RESERVED_NAMES.has(node.name)) {
          issues.push(issueAt("reserved-word", `"${node.name}" is a keyword in Espruino and cannot be used as a name`, node));
        } else if (node.name === "undefined" && isBindingName(parent, key)) {
          issues.push(issueAt("reserved-word", "\"undefined\" is a keyword in Espruino and cannot be declared", node));
        }
        break;
      default:
        break;
    }
  });
  return issues;
}
