// What the agent keeps in the journal about the update in progress, and its binary form.
//
// Enough to resume a download byte-exact after a power cut (offset + MD5 midstate of exactly
// those bytes), to finish or undo a slot switch (targetSlot, previousSlot, trial boot counters),
// and to stop a device from looping on an image that keeps failing verification
// (failedMd5Count survives the "failed" phase, keyed by md5). The download URL is NOT stored:
// URLs expire and can be long; after a reboot a fresh one is asked from the cloud.
//
// Payload layout (little-endian), at most 236 bytes = one journal record:
//   0 u8 layout (1)               1 u8 phase (index in PHASES)
//   2 u8 flags (2: taskId present, 4: fwType present, 8: an application update; 1 was a trial
//          deadline, never set)
//   3 u8 why an application's trial ended in a rollback (APP_WHY), else 0
//   4 u16 attempts               6 u16 freshUrlRequests
//   8 u16 failedMd5Count        10 u16 bootCount
//  12 u32 size   16 u32 offset   20 u32 targetSlot   24 u32 previousSlot   28 u32 reserved, zero
//     (an application update's slots are Storage's app files 0 and 1, not flash offsets)
//  32 md5 (16 bytes)            48 md5State (88 bytes)
// 136 version, taskId, fwType: each a u8 length then the bytes (length 0 when absent)
//
// Progress note (journal.ts, record.ts): while downloading, a checkpoint at a 64-byte multiple
// (the agent's are every 3 KiB, and at sector boundaries) changes only the offset and the MD5 midstate, and
// there the midstate has no pending input: its bit count is offset * 8 and its 64-byte input
// buffer is never read again. So saveOtaState(journal, s, true) first hands the journal a 20-byte
// note (u32 offset, then the 16-byte chaining state buf[0..3]) alone, and only when it has no
// entry left encodes the whole payload and appends that; loadOtaState applies the journal's
// newest note to the state record it amends. A note
// that does not fit the state (not downloading, offset past the size or not a multiple of 64) is
// ignored: the record itself, an earlier checkpoint, is used.
// Anything inconsistent on load (unknown layout, offset > size, offset < size once verified,
// midstate not covering exactly `offset` bytes while downloading, stray bytes...) means "no
// usable state": loadOtaState returns null. saveOtaState refuses the same states, so a bug shows at
// once; loadOtaState checks a payload by saving what it decoded (without a journal) and comparing
// the bytes, so the two can never disagree on what a valid payload is.
//
// Memory (Espruino): two functions do all of the coding; the constants are a const enum (inlined,
// nothing in RAM) and the phase names one string literal inside the code.

import { otaError } from "../errors";
import { u32le, putU32le } from "../le";
import { toHex } from "../crypto/hex";

export type OtaPhase = "downloading" | "verified" | "switching" | "trial" | "failed" | "confirmed" | "rolledback";

export interface OtaState {
  /**
   * downloading: bytes [0, offset) of the image are durably in targetSlot, md5State hashes them.
   * verified: the whole image is written and its MD5 matched; the slot is not switched yet.
   * switching: the boot slot is being changed to targetSlot (redo or check the switch at boot).
   * trial: running the new image on probation; bootCount boots so far, rollback to previousSlot.
   * failed: the update failed; kept so failedMd5Count for this md5 survives reboots.
   * confirmed: the new image proved healthy; "done" is sent until acknowledged, then the journal is cleared.
   * rolledback: the trial image was judged unhealthy and otadata is (being) pointed back at previousSlot.
   */
  phase: OtaPhase;
  /** Firmware version of the update, printable ASCII, 1..32 bytes. */
  version: string;
  /** Expected MD5 of the whole image, 32 hex digits (stored binary, decoded lower-case). */
  md5: string;
  /** Image size in bytes, 1..16 MiB. */
  size: number;
  /** Flash offset of the app slot being written (4096-aligned). */
  targetSlot: number;
  /** Bytes durably written to targetSlot, 0..size. */
  offset: number;
  /** ROM-layout MD5 midstate (88 bytes) of exactly the first `offset` image bytes. */
  md5State: Uint8Array;
  /** Failed requests for this update, kept across reboots; the fail -1 report states it. */
  attempts: number;
  /** Times a fresh URL was asked from the cloud (403 / expiry). */
  freshUrlRequests: number;
  /** Times an image with this md5 failed verification; see md5Refused(). */
  failedMd5Count: number;
  /** Flash offset of the app slot running before the update (rollback target, 4096-aligned). */
  previousSlot: number;
  /** Boots of the new image while in "trial". */
  bootCount: number;
  /** Cloud task id, echoed in progress reports (printable ASCII, <= 32 bytes). */
  taskId?: string;
  /** Cloud firmware type, echoed in progress reports (printable ASCII, <= 16 bytes). */
  fwType?: string;
  /** An update of the application (docs/app-ota.md): targetSlot and previousSlot are app file numbers, 0 or 1. */
  app?: boolean;
  /** Why the application's trial ended in a rollback (1..255, see the agent's APP_WHY). */
  why?: number;
}

// Append only: the index is what the journal stores.
const enum Phase {
  Names = "downloading verified switching trial failed confirmed rolledback",
}

const enum S {
  Layout = 1,
  Fixed = 136,
  MaxMd5Failures = 2,
}

/** After this many verification failures of the same md5 the agent refuses that image. */
export const MAX_MD5_FAILURES = S.MaxMd5Failures;

/** Something with the journal's load() and the note it found: a Journal, or a fixed payload (decodeOtaState). */
interface PayloadSource {
  load(): Uint8Array | null;
  note?: Uint8Array | null;
}

/** Something with the journal's append(): a Journal. */
interface PayloadSink {
  append(payload?: Uint8Array, note?: Uint8Array): boolean;
}

/**
 * Durably records `s` in the journal and returns its payload; with a null journal it only encodes.
 * Throws JOURNAL_STATE when the state is inconsistent, before touching flash. `progress`: the
 * caller promises that only offset and md5State changed since the last save, so a progress note
 * may stand for the whole state (see above).
 */
export function saveOtaState(journal: PayloadSink | null, s: OtaState, progress?: boolean): Uint8Array | null {
  // A progress note alone when the journal has an entry for it: then nothing else is encoded or
  // checked (the record it amends was, and only offset and midstate changed), which keeps the
  // download's sector notes cheap in memory. Null is returned then. The midstate must cover
  // exactly `offset` bytes (`covers`, which the full path checks too); anything else takes the full path.
  // Resume continues hashing at `offset`: a midstate of any other length would give a wrong MD5.
  // (The ROM context counts bits in bits[1]:bits[0], little-endian words at 16 and 20.)
  let note: Uint8Array | undefined;
  const m = s && s.md5State;
  const covers = !!m && m.length === 88 && u32le(m, 20) * 536870912 + u32le(m, 16) / 8 === s.offset;
  if (progress && covers && s.phase === "downloading" && s.offset % 64 === 0 && s.offset <= s.size) {
    note = new Uint8Array(20);
    putU32le(note, 0, s.offset);
    note.set(m.subarray(0, 16), 4);
    if (journal && journal.append(undefined, note)) return null;
  }
  let why = s ? "" : "missing";
  const phase = s ? Phase.Names.split(" ").indexOf(s.phase) : -1;
  // In payload order: three strings (1..32, 0..32, 0..16 printable ASCII bytes; the last two optional),
  // four u16 counters, then size (1..16 MiB), offset (0..size), targetSlot, previousSlot (sector-aligned).
  const text = s ? [s.version, s.taskId, s.fwType] : [];
  const nums = s ? [s.attempts, s.freshUrlRequests, s.failedMd5Count, s.bootCount, s.size, s.offset, s.targetSlot, s.previousSlot] : [];
  let length: number = S.Fixed + 3;
  let i: number;
  if (!why && phase < 0) why = "phase";
  for (i = 0; i < 3 && !why; i++) {
    const t = text[i];
    if (t === undefined && i) continue;
    let ok = typeof t === "string" && t.length >= (i ? 0 : 1) && t.length <= (i === 2 ? 16 : 32);
    for (let k = 0; ok && k < (t as string).length; k++) {
      const c = (t as string).charCodeAt(k);
      ok = c >= 32 && c <= 126;
    }
    if (ok) length += (t as string).length;
    else why = i === 0 ? "version" : i === 1 ? "taskId" : "fwType";
  }
  const md5 = new Uint8Array(16);
  if (!why) {
    // parseInt accepts junk ("0x", " 1", "1g"), so the digest must print back as the same hex.
    for (i = 0; i < 16 && typeof s.md5 === "string"; i++) md5[i] = parseInt(s.md5.substr(2 * i, 2), 16);
    if (typeof s.md5 !== "string" || s.md5.length !== 32 || toHex(md5) !== s.md5.toLowerCase()) why = "md5";
  }
  for (i = 0; i < 8 && !why; i++) {
    const v = nums[i] as number;
    const max = i < 4 ? 65535 : i === 4 ? 16777216 : i === 5 ? s.size : 4294967295;
    if (!(typeof v === "number" && v % 1 === 0 && v >= (i === 4 ? 1 : 0) && v <= max && (i < 6 || (s.app ? v < 2 : v % 4096 === 0)))) {
      why = i < 4 ? "counters" : i === 4 ? "size" : i === 5 ? "offset" : "slots";
    }
  }
  if (why) {
    // reported as before: nothing more to check
  } else if (s.phase !== "downloading" && s.phase !== "failed" && s.offset !== s.size) {
    why = "offset"; // past "downloading" the whole image is in the slot
  } else if (s.targetSlot === s.previousSlot) {
    why = "slots";
  } else if (!s.md5State || s.md5State.length !== 88) {
    why = "md5State size";
  } else if (s.phase === "downloading" && !covers) {
    why = "md5State length";
  } else if (s.why !== undefined && !(s.why > 0 && s.why < 256 && s.why % 1 === 0)) {
    why = "why";
  }
  if (why) throw otaError("JOURNAL_STATE", "cannot store state: bad " + why);
  const b = new Uint8Array(length);
  b[0] = S.Layout;
  b[1] = phase;
  b[2] = (s.taskId !== undefined ? 2 : 0) | (s.fwType !== undefined ? 4 : 0) | (s.app ? 8 : 0);
  b[3] = s.why || 0;
  for (i = 0; i < 4; i++) {
    b[4 + 2 * i] = nums[i] & 255;
    b[5 + 2 * i] = (nums[i] as number) >> 8;
  }
  for (i = 4; i < 8; i++) putU32le(b, 12 + 4 * (i - 4), nums[i] as number);
  b.set(md5, 32);
  b.set(s.md5State, 48);
  let o: number = S.Fixed;
  for (i = 0; i < 3; i++) {
    const t = text[i] || "";
    b[o++] = t.length;
    for (let k = 0; k < t.length; k++) b[o++] = t.charCodeAt(k);
  }
  if (journal) journal.append(b, note);
  return b;
}

/** The journal's state, or null when it is empty, cleared or unreadable (anything inconsistent). */
export function loadOtaState(journal: PayloadSource): OtaState | null {
  const b = journal.load();
  if (!b || b.length < S.Fixed + 3) return null;
  const s: OtaState = {
    phase: Phase.Names.split(" ")[b[1]] as OtaPhase,
    version: "",
    md5: toHex(b.subarray(32, 48)),
    size: u32le(b, 12),
    targetSlot: u32le(b, 20),
    offset: u32le(b, 16),
    // a copy, and a typed one: on Espruino Uint8Array.slice returns a plain Array
    md5State: new Uint8Array(b.subarray(48, 136)),
    attempts: b[4] | (b[5] << 8),
    freshUrlRequests: b[6] | (b[7] << 8),
    failedMd5Count: b[8] | (b[9] << 8),
    previousSlot: u32le(b, 24),
    bootCount: b[10] | (b[11] << 8),
  };
  if (b[2] & 8) s.app = true;
  if (b[3]) s.why = b[3];
  // Three length-prefixed strings; taskId and fwType only when their flag is set.
  let o: number = S.Fixed;
  for (let k = 0; k < 3 && o < b.length; k++) {
    const end = o + 1 + b[o];
    let t = "";
    while (++o < end && o < b.length) t += String.fromCharCode(b[o]);
    if (k === 0) s.version = t;
    else if (k === 1 && b[2] & 2) s.taskId = t;
    else if (k === 2 && b[2] & 4) s.fwType = t;
  }
  // Valid exactly when saving it gives back the same bytes: layout, flags, the reserved bytes,
  // absent strings of length 0, no stray bytes, and every consistency rule of saveOtaState.
  let again: Uint8Array;
  try {
    again = saveOtaState(null, s)!;
  } catch (e) {
    return null;
  }
  if (again.length !== b.length) return null;
  for (o = 0; o < b.length; o++) if (again[o] !== b[o]) return null;
  const n = journal.note;
  const at = n && n.length === 20 ? u32le(n, 0) : -1; // -1: no note to apply
  if (at % 64 === 0 && at <= s.size && s.phase === "downloading") {
    const m = new Uint8Array(s.md5State);
    m.set(n!.subarray(4, 20), 0);
    putU32le(m, 16, at * 8); // bits[0]; bits[1] stays 0: 16 MiB is 2^27 bits
    s.offset = at;
    s.md5State = m;
  }
  return s;
}

/** Serialises a state into a journal payload (tests and host tools; the agent calls saveOtaState). */
export function encodeOtaState(s: OtaState): Uint8Array {
  return saveOtaState(null, s)!;
}

/** Parses a journal payload, amended by a progress note if given; null for anything that is not a consistent state (tests and host tools). */
export function decodeOtaState(b: Uint8Array | null, note?: Uint8Array | null): OtaState | null {
  return loadOtaState({ load: () => b, note: note });
}

/**
 * True when `s` belongs to the update (version, md5, size): only then may its offset and midstate
 * be resumed. A different update must start over, never continue a stale image.
 */
export function sameUpdate(s: OtaState | null, version: string, md5: string, size: number): boolean {
  return !!s && typeof md5 === "string" && s.version === version && s.md5 === md5.toLowerCase() && s.size === size;
}

/** Verification failures already counted against this md5 (carried into a new attempt at the same image). */
export function failuresOf(s: OtaState | null, md5: string): number {
  return s && typeof md5 === "string" && s.md5 === md5.toLowerCase() ? s.failedMd5Count : 0;
}

/**
 * True when an image with this md5 failed verification MAX_MD5_FAILURES times: do not download it
 * again. failuresOf's test written out: the job checks every message with this, while failuresOf
 * is only needed at a job's start (the formats module).
 */
export function md5Refused(s: OtaState | null, md5: string): boolean {
  return !!s && typeof md5 === "string" && s.md5 === md5.toLowerCase() && s.failedMd5Count >= S.MaxMd5Failures;
}
