// What the cloud announces about a firmware file: size, MD5 and version. The version comes
// from the image's own app descriptor, because that is what the board reports after the
// update: announcing another one would make the cloud push the image forever.
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { readAppDescriptor } from "../../core/esp32/app-image";
import { validateAppImage } from "../image/validate-image";

export interface FirmwareInfo {
  file: string;
  name: string;
  bytes: Uint8Array;
  size: number;
  md5: string;
  /** From the app descriptor. */
  version: string;
  projectName: string;
}

export class FirmwareError extends Error {}

export function readFirmware(file: string, announcedVersion?: string): FirmwareInfo {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new FirmwareError(`cannot read the firmware ${file}: ${(e as Error).message}`);
  }
  const chipId = bytes.length >= 14 ? bytes[12] | (bytes[13] << 8) : 0;
  const check = validateAppImage(bytes, 0, bytes.length, chipId);
  if (!check.ok) throw new FirmwareError(`${file} is not an ESP32 app image (${check.reason}): the agent would refuse it after downloading it`);
  const desc = readAppDescriptor({ read: (o, n) => bytes.slice(o, o + n), write: () => undefined, eraseSector: () => undefined }, 0);
  if (!desc) throw new FirmwareError(`${file} has no app descriptor (esp_app_desc_t), so it names no version`);
  if (announcedVersion !== undefined && announcedVersion !== desc.version) {
    throw new FirmwareError(
      `--version ${announcedVersion} differs from the version in ${file}'s app descriptor (${desc.version}); ` +
        `after the update the board reports ${desc.version}, so the task could never be judged done. Omit --version or build the image with that version.`,
    );
  }
  return {
    file,
    name: basename(file),
    bytes,
    size: bytes.length,
    md5: createHash("md5").update(bytes).digest("hex"),
    version: desc.version,
    projectName: desc.projectName,
  };
}
