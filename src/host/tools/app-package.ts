// `npm run app-package -- --version V [--confirm api|time] [--max-bytes N] [--sign-key FILE] IN.js OUT`:
// makes an application package (src/host/app/package.ts) from the user's JavaScript file, after
// checking that Espruino 2v29 can parse it, and prints what the console or `ota-cloud serve` needs.
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { AppPackageError, buildAppPackage, checkAppVersion, DEFAULT_APP_CONFIRM, isAppConfirm, type BuiltAppPackage } from "../app/package";
import { readKeyFile, SignError } from "../sign/trailer";
import { parseToolArgs, UsageError } from "./cli-args";

const USAGE = `usage: npm run app-package -- --version V [--confirm api|time] [--max-bytes N] [--sign-key FILE] IN.js OUT
  Writes OUT = the header line "// ota-app V MODE" followed by the application IN.js (one plain
  JavaScript file), after checking that Espruino 2v29 can parse it, and prints the version,
  confirm mode, size and MD5 of OUT.
  --version V       the application's version, 1..32 printable ASCII characters without a space,
                    quote or backslash:
                    what the board reports for the application once it runs it
  --confirm MODE    how the board confirms the new application; without that, it rolls it back:
                    time (default): it runs the board's trial time without an uncaught exception or a reboot
                    api: it calls E.emit("OTA:healthy") within the trial time
  --max-bytes N     refuse a package (signature trailer included) larger than N bytes
  --sign-key FILE   also sign OUT with the product's key (kind app), as \`npm run sign -- --kind app\` does,
                    so OUT is what a board with sign.required installs
  Exit code 0 when OUT was written, 1 when IN was refused, 2 for a usage or file error.`;

export interface AppPackageFileOptions {
  input: string;
  output: string;
  version: string;
  confirm?: string;
  maxBytes?: number;
  signKeyFile?: string;
}

/** Builds OUT from IN; throws UsageError, SignError (key file) or AppPackageError (IN refused). */
export function packageFile(o: AppPackageFileOptions): BuiltAppPackage & { out: string } {
  if (resolve(o.input) === resolve(o.output)) throw new UsageError("IN and OUT are the same file; write the package elsewhere");
  try {
    checkAppVersion(o.version);
  } catch (e) {
    throw new UsageError(`--version: ${(e as Error).message}`);
  }
  const confirm = o.confirm ?? DEFAULT_APP_CONFIRM;
  if (!isAppConfirm(confirm)) throw new UsageError(`--confirm must be api or time, got "${confirm}"`);
  const signKey = o.signKeyFile !== undefined ? readKeyFile(o.signKeyFile) : undefined;
  let source: Buffer;
  try {
    source = readFileSync(o.input);
  } catch (e) {
    throw new UsageError(`cannot read ${o.input}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const built = buildAppPackage(source, { version: o.version, confirm, maxBytes: o.maxBytes, signKey, filename: o.input });
  try {
    writeFileSync(o.output, built.bytes);
  } catch (e) {
    throw new UsageError(`cannot write ${o.output}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { ...built, out: o.output };
}

function nextStep(r: BuiltAppPackage & { out: string }): string {
  const serve = (file: string) => `npx ota-cloud serve --app ${file} --sign-key product.key --broker mqtt://HOST:1883 --device PRODUCT/NAME`;
  if (r.signed) return `serve it: ${serve(r.out)} (or upload it with the size and MD5 above)`;
  return (
    `sign it: npm run sign -- --key product.key --kind app --version ${r.version} ${r.out} ${r.out}.signed\n` +
    `         (or let ota-cloud sign it as it serves it: ${serve(r.out)})`
  );
}

export function main(argv: string[]): number {
  try {
    const parsed = parseToolArgs(argv, {
      version: { type: "string" },
      confirm: { type: "string" },
      "max-bytes": { type: "string" },
      "sign-key": { type: "string" },
    });
    const values = parsed.values as Record<string, string | boolean | undefined>;
    const positionals = parsed.positionals;
    if (values.help) {
      process.stdout.write(USAGE + "\n");
      return 0;
    }
    if (values.version === undefined) throw new UsageError("--version V is required (see --help)");
    let maxBytes: number | undefined;
    if (values["max-bytes"] !== undefined) {
      maxBytes = Number(values["max-bytes"]);
      if (!Number.isInteger(maxBytes) || maxBytes <= 0) throw new UsageError(`--max-bytes must be a positive integer, got "${values["max-bytes"]}"`);
    }
    if (positionals.length !== 2) throw new UsageError("give IN.js and OUT (see --help)");
    const r = packageFile({
      input: positionals[0],
      output: positionals[1],
      version: values.version as string,
      confirm: values.confirm as string | undefined,
      maxBytes,
      signKeyFile: values["sign-key"] as string | undefined,
    });
    for (const w of r.warnings) process.stderr.write(`app-package: warning: ${w}\n`);
    process.stdout.write(
      [
        `package  ${r.out}`,
        `version  ${r.version}`,
        `confirm  ${r.confirm}`,
        `size     ${r.size}`,
        `md5      ${r.md5}`,
        `signed   ${r.signed ? "yes (kind app)" : "no"}`,
        `next     ${nextStep(r)}`,
        "",
      ].join("\n"),
    );
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof SignError) {
      process.stderr.write(`app-package: ${e.message}\n`);
      return 2;
    }
    if (e instanceof AppPackageError) {
      process.stderr.write(`app-package: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) process.exitCode = main(process.argv.slice(2));
