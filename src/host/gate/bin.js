#!/usr/bin/env node
// The `espruino-gate` command (package.json "bin"). A bin must be runnable JavaScript and the
// gate is TypeScript run through tsx, so this launcher starts Node with tsx's loader on cli.ts.
// tsx is resolved from this file, so it works from any working directory.
import { spawn } from "node:child_process";
import { constants } from "node:os";
import { fileURLToPath } from "node:url";

const tsx = import.meta.resolve("tsx");
const entry = fileURLToPath(new URL("./cli.ts", import.meta.url));
const child = spawn(process.execPath, ["--import", tsx, entry, ...process.argv.slice(2)], { stdio: "inherit" });

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(signal ? 128 + (constants.signals[signal] ?? 1) : (code ?? 1)));
