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
//
// A progress note: a 32-byte entry that amends the newest state record with a few bytes, so that
// frequent small updates (the download's offset and MD5 chaining state every 3 KiB) do
// not cost a 256-byte record each. Notes fill the slots after their state record, 8 per slot,
// in the same journal sector only (journal.ts):
//
//   +0   u32 magic            NOTE_MAGIC ("OTAN"; a slot of notes is never a record: other magic)
//   +4   u32 sequence         of the state record it amends
//   +8   20 bytes of note data (what they mean is the payload owner's business: ota-state.ts)
//   +28  u32 CRC-32 of bytes [0, 28)
//
// A note is one flash write. A cut leaves a prefix of it, which fails the CRC (the CRC is the
// last word written), so the previous note, or the state record itself, stays the newest.
// Journals written before notes existed simply have none; code that predates them never looks at
// a slot whose magic is not RECORD_MAGIC, so it reads the state record and resumes from there.
//
// Memory (Espruino): the layout is a const enum, so the numbers are inlined into the code and no
// constant lives in RAM. The named exports and the coders below are for tests and host tools: the
// journal (journal.ts) builds and checks the same bytes inline, so the device bundle carries none
// of them (each function costs JsVars on the board). The tests decode what the journal wrote with
// them, so the two cannot drift apart unnoticed.

import { crc32Update } from "../esp32/crc32";
import { u32le as readU32, putU32le as writeU32 } from "../le";

export const enum Rec {
  Size = 256,
  Magic = 0x4a41544f, // "OTAJ" in flash byte order
  Format = 1,
  Header = 12,
  Crc = 248,
  Commit = 252,
  PayloadMax = 236, // Crc - Header
  // Mixed bits in every byte, so neither an erased (0xFF) nor a zeroed word passes.
  CommitWord = 0x5ac33ca5,
  /** The record holds a state payload. */
  State = 1,
  /** The journal was cleared: load() reports "no state". */
  Clear = 2,
  NoteSize = 32,
  NoteMagic = 0x4e41544f, // "OTAN" in flash byte order
  NoteData = 20,
  NoteCrc = 28,
  NotesPerSlot = 8,
}

export const RECORD_SIZE = Rec.Size;
export const RECORD_MAGIC = Rec.Magic;
export const RECORD_FORMAT = Rec.Format;
export const HEADER_SIZE = Rec.Header;
export const CRC_OFFSET = Rec.Crc;
export const COMMIT_OFFSET = Rec.Commit;
export const BODY_SIZE = Rec.Commit;
export const PAYLOAD_MAX = Rec.PayloadMax;
export const COMMIT_WORD = Rec.CommitWord;
export const KIND_STATE = Rec.State;
export const KIND_CLEAR = Rec.Clear;
export const NOTE_SIZE = Rec.NoteSize;
export const NOTE_MAGIC = Rec.NoteMagic;
export const NOTE_DATA = Rec.NoteData;
export const NOTES_PER_SLOT = Rec.NotesPerSlot;

export { readU32, writeU32 };

export interface DecodedRecord {
  /** Format version; a record of another format still counts for ordering but its payload is not readable. */
  format: number;
  kind: number;
  length: number;
  seq: number;
  payload: Uint8Array;
}

/**
 * Builds the record body (bytes 0..251: header, payload, padding, CRC).
 * The commit word is not part of it: the caller programs COMMIT_WORD at +252 afterwards.
 */
export function encodeRecordBody(seq: number, kind: number, payload: Uint8Array): Uint8Array {
  const body = new Uint8Array(Rec.Commit);
  writeU32(body, 0, Rec.Magic);
  body[4] = Rec.Format;
  body[5] = kind;
  body[6] = payload.length & 255;
  body[7] = payload.length >> 8;
  writeU32(body, 8, seq);
  body.set(payload, Rec.Header);
  writeU32(body, Rec.Crc, crc32Update(0, body, 0, Rec.Crc));
  return body;
}

/** The commit word as the 4 bytes to program at +252. */
export function commitBytes(): Uint8Array {
  const b = new Uint8Array(4);
  writeU32(b, 0, Rec.CommitWord);
  return b;
}

/** Decodes a whole 256-byte slot; null unless magic, commit word and CRC are all intact. */
export function decodeRecord(slot: Uint8Array): DecodedRecord | null {
  if (slot.length < Rec.Size || readU32(slot, 0) !== Rec.Magic || readU32(slot, Rec.Commit) !== Rec.CommitWord) return null;
  if (crc32Update(0, slot, 0, Rec.Crc) >>> 0 !== readU32(slot, Rec.Crc)) return null;
  const length = slot[6] | (slot[7] << 8);
  // A CRC-valid record of an unknown format keeps its place in the order but yields no payload.
  const readable = slot[4] === Rec.Format && length <= Rec.PayloadMax;
  return {
    format: slot[4],
    kind: slot[5],
    length: length,
    seq: readU32(slot, 8),
    // a typed copy: on Espruino Uint8Array.slice returns a plain Array
    payload: readable ? new Uint8Array(slot.subarray(Rec.Header, Rec.Header + length)) : new Uint8Array(0),
  };
}

/** A whole note entry for the state record `seq`. */
export function encodeNote(seq: number, data: Uint8Array): Uint8Array {
  const e = new Uint8Array(Rec.NoteSize);
  writeU32(e, 0, Rec.NoteMagic);
  writeU32(e, 4, seq);
  e.set(data.subarray(0, Rec.NoteData), 8);
  writeU32(e, Rec.NoteCrc, crc32Update(0, e, 0, Rec.NoteCrc));
  return e;
}

/** The note data of a 32-byte entry amending record `seq`; null unless magic, sequence and CRC hold. */
export function decodeNote(entry: Uint8Array, seq: number): Uint8Array | null {
  if (entry.length < Rec.NoteSize || readU32(entry, 0) !== Rec.NoteMagic || readU32(entry, 4) !== seq) return null;
  if (crc32Update(0, entry, 0, Rec.NoteCrc) >>> 0 !== readU32(entry, Rec.NoteCrc)) return null;
  return new Uint8Array(entry.subarray(8, 8 + Rec.NoteData));
}
