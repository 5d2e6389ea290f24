// ESP app image checks (docs/esp32-formats.md#app-image): a preflight on the first 0x120 bytes before any
// flash is erased, and a streaming verifier that repeats what esp_image_verify and the
// bootloader check at every boot (segment walk, XOR checksum, appended SHA-256).

import { FlashPort } from "../ports";
import { otaError } from "../errors";
import { u16le, u32le, cString, hex32 } from "./bytes";
import { Sha256 } from "../crypto/sha256";

export const IMAGE_MAGIC = 0xe9;
export const APP_DESC_MAGIC = 0xabcd5432;
export const IMAGE_HEADER_SIZE = 24;
export const SEGMENT_HEADER_SIZE = 8;
export const APP_DESC_OFFSET = 0x20;
/** Image header + first segment header + the 256-byte esp_app_desc_t. */
export const IMAGE_PREFLIGHT_BYTES = 0x120;
export const MAX_SEGMENTS = 16;
const MAX_SEGMENT_LEN = 0x1000000;
const CHECKSUM_SEED = 0xef;
const HASH_LEN = 32;

/** esp_image_header_t.chip_id values (docs/esp32-formats.md#image-header). */
export const CHIP_ID_ESP32 = 0x0000;
export const CHIP_ID_ESP32S2 = 0x0002;
export const CHIP_ID_ESP32C3 = 0x0005;
export const CHIP_ID_ESP32S3 = 0x0009;

export function chipIdOf(chip: string): number {
  if (chip === "esp32") return CHIP_ID_ESP32;
  if (chip === "esp32s2") return CHIP_ID_ESP32S2;
  if (chip === "esp32c3") return CHIP_ID_ESP32C3;
  if (chip === "esp32s3") return CHIP_ID_ESP32S3;
  return -1;
}

export interface ImageInfo {
  version: string;
  projectName: string;
  secureVersion: number;
  segmentCount: number;
  hashAppended: boolean;
}

function checkSegmentLength(len: number, index: number): void {
  if (len % 4 !== 0 || len >= MAX_SEGMENT_LEN) throw otaError("IMG_SEGMENTS", "segment " + index + " length " + hex32(len) + " invalid");
}

function readDescriptor(b: Uint8Array): ImageInfo {
  return {
    version: cString(b, APP_DESC_OFFSET + 0x10, 32),
    projectName: cString(b, APP_DESC_OFFSET + 0x30, 32),
    secureVersion: u32le(b, APP_DESC_OFFSET + 4),
    segmentCount: b[1],
    hashAppended: b[23] === 1,
  };
}

/**
 * Refuses an image that cannot work on this device from its first IMAGE_PREFLIGHT_BYTES
 * bytes and its announced size, before anything is erased. Each defect has its own code.
 */
export function preflightImage(first: Uint8Array, chipId: number, slotSize: number, imageSize: number, projectName: string | null): ImageInfo {
  if (imageSize > slotSize) throw otaError("IMG_TOO_BIG", "image " + imageSize + " bytes, slot " + slotSize);
  if (first.length === 0) throw otaError("IMG_TRUNCATED", "no image bytes");
  if (first[0] !== IMAGE_MAGIC) throw otaError("IMG_MAGIC", "first byte " + hex32(first[0]) + ", expected 0xe9");
  if (first.length < IMAGE_PREFLIGHT_BYTES || imageSize < IMAGE_PREFLIGHT_BYTES) {
    throw otaError("IMG_TRUNCATED", "need " + IMAGE_PREFLIGHT_BYTES + " bytes, have " + Math.min(first.length, imageSize));
  }
  // esptool only ever writes 0 or 1; anything else is not an image we understand.
  if (first[23] > 1) throw otaError("IMG_MAGIC", "hash_appended byte " + first[23]);
  const chip = u16le(first, 12);
  if (chip !== chipId) throw otaError("IMG_CHIP", "image for chip id " + chip + ", device is " + chipId);
  const count = first[1];
  if (count < 1 || count > MAX_SEGMENTS) throw otaError("IMG_SEGMENTS", "segment count " + count);
  checkSegmentLength(u32le(first, IMAGE_HEADER_SIZE + 4), 0);
  if (u32le(first, APP_DESC_OFFSET) !== APP_DESC_MAGIC) throw otaError("IMG_DESC_MAGIC", "app descriptor magic " + hex32(u32le(first, APP_DESC_OFFSET)));
  const info = readDescriptor(first);
  if (projectName !== null && info.projectName !== projectName) {
    throw otaError("IMG_PROJECT", "image is for project '" + info.projectName + "', expected '" + projectName + "'");
  }
  return info;
}

/** The app descriptor of the image in a slot, or null when the slot holds no app image. */
export function readAppDescriptor(flash: FlashPort, slotOffset: number): { version: string; projectName: string } | null {
  const b = flash.read(slotOffset, IMAGE_PREFLIGHT_BYTES);
  if (b[0] !== IMAGE_MAGIC || b[1] < 1 || b[1] > MAX_SEGMENTS || u32le(b, APP_DESC_OFFSET) !== APP_DESC_MAGIC) return null;
  const info = readDescriptor(b);
  return { version: info.version, projectName: info.projectName };
}

const P_HEADER = 0;
const P_SEG_HEADER = 1;
const P_SEG_DATA = 2;
const P_PADDING = 3;
const P_HASH = 4;
const P_DONE = 5;

/**
 * Streaming image check. Feed the image in order, in chunks of any size; structural
 * errors (bad header, bad segment length) throw from feed() at once so a download can
 * stop early; checksum and hash are judged by verify() at the end.
 */
export class ImageVerifier {
  private phase = P_HEADER;
  /** Bytes of the current header being collected (image header, segment header, hash). */
  private hdr = new Uint8Array(IMAGE_HEADER_SIZE + HASH_LEN);
  private hdrLen = 0;
  private pos = 0;
  private segmentsLeft = 0;
  private segIndex = 0;
  private dataLeft = 0;
  private xor = CHECKSUM_SEED;
  private checksumOk = false;
  /** Offset of the checksum byte, known once the last segment has been walked. */
  private checksumAt = -1;
  private hashAppended = false;
  private sha: Sha256 | null = null;
  private verifySha: boolean;

  constructor(verifySha256: boolean) {
    this.verifySha = verifySha256;
  }

  /** Total image length (header to checksum, plus the hash if appended) once known, else -1. */
  imageLength(): number {
    return this.checksumAt < 0 ? -1 : this.checksumAt + 1 + (this.hashAppended ? HASH_LEN : 0);
  }

  /** Collects header bytes into this.hdr; returns bytes consumed. */
  private collect(data: Uint8Array, off: number, end: number, need: number): number {
    let n = need - this.hdrLen;
    if (n > end - off) n = end - off;
    this.hdr.set(data.subarray(off, off + n), this.hdrLen);
    this.hdrLen += n;
    return n;
  }

  private startHeader(): void {
    const h = this.hdr;
    if (h[0] !== IMAGE_MAGIC) throw otaError("IMG_MAGIC", "first byte " + hex32(h[0]));
    if (h[1] < 1 || h[1] > MAX_SEGMENTS) throw otaError("IMG_SEGMENTS", "segment count " + h[1]);
    this.segmentsLeft = h[1];
    this.hashAppended = h[23] === 1;
    if (this.hashAppended && this.verifySha) this.sha = new Sha256();
    this.phase = P_SEG_HEADER;
  }

  private segmentsDone(): void {
    // Zero padding so the checksum is the last byte of a 16-byte block (docs/esp32-formats.md#segments-and-checksum).
    this.checksumAt = ((this.pos + 16) & ~15) - 1;
    this.phase = P_PADDING;
  }

  feed(data: Uint8Array, off: number, len: number): void {
    const end = off + len;
    let i = off;
    // Declared once here: Espruino creates a var only when its declaration runs, and ES5
    // output would otherwise share one var between the branches below.
    let n = 0;
    while (i < end && this.phase !== P_DONE) {
      const phase = this.phase;
      if (phase === P_HEADER || phase === P_SEG_HEADER || phase === P_HASH) {
        const need = phase === P_HEADER ? IMAGE_HEADER_SIZE : phase === P_SEG_HEADER ? SEGMENT_HEADER_SIZE : HASH_LEN;
        n = this.collect(data, i, end, need);
        if (phase !== P_HASH && this.sha) this.sha.update(data, i, n);
        i += n;
        this.pos += n;
        if (this.hdrLen < need) break;
        this.hdrLen = 0;
        if (phase === P_HEADER) {
          this.startHeader();
          // The hasher only exists once hash_appended is known, i.e. after the header went by.
          if (this.sha) this.sha.update(this.hdr, 0, IMAGE_HEADER_SIZE);
        } else if (phase === P_SEG_HEADER) {
          this.dataLeft = u32le(this.hdr, 4);
          checkSegmentLength(this.dataLeft, this.segIndex);
          this.segmentsLeft--;
          this.segIndex++;
          this.phase = P_SEG_DATA;
          if (this.dataLeft === 0) this.endSegment();
        } else {
          this.phase = P_DONE;
        }
      } else if (phase === P_SEG_DATA) {
        n = this.dataLeft;
        if (n > end - i) n = end - i;
        if (this.sha) this.sha.update(data, i, n);
        let x = this.xor;
        const stop = i + n;
        const stop4 = stop - 3;
        let j = i;
        for (; j < stop4; j += 4) x ^= data[j] ^ data[j + 1] ^ data[j + 2] ^ data[j + 3];
        for (; j < stop; j++) x ^= data[j];
        this.xor = x;
        i = stop;
        this.pos += n;
        this.dataLeft -= n;
        if (this.dataLeft === 0) this.endSegment();
      } else {
        // P_PADDING: skip zero padding up to and including the checksum byte.
        n = this.checksumAt + 1 - this.pos;
        if (n > end - i) n = end - i;
        if (this.sha) this.sha.update(data, i, n);
        i += n;
        this.pos += n;
        if (this.pos === this.checksumAt + 1) {
          this.checksumOk = data[i - 1] === this.xor;
          this.phase = this.hashAppended ? P_HASH : P_DONE;
        }
      }
    }
  }

  private endSegment(): void {
    if (this.segmentsLeft > 0) this.phase = P_SEG_HEADER;
    else this.segmentsDone();
  }

  /** Throws IMG_TRUNCATED, IMG_CHECKSUM or IMG_SHA256; returns the image length when the image is sound. */
  verify(): number {
    if (this.phase !== P_DONE) throw otaError("IMG_TRUNCATED", "image ends at " + this.pos + " bytes, before its " + (this.phase === P_HASH ? "hash" : "checksum"));
    if (!this.checksumOk) throw otaError("IMG_CHECKSUM", "XOR checksum mismatch (computed " + hex32(this.xor) + ")");
    if (this.sha) {
      const d = this.sha.digest();
      this.sha = null;
      for (let k = 0; k < HASH_LEN; k++) if (d[k] !== this.hdr[k]) throw otaError("IMG_SHA256", "appended SHA-256 does not match");
    }
    return this.imageLength();
  }
}
