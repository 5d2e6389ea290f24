// Host side of signed updates: writes and reads the trailer that src/core/sign/verify.ts
// checks on the board, with node:crypto (an independent implementation of the same format).
import { createHash, createHmac, randomBytes } from "node:crypto";
import { chmodSync, openSync, closeSync, readFileSync, writeSync } from "node:fs";
import { SIGN_TRAILER } from "../../core/sign/verify";

export { SIGN_TRAILER };
export const SIGN_MAGIC = "ESIG";
export const SIGN_FORMAT = 1;
export const KEY_BYTES = 32;
export const VERSION_FIELD = 32;
export type SignKind = "firmware" | "app";
export const KIND_CODES: Record<SignKind, number> = { firmware: 0, app: 1 };

export class SignError extends Error {}

export interface TrailerFields {
  kind: number;
  version: string;
  imageSize: number;
  /** Format byte; 1 unless a test wants another. */
  format?: number;
}

/** The 48 bytes the tag covers ahead of MD5(image): magic, format, kind, version, image size (layout: src/core/sign/verify.ts). */
export function trailerHead(f: TrailerFields): Buffer {
  if (!/^[\x21-\x7e]{1,32}$/.test(f.version)) throw new SignError(`version must be 1..${VERSION_FIELD} printable ASCII characters without spaces, got "${f.version}"`);
  const h = Buffer.alloc(48);
  h.write(SIGN_MAGIC, 0, "latin1");
  h[4] = f.format ?? SIGN_FORMAT;
  h[5] = f.kind;
  h.write(f.version, 8, "latin1");
  h.writeUInt32LE(f.imageSize >>> 0, 40);
  return h;
}

export function tagOf(key: Uint8Array, head: Uint8Array, imageMd5: Uint8Array): Buffer {
  return createHmac("sha256", key).update(head).update(imageMd5).digest();
}

/** The trailer for `image` (fields may be overridden to build hostile files). */
export function makeTrailer(key: Uint8Array, image: Uint8Array, o: { kind: number; version: string; imageSize?: number; format?: number }): Buffer {
  const head = trailerHead({ kind: o.kind, version: o.version, imageSize: o.imageSize ?? image.length, format: o.format });
  return Buffer.concat([head, tagOf(key, head, createHash("md5").update(image).digest())]);
}

/** image | trailer. */
export function signImage(key: Uint8Array, image: Uint8Array, version: string, kind: SignKind = "firmware"): Buffer {
  checkKey(key);
  return Buffer.concat([image, makeTrailer(key, image, { kind: KIND_CODES[kind], version })]);
}

export interface SignedInfo {
  signed: boolean;
  /** The image without the trailer (the whole file when unsigned). */
  image: Uint8Array;
  kind?: SignKind | number;
  version?: string;
  format?: number;
  /** When a key was given: whether the tag is right for it. */
  tagValid?: boolean;
}

/** Reads a file's trailer, if it has one (no key: the tag is not checked). */
export function readSigned(file: Uint8Array, key?: Uint8Array): SignedInfo {
  const t = file.length - SIGN_TRAILER;
  if (t < 0 || Buffer.from(file.subarray(t, t + 4)).toString("latin1") !== SIGN_MAGIC) return { signed: false, image: file };
  const tr = Buffer.from(file.subarray(t));
  const imageSize = tr.readUInt32LE(40);
  if (imageSize !== t) return { signed: false, image: file };
  const code = tr[5];
  const kind = (Object.keys(KIND_CODES) as SignKind[]).find((k) => KIND_CODES[k] === code) ?? code;
  const version = tr.subarray(8, 40).toString("latin1").replace(/\0+$/, "");
  const image = file.subarray(0, t);
  const out: SignedInfo = { signed: true, image, kind, version, format: tr[4] };
  if (key) out.tagValid = tagOf(key, tr.subarray(0, 48), createHash("md5").update(image).digest()).equals(tr.subarray(48, 80));
  return out;
}

export function checkKey(key: Uint8Array): void {
  if (key.length !== KEY_BYTES) throw new SignError(`a signing key is ${KEY_BYTES} bytes; this one has ${key.length} (make one with \`npm run keygen -- FILE\`)`);
}

/** Reads a key file written by writeKeyFile (base64 text) . */
export function readKeyFile(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, "latin1").trim();
  } catch (e) {
    throw new SignError(`cannot read the key file ${path}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
  }
  if (!/^[A-Za-z0-9+/]{43}=$/.test(text)) throw new SignError(`${path} is not a signing key file (one line of base64, ${KEY_BYTES} bytes, as \`npm run keygen\` writes)`);
  const key = Buffer.from(text, "base64");
  checkKey(key);
  return key;
}

/** Writes a new random key as one base64 line, mode 0600; refuses to overwrite. */
export function writeKeyFile(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SignError(code === "EEXIST" ? `${path} exists; a key is never overwritten (remove it yourself if you mean to)` : `cannot create ${path}: ${code ?? "error"}`);
  }
  try {
    writeSync(fd, randomBytes(KEY_BYTES).toString("base64") + "\n");
  } finally {
    closeSync(fd);
  }
  chmodSync(path, 0o600);
}
