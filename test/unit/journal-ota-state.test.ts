import { test } from "node:test";
import assert from "node:assert/strict";
import {
  OtaState,
  encodeOtaState,
  saveOtaState,
  decodeOtaState,
  sameUpdate,
  md5Refused,
  failuresOf,
  MAX_MD5_FAILURES,
} from "../../src/core/journal/ota-state";
import { PAYLOAD_MAX } from "../../src/core/journal/record";

/** An 88-byte ROM-layout MD5 context that has consumed `bytes` bytes (bits = bytes * 8, LE). */
function midstate(bytes: number, seed = 1): Uint8Array {
  const st = new Uint8Array(88);
  for (let i = 0; i < 88; i++) st[i] = (i * 7 + seed) & 255;
  const bitsLo = (bytes * 8) % 4294967296;
  const bitsHi = Math.floor((bytes * 8) / 4294967296);
  new DataView(st.buffer).setUint32(16, bitsLo, true);
  new DataView(st.buffer).setUint32(20, bitsHi, true);
  return st;
}

function downloading(offset: number): OtaState {
  return {
    phase: "downloading",
    version: "2.1.0",
    md5: "0123456789abcdef0123456789abcdef",
    size: 1500000,
    targetSlot: 0x190000,
    offset,
    md5State: midstate(offset),
    attempts: 3,
    freshUrlRequests: 1,
    failedMd5Count: 0,
    previousSlot: 0x10000,
    bootCount: 0,
  };
}

function fullest(): OtaState {
  return {
    phase: "trial",
    version: "v".repeat(32),
    md5: "FFEEDDCCBBAA99887766554433221100",
    size: 16777216,
    targetSlot: 0x10000,
    offset: 16777216,
    md5State: midstate(5, 9),
    attempts: 65535,
    freshUrlRequests: 65535,
    failedMd5Count: 65535,
    previousSlot: 0x190000,
    bootCount: 65535,
    taskId: "t".repeat(32),
    fwType: "f".repeat(16),
  };
}

test("a downloading state round-trips exactly", () => {
  const s = downloading(65536 * 7);
  assert.deepEqual(decodeOtaState(encodeOtaState(s)), s);
});

test("the largest state fits one journal record and round-trips (md5 decoded lower-case)", () => {
  const s = fullest();
  const bytes = encodeOtaState(s);
  assert.ok(bytes.length <= PAYLOAD_MAX, bytes.length + " bytes");
  const back = decodeOtaState(bytes);
  assert.deepEqual(back, { ...s, md5: s.md5.toLowerCase() });
});

test("optional fields stay absent, and empty optional strings stay empty", () => {
  const s: OtaState = { ...downloading(0), taskId: "", fwType: "mcu" };
  const back = decodeOtaState(encodeOtaState(s));
  assert.ok(back);
  assert.equal(back.taskId, "");
  assert.equal(back.fwType, "mcu");
  assert.equal("trialDeadline" in back, false);
});

test("the URL is not part of the stored state", () => {
  const withUrl = { ...downloading(0), url: "https://example.com/fw.bin?sign=" + "x".repeat(300) } as OtaState;
  const back = decodeOtaState(encodeOtaState(withUrl));
  assert.ok(back);
  assert.equal("url" in back, false);
});

test("a downloading midstate must have hashed exactly `offset` bytes, by the ROM context's 64-bit bit counter", () => {
  for (const offset of [0, 1500000]) {
    const s = { ...downloading(offset), md5State: midstate(offset) };
    assert.deepEqual(decodeOtaState(encodeOtaState(s)), s, "offset " + offset);
  }
  // Same low word of the bit count as 1500000 bytes, plus 2^32 bits (2^29 bytes) in the high word.
  const high = midstate(1500000 + 536870912);
  assert.deepEqual([...high.subarray(16, 20)], [...midstate(1500000).subarray(16, 20)]);
  assert.throws(() => encodeOtaState({ ...downloading(1500000), md5State: high }), { code: "JOURNAL_STATE" });
});

test("encode refuses inconsistent states with JOURNAL_STATE", () => {
  const bad: Array<[string, Partial<OtaState>]> = [
    ["offset beyond size", { offset: 1500001, md5State: midstate(1500001) }],
    ["midstate of other length", { offset: 4096, md5State: midstate(4000) }],
    ["short midstate", { md5State: new Uint8Array(87) }],
    ["md5 not hex", { md5: "0123456789abcdef0123456789abcdeg" }],
    ["md5 short", { md5: "0123" }],
    ["version empty", { version: "" }],
    ["version too long", { version: "x".repeat(33) }],
    ["version not printable", { version: "1.0\n" }],
    ["unknown phase", { phase: "done" as OtaState["phase"] }],
    ["same slot", { previousSlot: 0x190000 }],
    ["unaligned slot", { targetSlot: 0x190001 }],
    ["zero size", { size: 0, offset: 0, md5State: midstate(0) }],
    ["fractional counter", { attempts: 1.5 }],
    ["negative counter", { bootCount: -1 }],
    ["task id too long", { taskId: "t".repeat(33) }],
    ["verified but incomplete", { phase: "verified" }],
  ];
  for (const [why, patch] of bad) {
    assert.throws(() => encodeOtaState({ ...downloading(0), ...patch } as OtaState), { code: "JOURNAL_STATE" }, why);
  }
});

test("decode treats malformed or inconsistent payloads as no state", () => {
  const good = encodeOtaState({ ...downloading(8192), taskId: "42" });
  assert.ok(decodeOtaState(good));
  const mutate = (f: (b: Uint8Array) => void): Uint8Array => {
    const b = good.slice();
    f(b);
    return b;
  };
  assert.equal(decodeOtaState(null), null);
  assert.equal(decodeOtaState(new Uint8Array(0)), null);
  assert.equal(decodeOtaState(good.subarray(0, good.length - 1)), null, "truncated");
  assert.equal(decodeOtaState(Uint8Array.from([...good, 0])), null, "trailing byte");
  assert.equal(decodeOtaState(mutate((b) => (b[0] = 2))), null, "layout");
  assert.equal(decodeOtaState(mutate((b) => (b[1] = 5))), null, "phase");
  assert.equal(decodeOtaState(mutate((b) => (b[2] |= 16))), null, "unknown flag");
  assert.equal(decodeOtaState(mutate((b) => (b[2] &= ~2))), null, "task id bytes without flag");
  assert.equal(decodeOtaState(mutate((b) => new DataView(b.buffer).setUint32(16, 1500001, true))), null, "offset > size");
  assert.equal(decodeOtaState(mutate((b) => new DataView(b.buffer).setUint32(16, 4096, true))), null, "offset vs midstate");
  assert.equal(decodeOtaState(mutate((b) => new DataView(b.buffer).setUint32(28, 5, true))), null, "reserved bytes (the old trial deadline) not zero");
  assert.equal(decodeOtaState(mutate((b) => (b[2] |= 1))), null, "old trial-deadline flag");
  assert.equal(decodeOtaState(mutate((b) => (b[136] = 40))), null, "version length overruns");
  assert.equal(decodeOtaState(mutate((b) => (b[137] = 7))), null, "control char in version");
});

test("sameUpdate requires version, md5 (any case) and size to match", () => {
  const s = downloading(0);
  assert.equal(sameUpdate(s, "2.1.0", "0123456789ABCDEF0123456789ABCDEF", 1500000), true);
  assert.equal(sameUpdate(s, "2.1.1", s.md5, 1500000), false);
  assert.equal(sameUpdate(s, "2.1.0", "f" + s.md5.slice(1), 1500000), false);
  assert.equal(sameUpdate(s, "2.1.0", s.md5, 1500001), false);
  assert.equal(sameUpdate(null, "2.1.0", s.md5, 1500000), false);
});

test("an md5 that failed verification twice is refused, another md5 is not", () => {
  const failedOnce: OtaState = { ...downloading(0), phase: "failed", failedMd5Count: 1 };
  assert.equal(md5Refused(failedOnce, failedOnce.md5), false);
  assert.equal(failuresOf(failedOnce, failedOnce.md5.toUpperCase()), 1);
  const failedTwice = decodeOtaState(encodeOtaState({ ...failedOnce, failedMd5Count: MAX_MD5_FAILURES }));
  assert.ok(failedTwice);
  assert.equal(md5Refused(failedTwice, failedTwice.md5.toUpperCase()), true);
  assert.equal(md5Refused(failedTwice, "ffffffffffffffffffffffffffffffff"), false);
  assert.equal(failuresOf(failedTwice, "ffffffffffffffffffffffffffffffff"), 0);
  assert.equal(md5Refused(null, failedTwice.md5), false);
});

/** The 20-byte progress note saveOtaState hands the journal for a checkpoint of `s`. */
function noteOf(s: OtaState): Uint8Array {
  let note: Uint8Array | undefined;
  saveOtaState({ append: (_p: Uint8Array, n?: Uint8Array) => (note = n) }, s, true);
  assert.ok(note, "a note for offset " + s.offset);
  return note;
}

test("a progress note is the offset and the 16 chaining bytes; applied, it gives the checkpoint's state", () => {
  const at = downloading(8192);
  const later = { ...at, offset: 12288, md5State: midstate(12288, 5) };
  const note = noteOf(later);
  assert.equal(note.length, 20);
  assert.equal(new DataView(note.buffer).getUint32(0, true), 12288);
  assert.deepEqual(note.subarray(4), later.md5State.subarray(0, 16));
  const got = decodeOtaState(encodeOtaState(at), note)!;
  assert.equal(got.offset, 12288);
  assert.deepEqual(got.md5State.subarray(0, 16), later.md5State.subarray(0, 16), "chaining words from the note");
  assert.equal(new DataView(got.md5State.buffer).getUint32(16, true), 12288 * 8, "bit count from the offset");
  assert.deepEqual(got.md5State.subarray(24), at.md5State.subarray(24), "the input buffer (no pending bytes) is the record's");
  assert.deepEqual({ ...got, md5State: null }, { ...later, md5State: null });
});

test("a progress save writes no note where the MD5 has pending input or the phase is not downloading", () => {
  for (const s of [downloading(8200), { ...downloading(1500000), phase: "verified" as const }]) {
    let note: Uint8Array | undefined = new Uint8Array(0);
    saveOtaState({ append: (_p: Uint8Array, n?: Uint8Array) => (note = n) }, s, true);
    assert.equal(note, undefined);
  }
  // without `progress` never a note
  let note: Uint8Array | undefined = new Uint8Array(0);
  saveOtaState({ append: (_p: Uint8Array, n?: Uint8Array) => (note = n) }, downloading(8192));
  assert.equal(note, undefined);
});

test("a note that does not fit the state record is ignored: the record's own checkpoint is used", () => {
  const at = downloading(8192);
  const payload = encodeOtaState(at);
  const good = noteOf({ ...at, offset: 12288, md5State: midstate(12288) });
  const bad = (offset: number) => {
    const n = new Uint8Array(good);
    new DataView(n.buffer).setUint32(0, offset, true);
    return n;
  };
  assert.deepEqual(decodeOtaState(payload, bad(12300)), at, "offset not a multiple of 64");
  assert.deepEqual(decodeOtaState(payload, bad(at.size + 64)), at, "offset past the image");
  assert.deepEqual(decodeOtaState(payload, good.subarray(0, 3)), at, "too short");
  const verified = { ...downloading(1500000), phase: "verified" as const };
  assert.deepEqual(decodeOtaState(encodeOtaState(verified), good), verified, "not downloading");
  assert.equal(decodeOtaState(payload.subarray(1), good), null, "a bad record stays no state");
});
