// `espruino-gate FILE…` (package.json "bin", also `npm run gate -- FILE…`): runs the same gate
// the build runs (check-bundle.ts) on any ES5 file, so a user can ask "will this run on
// Espruino 2v29?" before a board throws. One line per problem, `file:line:col rule: message`;
// exit 0 when every file is clean, 1 when any has a problem, 2 for a usage or read error.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { checkBundle, formatIssues, type GateIssue } from "./check-bundle";

export const USAGE = `usage: espruino-gate [--json] FILE...

Checks each JavaScript file against what Espruino 2v29 runs: ES5 syntax (and the ES5 forms
Espruino rejects), declare-before-use (Espruino does not hoist), only the globals and members
listed in src/host/gate/espruino-globals.json, and member-level traps (Promise .finally,
assigning .length, typed-array .slice(), Error subclasses). Rules: src/host/gate/README.md.

Prints one line per problem: file:line:col rule: message
Exit status: 0 no problem, 1 a problem in some file, 2 usage or read error.

  --json    print one JSON object instead: {"ok", "problems", "files": [{"file", "issues": [...]}]}
  --help    print this help
`;

export interface GateCliResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface FileReport {
  file: string;
  issues: GateIssue[];
}

function usageError(message: string): GateCliResult {
  return { code: 2, stdout: "", stderr: `espruino-gate: ${message} (see espruino-gate --help)\n` };
}

/** The whole command, without touching process: argv in, exit code and output out. */
export function runGateCli(argv: readonly string[], readFile: (path: string) => string = (p) => readFileSync(p, "utf8")): GateCliResult {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { json: { type: "boolean", default: false }, help: { type: "boolean", short: "h", default: false } },
    });
  } catch (e) {
    // node:util's messages are one line, e.g. "Unknown option '--x'. To specify a positional ..."
    return usageError((e as Error).message.split(". ")[0]);
  }
  if (parsed.values.help) return { code: 0, stdout: USAGE, stderr: "" };
  const files = parsed.positionals;
  if (files.length === 0) return usageError("no file given");
  const reports: FileReport[] = [];
  for (const file of files) {
    let code: string;
    try {
      code = readFile(file);
    } catch (e) {
      const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      return { code: 2, stdout: "", stderr: `espruino-gate: cannot read ${file}: ${reason}\n` };
    }
    reports.push({ file, issues: checkBundle(code, file) });
  }
  const problems = reports.reduce((n, r) => n + r.issues.length, 0);
  const code = problems === 0 ? 0 : 1;
  if (parsed.values.json) {
    return { code, stdout: JSON.stringify({ ok: problems === 0, problems, files: reports }) + "\n", stderr: "" };
  }
  const lines = reports.filter((r) => r.issues.length > 0).map((r) => formatIssues(r.file, r.issues) + "\n");
  const fileCount = files.length === 1 ? "1 file" : `${files.length} files`;
  const summary = problems === 0
    ? `espruino-gate: ${fileCount} checked, no problems\n`
    : `espruino-gate: ${problems === 1 ? "1 problem" : `${problems} problems`} in ${fileCount}\n`;
  return { code, stdout: lines.join(""), stderr: summary };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  // a closed pipe (`espruino-gate x.js | head`) ends the output, not with a stack trace
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
  });
  const result = runGateCli(process.argv.slice(2));
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  process.exitCode = result.code;
}
