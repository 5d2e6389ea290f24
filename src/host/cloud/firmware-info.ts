// What the cloud announces about a firmware file: size, MD5 and version. The version comes
// from the image's own app descriptor, because that is what the board reports after the
// update: announcing another one would make the cloud push the image forever.
// Boards install only signed files (docs/security.md): a file is served as it is when it is
// signed, signed here when a key is given, and served unsigned only when asked to (a lab).
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { readAppDescriptor } from "../../core/esp32/app-image";
import { validateAppImage } from "../image/validate-image";
import { readSigned, signImage } from "../sign/trailer";

export interface FirmwareInfo {
  file: string;
  name: string;
  bytes: Uint8Array;
  size: number;
  md5: string;
  /** From the app descriptor. */
  version: string;
  projectName: string;
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
  let signed: FirmwareInfo["signed"] = false;
  if (trailer.signed) {
    signed = "file";
    if (trailer.kind !== "firmware") throw new FirmwareError(`${file} is signed as kind ${trailer.kind}, not firmware: boards refuse it`);
    if (trailer.version !== desc.version) throw new FirmwareError(`${file} is signed for version ${trailer.version} but its app descriptor says ${desc.version}: boards would refuse it`);
    if (trailer.tagValid === false) throw new FirmwareError(`${file} is signed, but not with the key given by --sign-key: boards holding that key would refuse it`);
  } else if (sign?.key) {
    bytes = signImage(sign.key, image, desc.version, "firmware");
    signed = "here";
  } else if (sign && !sign.allowUnsigned) {
    throw new FirmwareError(`${file} is not signed and boards install only signed updates: give --sign-key FILE, sign it with \`npm run sign\`, or pass --unsigned for lab boards with sign.required false`);
  }
  return {
    file,
    name: basename(file),
    bytes,
    size: bytes.length,
    md5: createHash("md5").update(bytes).digest("hex"),
    version: desc.version,
    projectName: desc.projectName,
    signed,
    ...(trailer.signed ? { kind: trailer.kind } : {}),
  };
}
