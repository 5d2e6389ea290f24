// One journal record: a fixed 256-byte slot in raw NOR flash.
//
//   +0   u32 magic            RECORD_MAGIC
//   +4   u8  format version   RECORD_FORMAT
//   +5   u8  kind             KIND_STATE | KIND_CLEAR
//   +6   u16 payload length   <= PAYLOAD_MAX
//   +8   u32 sequence         strictly increasing across the whole journal
//   +12  payload, then zero padding up to +248
//   +248 u32 CRC-32 of bytes [0, 248)
//   +252 u32 commit word      COMMIT_WORD, programmed by a second, later write
//
// The body (bytes 0..251) and the commit word are two separate flash writes, body first.
// A power cut can leave any prefix of either write applied, so a slot is only a record
// when magic, CRC and commit word are all intact: a torn body fails the CRC, and a body
// that landed whole but whose commit never did still reads 0xFF (or a prefix) there.
// All integers are little-endian, written with byte math (no DataView alignment worries).

import { crc32Update } from "../esp32/crc32";
import { u16le as readU16, u32le as readU32, putU16le as writeU16, putU32le as writeU32 } from "../le";

export const RECORD_SIZE = 256;
export const RECORD_MAGIC = 0x4a41544f; // "OTAJ" in flash byte order
export const RECORD_FORMAT = 1;
export const HEADER_SIZE = 12;
export const CRC_OFFSET = 248;
export const COMMIT_OFFSET = 252;
export const BODY_SIZE = COMMIT_OFFSET;
export const PAYLOAD_MAX = CRC_OFFSET - HEADER_SIZE; // 236
// Mixed bits in every byte, so neither an erased (0xFF) nor a zeroed word passes.
export const COMMIT_WORD = 0x5ac33ca5;

/** The record holds a state payload. */
export const KIND_STATE = 1;
/** The journal was cleared: load() reports "no state". */
export const KIND_CLEAR = 2;

export { readU16, readU32, writeU16, writeU32 };

/** What a valid slot says about itself (cheap part: read before paying for the CRC). */
export interface RecordHeader {
  /** Format version; a record of another format still counts for ordering but its payload is not readable. */
  format: number;
  kind: number;
  length: number;
  seq: number;
}

export interface DecodedRecord extends RecordHeader {
  payload: Uint8Array;
}

/**
 * Builds the record body (bytes 0..251: header, payload, padding, CRC).
 * The commit word is not part of it: the caller programs COMMIT_WORD at +252 afterwards.
 */
export function encodeRecordBody(seq: number, kind: number, payload: Uint8Array): Uint8Array {
  const body = new Uint8Array(BODY_SIZE);
  writeU32(body, 0, RECORD_MAGIC);
  body[4] = RECORD_FORMAT;
  body[5] = kind;
  writeU16(body, 6, payload.length);
  writeU32(body, 8, seq);
  body.set(payload, HEADER_SIZE);
  writeU32(body, CRC_OFFSET, crc32Update(0, body, 0, CRC_OFFSET));
  return body;
}

/** The commit word as the 4 bytes to program at +252. */
export function commitBytes(): Uint8Array {
  const b = new Uint8Array(4);
  writeU32(b, 0, COMMIT_WORD);
  return b;
}

/**
 * Header of a slot whose magic and commit word are intact, else null. `head` is at least the first
 * HEADER_SIZE bytes of the slot, `commit` the 4 bytes at +252. This does NOT check the CRC.
 */
export function candidateHeader(head: Uint8Array, commit: Uint8Array): RecordHeader | null {
  if (readU32(head, 0) !== RECORD_MAGIC || readU32(commit, 0) !== COMMIT_WORD) return null;
  return { format: head[4], kind: head[5], length: readU16(head, 6), seq: readU32(head, 8) };
}

/** Decodes a whole 256-byte slot; null unless magic, commit word and CRC are all intact. */
export function decodeRecord(slot: Uint8Array): DecodedRecord | null {
  if (slot.length < RECORD_SIZE) return null;
  const h = candidateHeader(slot, slot.subarray(COMMIT_OFFSET, RECORD_SIZE));
  if (!h) return null;
  if (crc32Update(0, slot, 0, CRC_OFFSET) >>> 0 !== readU32(slot, CRC_OFFSET)) return null;
  // A CRC-valid record of an unknown format keeps its place in the order but yields no payload.
  const readable = h.format === RECORD_FORMAT && h.length <= PAYLOAD_MAX;
  return {
    format: h.format,
    kind: h.kind,
    length: h.length,
    seq: h.seq,
    // a typed copy: on Espruino Uint8Array.slice returns a plain Array
    payload: readable ? new Uint8Array(slot.subarray(HEADER_SIZE, HEADER_SIZE + h.length)) : new Uint8Array(0),
  };
}

/** True when every byte is 0xFF, i.e. the range can be programmed. */
export function isErased(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 255) return false;
  return true;
}
