// The static budget of the agent's code: what CI can check without Espruino. Each function,
// closure and top-level name costs JsVars on a board even with the code in flash, and the bytes
// of the boot files are what stays loaded while idle, so growth in any of the three shows here
// before anyone runs the bench. The numbers live in budget.json.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "acorn";
import { full } from "acorn-walk";
import { FORMATS_FILE, JOB_FILE, type Provision } from "../../core/provision";
import { agentStorageFiles, type AgentCode } from "../build/install";
import { isBootFile } from "./linux-flash";

export interface CodeStats {
  functions: number;
  topLevelNames: number;
  bytes: number;
}

export interface Budget {
  why: string;
  /** The agent's boot files: the code loaded while idle. */
  resident: CodeStats;
  /** Every code file the agent installs (boot files and any loaded on demand). */
  all: CodeStats;
}

export const BUDGET_FILE = fileURLToPath(new URL("./budget.json", import.meta.url));

export function loadBudget(file = BUDGET_FILE): Budget {
  return JSON.parse(readFileSync(file, "utf8")) as Budget;
}

type Node = { type: string; start: number; id?: { name: string } | null; declarations?: { id: { type: string; name?: string } }[] };

/**
 * Functions (declarations, expressions, methods), top-level names (var and function declarations)
 * and bytes of one script. Top-level names are globals, shared with the application; a Storage
 * module (`module`: the job, which require() runs in a scope of its own) has none.
 */
export function codeStats(code: string, module = false): CodeStats {
  const ast = parse(code, { ecmaVersion: "latest", sourceType: "script" }) as unknown as { body: Node[] };
  let functions = 0;
  full(ast as never, (n: { type: string }) => {
    if (n.type === "FunctionDeclaration" || n.type === "FunctionExpression" || n.type === "ArrowFunctionExpression") functions++;
  });
  const names = new Set<string>();
  for (const s of ast.body) {
    if ((s.type === "FunctionDeclaration" || s.type === "ClassDeclaration") && s.id) names.add(s.id.name);
    if (s.type === "VariableDeclaration") for (const d of s.declarations ?? []) if (d.id.type === "Identifier" && d.id.name) names.add(d.id.name);
  }
  return { functions, topLevelNames: module ? 0 : names.size, bytes: Buffer.byteLength(code, "latin1") };
}

const add = (a: CodeStats, b: CodeStats): CodeStats => ({ functions: a.functions + b.functions, topLevelNames: a.topLevelNames + b.topLevelNames, bytes: a.bytes + b.bytes });
const ZERO: CodeStats = { functions: 0, topLevelNames: 0, bytes: 0 };

/** A Storage file is data when it parses as JSON (ota.cfg), code otherwise. */
function isData(data: string): boolean {
  try {
    JSON.parse(data);
    return true;
  } catch {
    return false;
  }
}

export interface AgentCodeStats {
  resident: CodeStats;
  all: CodeStats;
  residentFiles: string[];
  codeFiles: string[];
}

/** Stats of the code files agentStorageFiles() makes of `code`. */
export function agentCodeStats(code: AgentCode, provision: Provision): AgentCodeStats {
  let resident = ZERO;
  let all = ZERO;
  const residentFiles: string[] = [];
  const codeFiles: string[] = [];
  for (const f of agentStorageFiles(code, provision)) {
    if (!isBootFile(f.name) && isData(f.data)) continue;
    const s = codeStats(f.data, f.name === JOB_FILE || f.name === FORMATS_FILE);
    all = add(all, s);
    codeFiles.push(f.name);
    if (isBootFile(f.name)) {
      resident = add(resident, s);
      residentFiles.push(f.name);
    }
  }
  return { resident, all, residentFiles, codeFiles };
}

/** Which of `stats` exceed `budget`, one phrase each ("functions 420 > 400"). */
export function overBudget(stats: CodeStats, budget: CodeStats): string[] {
  return (Object.keys(budget) as (keyof CodeStats)[]).filter((k) => stats[k] > budget[k]).map((k) => `${k} ${stats[k]} > ${budget[k]}`);
}
