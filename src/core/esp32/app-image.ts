// ESP app image checks (docs/esp32-formats.md#app-image): a preflight on the first 0x120 bytes before any
// flash is erased, and a streaming verifier that repeats what esp_image_verify and the
// bootloader check at every boot (segment walk, XOR checksum, appended SHA-256).
//
// Memory (Espruino): numbers come from a const enum (inlined); the verifier is one factory
// whose closure holds its state (no class with a dozen fields and eight methods), and it is a
// separate export, so a bundle that never verifies the slot need not carry it (nor SHA-256).

import { FlashPort } from "../ports";
import { otaError } from "../errors";
import { u32le, cString } from "./bytes";
import { Sha256 } from "../crypto/sha256";

/** Inlined by the compiler: no constant lives in RAM on the device. */
const enum Img {
  Magic = 0xe9,
  DescMagic = 0xabcd5432,
  HeaderSize = 24,
  SegHeaderSize = 8,
  DescOffset = 0x20,
  Preflight = 0x120,
  MaxSegments = 16,
  MaxSegmentLen = 0x1000000,
  ChecksumSeed = 0xef,
  HashLen = 32,
}

export const IMAGE_MAGIC = 0xe9;
export const APP_DESC_MAGIC = 0xabcd5432;
export const IMAGE_HEADER_SIZE = 24;
export const SEGMENT_HEADER_SIZE = 8;
export const APP_DESC_OFFSET = 0x20;
/** Image header + first segment header + the 256-byte esp_app_desc_t. */
export const IMAGE_PREFLIGHT_BYTES = 0x120;
export const MAX_SEGMENTS = 16;

/** esp_image_header_t.chip_id values (docs/esp32-formats.md#image-header). */
export const CHIP_ID_ESP32 = 0x0000;
export const CHIP_ID_ESP32S2 = 0x0002;
export const CHIP_ID_ESP32C3 = 0x0005;
export const CHIP_ID_ESP32S3 = 0x0009;

/** The esp_image_header_t.chip_id of a board file's chip, -1 if unknown (host tools; preflightImage has the same table inline). */
export function chipIdOf(chip: string): number {
  if (chip === "esp32") return 0x0000;
  if (chip === "esp32s2") return 0x0002;
  if (chip === "esp32c3") return 0x0005;
  if (chip === "esp32s3") return 0x0009;
  return -1;
}

export interface ImageInfo {
  version: string;
  projectName: string;
  secureVersion: number;
  segmentCount: number;
  hashAppended: boolean;
}

/**
 * Refuses an image that cannot work on this device (`chip`: the board file's chip name) from
 * its first IMAGE_PREFLIGHT_BYTES bytes and its announced size, before anything is erased.
 * Each defect has its own code.
 */
export function preflightImage(first: Uint8Array, chip: string, slotSize: number, imageSize: number, projectName: string | null): ImageInfo {
  if (imageSize > slotSize) throw otaError("IMG_TOO_BIG", "image " + imageSize + " bytes, slot " + slotSize);
  if (first.length === 0) throw otaError("IMG_TRUNCATED", "no image bytes");
  if (first[0] !== Img.Magic) throw otaError("IMG_MAGIC", "first byte 0x" + first[0].toString(16) + ", expected 0xe9");
  if (first.length < Img.Preflight || imageSize < Img.Preflight) {
    throw otaError("IMG_TRUNCATED", "need " + Img.Preflight + " bytes, have " + Math.min(first.length, imageSize));
  }
  // esptool only ever writes 0 or 1; anything else is not an image we understand.
  if (first[23] > 1) throw otaError("IMG_MAGIC", "hash_appended byte " + first[23]);
  // chipIdOf written out: the device bundle carries no function for a four-entry table.
  const chipId = chip === "esp32" ? 0x0000 : chip === "esp32s2" ? 0x0002 : chip === "esp32c3" ? 0x0005 : chip === "esp32s3" ? 0x0009 : -1;
  const imageChip = first[12] | (first[13] << 8);
  if (imageChip !== chipId) throw otaError("IMG_CHIP", "image for chip id " + imageChip + ", device is " + chipId);
  const count = first[1];
  if (count < 1 || count > Img.MaxSegments) throw otaError("IMG_SEGMENTS", "segment count " + count);
  const len0 = u32le(first, Img.HeaderSize + 4);
  if (len0 % 4 !== 0 || len0 >= Img.MaxSegmentLen) throw otaError("IMG_SEGMENTS", "segment 0 length 0x" + len0.toString(16) + " invalid");
  const magic = u32le(first, Img.DescOffset);
  if (magic !== Img.DescMagic) throw otaError("IMG_DESC_MAGIC", "app descriptor magic 0x" + magic.toString(16));
  const info: ImageInfo = {
    version: cString(first, Img.DescOffset + 0x10, 32),
    projectName: cString(first, Img.DescOffset + 0x30, 32),
    secureVersion: u32le(first, Img.DescOffset + 4),
    segmentCount: count,
    hashAppended: first[23] === 1,
  };
  if (projectName !== null && info.projectName !== projectName) {
    throw otaError("IMG_PROJECT", "image is for project '" + info.projectName + "', expected '" + projectName + "'");
  }
  return info;
}

/** The app descriptor of the image in a slot, or null when the slot holds no app image. */
export function readAppDescriptor(flash: FlashPort, slotOffset: number): { version: string; projectName: string } | null {
  const b = flash.read(slotOffset, Img.Preflight);
  if (b[0] !== Img.Magic || b[1] < 1 || b[1] > Img.MaxSegments || u32le(b, Img.DescOffset) !== Img.DescMagic) return null;
  return { version: cString(b, Img.DescOffset + 0x10, 32), projectName: cString(b, Img.DescOffset + 0x30, 32) };
}

/**
 * Streaming image check. Feed the image in order, in chunks of any size; structural
 * errors (bad header, bad segment length) throw from feed() at once so a download can
 * stop early; checksum and hash are judged by verify() at the end.
 */
export interface ImageVerifier {
  feed(data: Uint8Array, off: number, len: number): void;
  /** Throws IMG_TRUNCATED, IMG_CHECKSUM or IMG_SHA256; returns the image length when the image is sound. */
  verify(): number;
  /** Total image length (header to checksum, plus the hash if appended) once known, else -1. */
  imageLength(): number;
}

// Phases of the walk (numbers, inlined).
const enum P {
  Header = 0,
  SegHeader = 1,
  SegData = 2,
  Padding = 3,
  Hash = 4,
  Done = 5,
}

/** `new ImageVerifier(verifySha256)`: a constructor that returns its closure-backed object. */
export const ImageVerifier = function (verifySha256: boolean): ImageVerifier {
  let phase: number = P.Header;
  /** Bytes of the current header being collected (image header, segment header, hash). */
  const hdr = new Uint8Array(Img.HeaderSize + Img.HashLen);
  let hdrLen = 0;
  let pos = 0;
  let segmentsLeft = 0;
  let segIndex = 0;
  let dataLeft = 0;
  let xor: number = Img.ChecksumSeed;
  let checksumOk = false;
  /** Offset of the checksum byte, known once the last segment has been walked. */
  let checksumAt = -1;
  let hashAppended = false;
  let sha: Sha256 | null = null;
  const imageLength = function (): number {
    return checksumAt < 0 ? -1 : checksumAt + 1 + (hashAppended ? Img.HashLen : 0);
  };
  return {
    imageLength: imageLength,
    feed: function (data: Uint8Array, off: number, len: number): void {
      const end = off + len;
      let i = off;
      // Declared once here: Espruino creates a var only when its declaration runs, and ES5
      // output would otherwise share one var between the branches below.
      let n = 0;
      let need = 0;
      let x = 0;
      let stop = 0;
      let j = 0;
      while (phase !== P.Done) {
        if (phase === P.SegData && dataLeft === 0) {
          // A segment ends (no bytes needed): the next header, or zero padding so the
          // checksum is the last byte of a 16-byte block (docs/esp32-formats.md#segments-and-checksum).
          if (segmentsLeft > 0) phase = P.SegHeader;
          else {
            checksumAt = ((pos + 16) & ~15) - 1;
            phase = P.Padding;
          }
          continue;
        }
        if (i >= end) break;
        if (phase === P.Header || phase === P.SegHeader || phase === P.Hash) {
          need = phase === P.Header ? Img.HeaderSize : phase === P.SegHeader ? Img.SegHeaderSize : Img.HashLen;
          n = need - hdrLen;
          if (n > end - i) n = end - i;
          hdr.set(data.subarray(i, i + n), hdrLen);
          hdrLen += n;
          if (phase !== P.Hash && sha) sha.update(data, i, n);
          i += n;
          pos += n;
          if (hdrLen < need) break;
          hdrLen = 0;
          if (phase === P.Header) {
            if (hdr[0] !== Img.Magic) throw otaError("IMG_MAGIC", "first byte 0x" + hdr[0].toString(16));
            if (hdr[1] < 1 || hdr[1] > Img.MaxSegments) throw otaError("IMG_SEGMENTS", "segment count " + hdr[1]);
            segmentsLeft = hdr[1];
            hashAppended = hdr[23] === 1;
            phase = P.SegHeader;
            if (hashAppended && verifySha256) {
              // The hasher only exists once hash_appended is known, i.e. after the header went by.
              sha = new Sha256();
              sha.update(hdr, 0, Img.HeaderSize);
            }
          } else if (phase === P.SegHeader) {
            dataLeft = u32le(hdr, 4);
            if (dataLeft % 4 !== 0 || dataLeft >= Img.MaxSegmentLen) throw otaError("IMG_SEGMENTS", "segment " + segIndex + " length 0x" + dataLeft.toString(16) + " invalid");
            segmentsLeft--;
            segIndex++;
            phase = P.SegData;
          } else {
            phase = P.Done;
          }
        } else if (phase === P.SegData) {
          n = dataLeft;
          if (n > end - i) n = end - i;
          if (sha) sha.update(data, i, n);
          x = xor;
          stop = i + n;
          j = i;
          for (; j < stop - 3; j += 4) x ^= data[j] ^ data[j + 1] ^ data[j + 2] ^ data[j + 3];
          for (; j < stop; j++) x ^= data[j];
          xor = x;
          i = stop;
          pos += n;
          dataLeft -= n;
        } else {
          // P.Padding: skip zero padding up to and including the checksum byte.
          n = checksumAt + 1 - pos;
          if (n > end - i) n = end - i;
          if (sha) sha.update(data, i, n);
          i += n;
          pos += n;
          if (pos === checksumAt + 1) {
            checksumOk = data[i - 1] === xor;
            phase = hashAppended ? P.Hash : P.Done;
          }
        }
      }
    },
    verify: function (): number {
      if (phase !== P.Done) throw otaError("IMG_TRUNCATED", "image ends at " + pos + " bytes, before its " + (phase === P.Hash ? "hash" : "checksum"));
      if (!checksumOk) throw otaError("IMG_CHECKSUM", "XOR checksum mismatch (computed 0x" + xor.toString(16) + ")");
      if (sha) {
        const d = sha.digest();
        sha = null;
        for (let k = 0; k < Img.HashLen; k++) if (d[k] !== hdr[k]) throw otaError("IMG_SHA256", "appended SHA-256 does not match");
      }
      return imageLength();
    },
  };
} as unknown as new (verifySha256: boolean) => ImageVerifier;
