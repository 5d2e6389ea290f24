// `npm run sign -- --key FILE --version V [--kind firmware|app] IN OUT`: appends the signature
// trailer (src/core/sign/verify.ts) to an image and prints what Tencent's console asks for
// when the file is uploaded: version, size and MD5 of the signed file.
import { readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { readAppDescriptor } from "../../core/esp32/app-image";
import { AppPackageError, readAppPackage } from "../app/package";
import { validateAppImage } from "../image/validate-image";
import { KIND_CODES, readKeyFile, readSigned, SignError, signImage, type SignKind } from "../sign/trailer";
import { parseToolArgs, UsageError } from "./cli-args";

const USAGE = `usage: npm run sign -- --key FILE --version V [--kind firmware|app] IN OUT
  Writes OUT = IN followed by an 80-byte signature trailer made with the key FILE
  (from \`npm run keygen\`), and prints the version, size and MD5 to enter in the console.
  --key FILE      the product's signing key file
  --version V     the version the update is announced as; for firmware it must equal the
                  version in IN's app descriptor (what the board reports after the update)
  --kind K        firmware (default: an ESP32 app image) or app (an application package from
                  \`npm run app-package\`; --version must equal its header's version)`;

export interface SignResult {
  out: string;
  version: string;
  kind: SignKind;
  size: number;
  md5: string;
}

export function signFile(o: { keyFile: string; version: string; kind: SignKind; input: string; output: string }): SignResult {
  if (resolve(o.input) === resolve(o.output)) throw new SignError("IN and OUT are the same file; write the signed file elsewhere");
  const key = readKeyFile(o.keyFile);
  let image: Uint8Array;
  try {
    image = readFileSync(o.input);
  } catch (e) {
    throw new SignError(`cannot read ${o.input}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
  }
  if (readSigned(image).signed) throw new SignError(`${o.input} is already signed; sign the image itself`);
  if (o.kind === "firmware") {
    const chipId = image.length >= 14 ? image[12] | (image[13] << 8) : 0;
    const check = validateAppImage(image, 0, image.length, chipId);
    if (!check.ok) throw new SignError(`${o.input} is not an ESP32 app image (${check.reason}); use --kind app for an application package`);
    const desc = readAppDescriptor({ read: (off, n) => image.slice(off, off + n), write: () => undefined, eraseSector: () => undefined }, 0);
    if (desc && desc.version !== o.version) throw new SignError(`--version ${o.version} differs from ${o.input}'s app descriptor (${desc.version}); the board would report ${desc.version} after the update`);
  } else {
    let header: string;
    try {
      header = readAppPackage(image).version;
    } catch (e) {
      if (!(e instanceof AppPackageError)) throw e;
      throw new SignError(`${o.input}: ${e.message}`);
    }
    if (header !== o.version) throw new SignError(`--version ${o.version} differs from ${o.input}'s header line (${header}); the board would report ${header} after the update`);
  }
  const signed = signImage(key, image, o.version, o.kind);
  writeFileSync(o.output, signed);
  return { out: o.output, version: o.version, kind: o.kind, size: signed.length, md5: createHash("md5").update(signed).digest("hex") };
}

export function main(argv: string[]): number {
  try {
    const { values, positionals } = parseToolArgs(argv, { key: { type: "string" }, version: { type: "string" }, kind: { type: "string" } });
    if (values.help) {
      process.stdout.write(USAGE + "\n");
      return 0;
    }
    if (!values.key) throw new UsageError("--key FILE is required (see --help)");
    if (!values.version) throw new UsageError("--version V is required (see --help)");
    const kind = (values.kind ?? "firmware") as SignKind;
    if (!(kind in KIND_CODES)) throw new UsageError(`--kind must be firmware or app, got "${values.kind}"`);
    if (positionals.length !== 2) throw new UsageError("give IN and OUT (see --help)");
    const r = signFile({ keyFile: values.key as string, version: values.version as string, kind, input: positionals[0], output: positionals[1] });
    process.stdout.write(`signed   ${r.out} (${r.kind})\nversion  ${r.version}\nsize     ${r.size}\nmd5      ${r.md5}\n`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof SignError) {
      process.stderr.write(`sign: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) process.exitCode = main(process.argv.slice(2));
