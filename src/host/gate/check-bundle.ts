// The Espruino gate every built bundle must pass before it may reach a board: ES5 syntax only
// (and none of the ES5 forms Espruino rejects), no reliance on hoisting, only the globals
// Espruino 2v29 really has, and none of the member-level traps (members.ts). Syntax problems stop the other checks: their scope model is ES5's.
import { checkGlobals } from "./allowed-globals";
import { checkHoisting } from "./hoisting";
import { formatIssue, sortAndDedupe, type GateIssue } from "./issues";
import { checkMemberTraps } from "./members";
import { analyzeScopes } from "./scopes";
import { checkEspruinoSyntax, describeNonEs5, parseEs5 } from "./syntax";

export type { GateIssue } from "./issues";
export { espruinoGlobals } from "./espruino-globals";
export type { EspruinoGlobal, EspruinoGlobals } from "./espruino-globals";

export interface GateOptions {
  /**
   * The code is a Storage module that require() evaluates (the job, ota.job): Espruino gives it
   * its own scope holding `module` and `exports`, so its top-level names are not globals.
   */
  module?: boolean;
}

/** Every problem found, sorted by position. `filename` only names the bundle in errors. */
export function checkBundle(code: string, filename: string, options: GateOptions = {}): GateIssue[] {
  if (typeof code !== "string") throw new TypeError(`${filename}: bundle code must be a string`);
  const parsed = parseEs5(code);
  if (!parsed.ok) {
    const { program, issues } = describeNonEs5(code, parsed.error);
    return sortAndDedupe(program ? [...issues, ...checkEspruinoSyntax(program), ...checkMemberTraps(program, null)] : issues);
  }
  const analysis = analyzeScopes(parsed.program);
  return sortAndDedupe([
    ...checkEspruinoSyntax(parsed.program),
    ...checkHoisting(analysis),
    ...checkGlobals(analysis, undefined, options.module ? ["module", "exports"] : []),
    ...checkMemberTraps(parsed.program, analysis),
  ]);
}

/** One line per issue: `filename:line:col rule: message`. */
export function formatIssues(filename: string, issues: readonly GateIssue[]): string {
  return issues.map((issue) => formatIssue(filename, issue)).join("\n");
}

/** Throws one Error listing every issue, or returns when the bundle passes. */
export function assertBundle(code: string, filename: string, options: GateOptions = {}): void {
  const issues = checkBundle(code, filename, options);
  if (issues.length === 0) return;
  const count = issues.length === 1 ? "1 issue" : `${issues.length} issues`;
  throw new Error(`Espruino gate rejected ${filename} (${count}):\n${formatIssues(filename, issues)}`);
}
