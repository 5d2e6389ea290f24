// What the cloud announces about a firmware file: size, MD5 and version. The version comes
// from the image's own app descriptor, because that is what the board reports after the
// update: announcing another one would make the cloud push the image forever.
// Boards install only signed files (docs/security.md): a file is served as it is when it is
// signed, signed here when a key is given, and served unsigned only when asked to (a lab).
// An application package (src/host/app/package.ts) is read the same way by readAppPackageFile:
// its version is the one in its header line, which the board reports for the app module.
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { readAppDescriptor } from "../../core/esp32/app-image";
import { AppPackageError, checkAppSource, formatAppIssues, looksLikeAppPackage, readAppPackage, type AppConfirm } from "../app/package";
import { validateAppImage } from "../image/validate-image";
import { readSigned, signImage } from "../sign/trailer";

export interface FirmwareInfo {
  file: string;
  name: string;
  bytes: Uint8Array;
  size: number;
  md5: string;
  /** From the app descriptor (an application package: its header line). */
  version: string;
  /** From the app descriptor; "" for an application package. */
  projectName: string;
  /** What the file updates: an ESP32 app image, or the application (an application package). */
  type: "firmware" | "app";
  /** An application package: the module name it is announced and reported under (fw_type). */
  fwType?: string;
  /** An application package: how the board confirms it (its header line). */
  confirm?: AppConfirm;
  /** "file": the file carries a signature trailer; "here": signed with --sign-key; false: unsigned. */
  signed: "file" | "here" | false;
  /** The signed file's kind (firmware or app). */
  kind?: string | number;
}

export interface SignPolicy {
  /** Sign an unsigned image with this key; a signed file must carry a tag for it. */
  key?: Uint8Array;
  /** Serve an unsigned image as it is (for boards with sign.required false). */
  allowUnsigned?: boolean;
}

export class FirmwareError extends Error {}

export function readFirmware(file: string, announcedVersion?: string, sign?: SignPolicy): FirmwareInfo {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new FirmwareError(`cannot read the firmware ${file}: ${(e as Error).message}`);
  }
  const trailer = readSigned(bytes, sign?.key);
  const image = trailer.image;
  if (looksLikeAppPackage(image)) throw new FirmwareError(`${file} is an application package, not firmware: serve it with --app ${file}`);
  const chipId = image.length >= 14 ? image[12] | (image[13] << 8) : 0;
  const check = validateAppImage(image, 0, image.length, chipId);
  if (!check.ok) throw new FirmwareError(`${file} is not an ESP32 app image (${check.reason}): the agent would refuse it after downloading it`);
  const desc = readAppDescriptor({ read: (o, n) => image.slice(o, o + n), write: () => undefined, eraseSector: () => undefined }, 0);
  if (!desc) throw new FirmwareError(`${file} has no app descriptor (esp_app_desc_t), so it names no version`);
  if (announcedVersion !== undefined && announcedVersion !== desc.version) {
    throw new FirmwareError(
      `--version ${announcedVersion} differs from the version in ${file}'s app descriptor (${desc.version}); ` +
        `after the update the board reports ${desc.version}, so the task could never be judged done. Omit --version or build the image with that version.`,
    );
  }
  if (trailer.signed) {
    if (trailer.kind !== "firmware") throw new FirmwareError(`${file} is signed as kind ${trailer.kind}, not firmware: boards refuse it`);
    if (trailer.version !== desc.version) throw new FirmwareError(`${file} is signed for version ${trailer.version} but its app descriptor says ${desc.version}: boards would refuse it`);
  }
  const s = applySignPolicy(file, bytes, image, desc.version, "firmware", trailer.signed, trailer.tagValid, sign);
  bytes = s.bytes;
  const signed = s.signed;
  return {
    file,
    name: basename(file),
    bytes,
    size: bytes.length,
    md5: createHash("md5").update(bytes).digest("hex"),
    version: desc.version,
    projectName: desc.projectName,
    type: "firmware",
    signed,
    ...(trailer.signed ? { kind: trailer.kind } : {}),
  };
}

/** What a module name (fw_type) may be: what the agent accepts in update_firmware, 1..32 printable ASCII characters, no spaces. */
/**
 * What `serve` hands out under the signing policy: a signed file as it is (its tag checked against
 * --sign-key when given), an unsigned one signed here with the key, or a refusal naming the way out.
 * `content`: the file without its trailer, what a signature covers.
 */
function applySignPolicy(file: string, bytes: Uint8Array, content: Uint8Array, version: string, kind: "firmware" | "app", fileSigned: boolean, tagValid: boolean | undefined, sign?: SignPolicy): { bytes: Uint8Array; signed: FirmwareInfo["signed"] } {
  if (fileSigned) {
    if (tagValid === false) throw new FirmwareError(`${file} is signed, but not with the key given by --sign-key: boards holding that key would refuse it`);
    return { bytes, signed: "file" };
  }
  if (sign?.key) return { bytes: signImage(sign.key, content, version, kind), signed: "here" };
  if (sign && !sign.allowUnsigned) {
    const how = kind === "app" ? "`npm run sign -- --kind app`" : "`npm run sign`";
    throw new FirmwareError(`${file} is not signed and boards install only signed updates: give --sign-key FILE, sign it with ${how}, or pass --unsigned for lab boards with sign.required false`);
  }
  return { bytes, signed: false };
}

export function checkFwType(fwType: string): void {
  if (!/^[\x21-\x7e]{1,32}$/.test(fwType)) throw new FirmwareError(`--fw-type must be 1..32 printable ASCII characters without spaces, got ${JSON.stringify(fwType)}`);
}

/**
 * An application package to serve: its version from the header line (`announcedVersion`, when
 * given, must equal it), its JavaScript checked as `npm run app-package` checks it, and signed as
 * kind app under the same policy as firmware (a signed package must be kind app, for its header's
 * version, and carry the key's tag). `fwType` is the module name it is announced under.
 */
export function readAppPackageFile(file: string, announcedVersion?: string, sign?: SignPolicy, fwType = "app"): FirmwareInfo {
  checkFwType(fwType);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new FirmwareError(`cannot read the application package ${file}: ${(e as Error).message}`);
  }
  let pkg;
  try {
    pkg = readAppPackage(bytes, sign?.key);
  } catch (e) {
    if (!(e instanceof AppPackageError)) throw e;
    const image = readSigned(bytes).image;
    const chipId = image.length >= 14 ? image[12] | (image[13] << 8) : 0;
    const hint = validateAppImage(image, 0, image.length, chipId).ok ? " (it is an ESP32 app image: serve it with --firmware)" : "";
    throw new FirmwareError(`${file}: ${e.message}${hint}`);
  }
  // the whole package is JavaScript (the header is a line comment), so lines are the file's
  const check = checkAppSource(Buffer.from(pkg.content).toString("utf8"));
  if (check.errors.length > 0) {
    throw new FirmwareError(`${file} holds JavaScript Espruino cannot run; boards would install an application that cannot start:\n${formatAppIssues(file, check.errors)}`);
  }
  if (announcedVersion !== undefined && announcedVersion !== pkg.version) {
    throw new FirmwareError(
      `--version ${announcedVersion} differs from the version in ${file}'s header line (${pkg.version}); ` +
        `after the update the board reports ${pkg.version} for ${fwType}, so the task could never be judged done. Omit --version or build the package with that version.`,
    );
  }
  const s = applySignPolicy(file, bytes, pkg.content, pkg.version, "app", pkg.signed, pkg.tagValid, sign);
  bytes = s.bytes;
  const signed = s.signed;
  return {
    file,
    name: basename(file),
    bytes,
    size: bytes.length,
    md5: createHash("md5").update(bytes).digest("hex"),
    version: pkg.version,
    projectName: "",
    type: "app",
    fwType,
    confirm: pkg.confirm,
    signed,
    ...(pkg.signed ? { kind: "app" } : {}),
  };
}
