// `npm run keygen -- FILE`: a new random signing key for a product's updates
// (docs/security.md). The key is written as one base64 line, file mode 0600, and never
// printed: `npm run flash -- --sign-key-file` puts it into each board's provisioning file, and it is given
// to `npm run sign` and `ota-cloud serve --sign-key`.
import { pathToFileURL } from "node:url";
import { SignError, writeKeyFile } from "../sign/trailer";
import { parseToolArgs, UsageError } from "./cli-args";

const USAGE = `usage: npm run keygen -- FILE
  Writes a new random 32-byte signing key to FILE (base64, mode 0600; an existing FILE is never
  overwritten). The key is not printed. Keep it off shared disks: whoever has it can sign updates
  every board of the product installs.`;

export function main(argv: string[]): number {
  try {
    const { values, positionals } = parseToolArgs(argv, {});
    if (values.help) {
      process.stdout.write(USAGE + "\n");
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError("give exactly one output FILE (see --help)");
    writeKeyFile(positionals[0]);
    process.stdout.write(`wrote a new signing key to ${positionals[0]} (mode 0600)\n`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof SignError) {
      process.stderr.write(`keygen: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) process.exitCode = main(process.argv.slice(2));
