import { test } from "node:test";
import assert from "node:assert/strict";
import CRC32 from "crc-32";
import {
  RECORD_SIZE,
  BODY_SIZE,
  COMMIT_OFFSET,
  CRC_OFFSET,
  PAYLOAD_MAX,
  KIND_STATE,
  KIND_CLEAR,
  encodeRecordBody,
  commitBytes,
  decodeRecord,
  readU32,
  NOTE_SIZE,
  NOTE_DATA,
  NOTE_MAGIC,
  NOTES_PER_SLOT,
  encodeNote,
  decodeNote,
} from "../../src/core/journal/record";

/** A slot as flash would hold it: erased, then body and (optionally) commit programmed. */
function slotWith(body: Uint8Array, commit: Uint8Array | null): Uint8Array {
  const slot = new Uint8Array(RECORD_SIZE).fill(0xff);
  slot.set(body, 0);
  if (commit) slot.set(commit, COMMIT_OFFSET);
  return slot;
}

function payloadOf(n: number, seed: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 31 + seed) & 255;
  return p;
}

test("a committed record decodes to its sequence, kind and payload", () => {
  const payload = payloadOf(PAYLOAD_MAX, 7);
  const rec = decodeRecord(slotWith(encodeRecordBody(0x12345678, KIND_STATE, payload), commitBytes()));
  assert.ok(rec);
  assert.equal(rec.seq, 0x12345678);
  assert.equal(rec.kind, KIND_STATE);
  assert.deepEqual(rec.payload, payload);
});

test("an empty clear record decodes with an empty payload", () => {
  const rec = decodeRecord(slotWith(encodeRecordBody(3, KIND_CLEAR, new Uint8Array(0)), commitBytes()));
  assert.ok(rec);
  assert.equal(rec.kind, KIND_CLEAR);
  assert.equal(rec.payload.length, 0);
});

test("the layout is little-endian with the CRC of the standard CRC-32 over bytes 0..247", () => {
  const body = encodeRecordBody(0x01020304, KIND_STATE, Uint8Array.of(0xaa));
  assert.equal(body.length, BODY_SIZE);
  assert.deepEqual([...body.subarray(8, 12)], [4, 3, 2, 1]);
  assert.equal(body[6], 1); // payload length low byte
  // The crc-32 package (the host side's CRC-32), independent of src/core's, checks the stored value.
  assert.equal(readU32(body, CRC_OFFSET), CRC32.buf(body.subarray(0, CRC_OFFSET), 0) >>> 0);
});

test("a body without its commit word is not a record, nor is any prefix of the commit write", () => {
  const body = encodeRecordBody(9, KIND_STATE, payloadOf(40, 1));
  assert.equal(decodeRecord(slotWith(body, null)), null);
  const commit = commitBytes();
  for (let n = 0; n < 4; n++) {
    const slot = slotWith(body, null);
    slot.set(commit.subarray(0, n), COMMIT_OFFSET);
    assert.equal(decodeRecord(slot), null, "commit prefix of " + n + " bytes");
  }
});

test("every torn prefix of the body is rejected even when a commit word is present", () => {
  const body = encodeRecordBody(77, KIND_STATE, payloadOf(PAYLOAD_MAX, 3));
  for (let n = 0; n < BODY_SIZE; n++) {
    const slot = slotWith(new Uint8Array(0), commitBytes());
    slot.set(body.subarray(0, n), 0);
    assert.equal(decodeRecord(slot), null, "prefix " + n);
  }
});

test("any single flipped bit in the body is caught by the CRC", () => {
  const body = encodeRecordBody(5, KIND_STATE, payloadOf(100, 9));
  for (let bit = 0; bit < CRC_OFFSET * 8; bit += 13) {
    const slot = slotWith(body, commitBytes());
    slot[bit >> 3] ^= 1 << (bit & 7);
    assert.equal(decodeRecord(slot), null, "bit " + bit);
  }
});

test("an erased slot and an all-zero slot are not records", () => {
  assert.equal(decodeRecord(new Uint8Array(RECORD_SIZE).fill(0xff)), null);
  assert.equal(decodeRecord(new Uint8Array(RECORD_SIZE)), null);
});

test("a progress note is 32 bytes: magic OTAN, the record's sequence, 20 data bytes, CRC-32 of the first 28", () => {
  const data = payloadOf(NOTE_DATA, 3);
  const e = encodeNote(0x01020304, data);
  assert.equal(e.length, NOTE_SIZE);
  // golden bytes of the note format's first release (its CRC checked independently below)
  assert.equal(Buffer.from(e).toString("hex"), "4f54414e" + "04030201" + "032241607f9ebddcfb1a39587796b5d4f3123150" + "adf342d7");
  assert.equal(Buffer.from(e.subarray(0, 4)).toString("latin1"), "OTAN");
  assert.equal(readU32(e, 0), NOTE_MAGIC);
  assert.equal(readU32(e, 28), CRC32.buf(e.subarray(0, 28), 0) >>> 0);
  assert.deepEqual(decodeNote(e, 0x01020304), data);
});

test("a note is only read for its own record, and no prefix of its write reads as a note", () => {
  const e = encodeNote(77, payloadOf(NOTE_DATA, 9));
  assert.equal(decodeNote(e, 78), null, "another record's sequence");
  for (let n = 0; n < NOTE_SIZE; n++) {
    const torn = new Uint8Array(NOTE_SIZE).fill(0xff);
    torn.set(e.subarray(0, n));
    assert.equal(decodeNote(torn, 77), null, "prefix of " + n + " bytes");
  }
  assert.equal(decodeNote(new Uint8Array(NOTE_SIZE).fill(0xff), 0xffffffff), null, "erased flash");
  assert.equal(decodeNote(new Uint8Array(NOTE_SIZE), 0), null, "zeroed flash (a cut erase)");
  const flipped = new Uint8Array(e);
  flipped[12] ^= 1;
  assert.equal(decodeNote(flipped, 77), null, "a changed data bit");
  // a slot of notes is never taken for a record
  const slot = new Uint8Array(RECORD_SIZE).fill(0xff);
  for (let k = 0; k < NOTES_PER_SLOT; k++) slot.set(encodeNote(77, payloadOf(NOTE_DATA, k)), k * NOTE_SIZE);
  assert.equal(decodeRecord(slot), null);
});
