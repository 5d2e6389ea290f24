// Application packages: an update of the user's JavaScript application rather than of the
// firmware (docs/tools.md#updating-the-application). A package is the application's own text,
// which Espruino runs from Storage as it is, behind one header line:
//
//   // ota-app <version> <confirm>\n
//
// version: 1..32 printable ASCII characters without a space, quote or backslash (what the board
// reports for the app; src/core/agent/app-files.ts appHeader refuses any other);
// confirm: "api" (the app calls E.emit("OTA:healthy") within the board's trial time, or it is
// rolled back) or "time" (it is confirmed when it runs the trial time without an uncaught
// exception or a reboot). The header is a JavaScript line comment, so the whole package is still
// plain JS. A signed package ends with the 80-byte trailer of src/core/sign/verify.ts, kind 1
// (application); the board evaluates only the bytes before it.
import { createHash } from "node:crypto";
import { parse, type Program } from "acorn";
import { walkAll, type AnyNode } from "../gate/ast";
import { formatIssue, issueAt, sortAndDedupe, type GateIssue } from "../gate/issues";
import { checkMemberTraps } from "../gate/members";
import { checkEspruinoSyntax } from "../gate/syntax";
import { readSigned, signImage } from "../sign/trailer";

export const APP_HEADER_PREFIX = "// ota-app ";
export const APP_CONFIRM_MODES = ["api", "time"] as const;
export type AppConfirm = (typeof APP_CONFIRM_MODES)[number];
export const DEFAULT_APP_CONFIRM: AppConfirm = "time";

export class AppPackageError extends Error {}

const VERSION_RE = /^[\x21\x23-\x5b\x5d-\x7e]{1,32}$/;
const PREFIX_BYTES = Buffer.from(APP_HEADER_PREFIX, "latin1");
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Throws unless `version` can stand in a header (and a signature trailer): 1..32 printable ASCII, no space, quote or backslash. */
export function checkAppVersion(version: string): void {
  if (!VERSION_RE.test(version)) {
    throw new AppPackageError(`version must be 1..32 printable ASCII characters without a space, quote or backslash, got ${JSON.stringify(version)}`);
  }
}

export function isAppConfirm(mode: string): mode is AppConfirm {
  return (APP_CONFIRM_MODES as readonly string[]).includes(mode);
}

/** The header line, "\n" included. */
export function appHeader(version: string, confirm: AppConfirm): string {
  checkAppVersion(version);
  if (!isAppConfirm(confirm)) throw new AppPackageError(`confirm mode must be api or time, got ${JSON.stringify(confirm)}`);
  return `${APP_HEADER_PREFIX}${version} ${confirm}\n`;
}

/** True when the bytes start like a package ("// ota-app "): to tell a package from an ESP32 image. */
export function looksLikeAppPackage(bytes: Uint8Array): boolean {
  return bytes.length >= PREFIX_BYTES.length && PREFIX_BYTES.equals(Buffer.from(bytes.buffer, bytes.byteOffset, PREFIX_BYTES.length));
}

export interface AppPackageInfo {
  version: string;
  confirm: AppConfirm;
  /** The application's JavaScript: the text after the header line (and before a trailer). */
  body: string;
  /** Whether the file ends with a signature trailer (kind app, for `version`: anything else is refused). */
  signed: boolean;
  /** Header line and body: the bytes the board evaluates (the whole file less its trailer). */
  content: Uint8Array;
  /** Only when a key was given and the file is signed: whether its tag was made with that key. */
  tagValid?: boolean;
}

function quoteLine(bytes: Uint8Array): string {
  const text = Buffer.from(bytes).toString("latin1");
  return JSON.stringify(text.length > 60 ? text.slice(0, 57) + "..." : text);
}

/**
 * Reads a package (signed or not) and checks its format: the header line, UTF-8 text, an
 * application after the header, and for a signed one a trailer of kind app for the header's
 * version. Throws an AppPackageError saying what is wrong. With `key`, also says whether a
 * signed package's tag was made with it (tagValid); the JavaScript itself is not checked here
 * (checkAppSource does that).
 */
export function readAppPackage(bytes: Uint8Array, key?: Uint8Array): AppPackageInfo {
  const trailer = readSigned(bytes, key);
  const content = trailer.image;
  if (!looksLikeAppPackage(content)) {
    throw new AppPackageError(
      `not an application package: it does not start with the header line "${APP_HEADER_PREFIX}<version> <api|time>" (make one with \`npm run app-package\`)`,
    );
  }
  const end = content.indexOf(0x0a);
  if (end < 0) throw new AppPackageError("the header line has no end: the package holds no \"\\n\" and so no application");
  const line = content.subarray(PREFIX_BYTES.length, end);
  if (line[line.length - 1] === 0x0d) throw new AppPackageError("the header line ends in \"\\r\\n\"; it must end in \"\\n\" alone");
  const fields = Buffer.from(line).toString("latin1").split(" ");
  if (fields.length !== 2) {
    throw new AppPackageError(`the header line must be "${APP_HEADER_PREFIX}<version> <api|time>" with nothing else on it, got ${quoteLine(content.subarray(0, end))}`);
  }
  const [version, confirm] = fields;
  checkAppVersion(version);
  if (!isAppConfirm(confirm)) throw new AppPackageError(`the header's confirm mode must be api or time, got ${JSON.stringify(confirm)}`);
  let body: string;
  try {
    body = utf8.decode(content.subarray(end + 1));
  } catch {
    throw new AppPackageError("the application after the header line is not UTF-8 text");
  }
  if (body.trim() === "") throw new AppPackageError("the package holds no application code after the header line");
  if (trailer.signed) {
    if (trailer.kind !== "app") throw new AppPackageError(`the package is signed as kind ${trailer.kind}, not app: boards refuse it`);
    if (trailer.version !== version) {
      throw new AppPackageError(`the package is signed for version ${trailer.version} but its header says ${version}: boards refuse it`);
    }
  }
  return {
    version,
    confirm,
    body,
    signed: trailer.signed,
    content,
    ...(trailer.tagValid !== undefined ? { tagValid: trailer.tagValid } : {}),
  };
}

export interface AppSourceCheck {
  /** Code Espruino 2v29 cannot parse (or refuses): the package is not made. */
  errors: GateIssue[];
  /** Code that parses but misbehaves on Espruino 2v29 (regular expressions, member-level traps). */
  warnings: GateIssue[];
}

// The newer syntax Espruino 2v29's parser lacks (docs/espruino-runtime.md#language; the logical
// assignments have no token in Espruino's lexer, src/jslex.h). What it has (arrow functions,
// let/const, classes, template literals, for...of, ??) is fine in an application.
function missingConstruct(node: AnyNode, parent: AnyNode | null, key: string | null): string | null {
  switch (node.type) {
    case "ObjectPattern":
    case "ArrayPattern":
      return "destructuring";
    case "AssignmentPattern":
      return key === "params" ? "default parameter value" : "default value";
    case "RestElement":
      return key === "params" ? "rest parameter (...)" : "rest element (...)";
    case "SpreadElement":
      return "spread (...)";
    case "Property":
    case "MethodDefinition":
    case "PropertyDefinition":
      return node.computed && parent?.type !== "ObjectPattern" ? "computed property key ([key])" : null;
    case "BinaryExpression":
      return node.operator === "**" ? "exponent operator (**)" : null;
    case "AssignmentExpression":
      if (node.operator === "**=") return "exponent operator (**=)";
      return ["||=", "&&=", "??="].includes(node.operator) ? `logical assignment (${node.operator})` : null;
    case "ChainExpression":
      return "optional chaining (?.)";
    case "FunctionDeclaration":
    case "FunctionExpression":
    case "ArrowFunctionExpression":
      if (node.async) return "async function";
      return node.generator ? "generator function (function*)" : null;
    default:
      return null;
  }
}

const PATTERNS = new Set(["ObjectPattern", "ArrayPattern", "AssignmentPattern", "RestElement"]);
/** A pattern, or a part of one (a pattern's Property): what one report covers. */
const PATTERN_PARTS = new Set([...PATTERNS, "Property"]);

function parseScript(code: string): { program: Program } | { error: GateIssue } {
  try {
    return { program: parse(code, { ecmaVersion: "latest", sourceType: "script", locations: true }) };
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    const loc = (e as SyntaxError & { loc?: { line: number; column: number } }).loc;
    return {
      error: { rule: "syntax", message: `not valid JavaScript: ${e.message.replace(/\s*\(\d+:\d+\)$/, "")}`, line: loc?.line ?? 1, column: (loc?.column ?? 0) + 1 },
    };
  }
}

/**
 * Checks an application's JavaScript for Espruino 2v29: it must parse as a script (acorn, newest
 * grammar), use none of the newer syntax Espruino's parser lacks, and none of the forms the
 * project's gate (src/host/gate) knows Espruino's parser refuses (labels, with, array holes,
 * case after default, a bare return, keywords as names). Regular expressions Espruino cannot
 * match and the gate's member-level traps are warnings. Lines and columns are 1-based.
 */
export function checkAppSource(code: string): AppSourceCheck {
  const parsed = parseScript(code);
  if ("error" in parsed) return { errors: [parsed.error], warnings: [] };
  const errors: GateIssue[] = [];
  const inPattern = new Set<AnyNode>();
  walkAll(parsed.program as AnyNode, (node, parent, key) => {
    if (parent && inPattern.has(parent) && PATTERN_PARTS.has(node.type)) {
      inPattern.add(node); // one report for a whole destructuring pattern
      return;
    }
    const construct = missingConstruct(node, parent, key);
    if (!construct) return;
    if (PATTERNS.has(node.type)) inPattern.add(node);
    errors.push(issueAt("espruino-syntax", `${construct} is not in Espruino 2v29's parser (docs/espruino-runtime.md#language)`, node));
  });
  const warnings: GateIssue[] = [];
  for (const issue of checkEspruinoSyntax(parsed.program)) (issue.rule === "regex" ? warnings : errors).push(issue);
  warnings.push(...checkMemberTraps(parsed.program, null));
  return { errors: sortAndDedupe(errors), warnings: sortAndDedupe(warnings) };
}

/** One line per issue, `filename:line:col rule: message`. */
export function formatAppIssues(filename: string, issues: readonly GateIssue[]): string {
  return issues.map((i) => formatIssue(filename, i)).join("\n");
}

export interface AppPackageOptions {
  version: string;
  /** Default "time". */
  confirm?: AppConfirm;
  /** Refuse a package (with its trailer, when signed) larger than this many bytes. */
  maxBytes?: number;
  /** Sign the package with this product key, kind app, as `npm run sign -- --kind app` does. */
  signKey?: Uint8Array;
  /** Names the source in messages (default "app.js"). */
  filename?: string;
}

export interface BuiltAppPackage {
  /** The package file: header line, application, and the trailer when signed. */
  bytes: Buffer;
  version: string;
  confirm: AppConfirm;
  size: number;
  md5: string;
  signed: boolean;
  /** `filename:line:col rule: message` for code that parses but misbehaves on Espruino (not refused). */
  warnings: string[];
}

/**
 * Makes a package from an application's JavaScript (text, or its bytes as UTF-8). Refuses, with
 * an AppPackageError, an invalid version or confirm mode, a source that is not UTF-8, is empty,
 * already starts with a header line or carries a signature trailer, code checkAppSource rejects
 * (every problem as `filename:line:col rule: message`), and a result larger than maxBytes.
 * A UTF-8 byte order mark at the start is dropped (the header must be the file's first bytes).
 */
export function buildAppPackage(source: string | Uint8Array, o: AppPackageOptions): BuiltAppPackage {
  const filename = o.filename ?? "app.js";
  const confirm = o.confirm ?? DEFAULT_APP_CONFIRM;
  const header = appHeader(o.version, confirm);
  if (o.maxBytes !== undefined && !(Number.isInteger(o.maxBytes) && o.maxBytes > 0)) throw new AppPackageError(`maxBytes must be a positive integer, got ${o.maxBytes}`);
  let code: string;
  if (typeof source === "string") {
    code = source;
  } else {
    if (readSigned(source).signed) throw new AppPackageError(`${filename} ends with a signature trailer: give the application's own JavaScript file`);
    try {
      code = utf8.decode(source);
    } catch {
      throw new AppPackageError(`${filename} is not UTF-8 text`);
    }
  }
  if (code.charCodeAt(0) === 0xfeff) code = code.slice(1);
  if (code.trim() === "") throw new AppPackageError(`${filename} is empty: there is no application to package`);
  if (/^\/\/ ota-app(?:\s|$)/.test(code)) {
    const first = code.split("\n", 1)[0];
    throw new AppPackageError(
      `${filename} already starts with a header line (${JSON.stringify(first.length > 60 ? first.slice(0, 57) + "..." : first)}): give the application's own JavaScript file, not a package`,
    );
  }
  const check = checkAppSource(code);
  if (check.errors.length > 0) {
    const count = check.errors.length === 1 ? "1 problem" : `${check.errors.length} problems`;
    throw new AppPackageError(`${filename} is not JavaScript Espruino can run (${count}):\n${formatAppIssues(filename, check.errors)}`);
  }
  const content = Buffer.from(header + code, "utf8");
  const bytes = o.signKey ? signImage(o.signKey, content, o.version, "app") : content;
  if (o.maxBytes !== undefined && bytes.length > o.maxBytes) {
    throw new AppPackageError(`the package is ${bytes.length} bytes${o.signKey ? " (signature trailer included)" : ""}, more than the limit of ${o.maxBytes}`);
  }
  return {
    bytes,
    version: o.version,
    confirm,
    size: bytes.length,
    md5: createHash("md5").update(bytes).digest("hex"),
    signed: Boolean(o.signKey),
    warnings: check.warnings.map((w) => formatIssue(filename, w)),
  };
}
