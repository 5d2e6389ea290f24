// Argument parsing shared by the signing tools: --help, and one line for anything unknown.
import { parseArgs, type ParseArgsConfig } from "node:util";

export class UsageError extends Error {}

/** parseArgs in strict mode, with its errors turned into one-line UsageErrors. */
export function parseToolArgs(argv: string[], options: NonNullable<ParseArgsConfig["options"]>) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (e) {
    const code = (e as { code?: string }).code ?? "";
    const m = /'([^']+)'/.exec((e as Error).message);
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") throw new UsageError(`unknown option ${m ? m[1] : ""} (see --help)`);
    if (code.startsWith("ERR_PARSE_ARGS")) throw new UsageError(((e as Error).message.split("\n")[0] ?? "bad arguments") + " (see --help)");
    throw e;
  }
}
