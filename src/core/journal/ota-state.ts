// What the agent keeps in the journal about the update in progress, and its binary form.
//
// Enough to resume a download byte-exact after a power cut (offset + MD5 midstate of exactly
// those bytes), to finish or undo a slot switch (targetSlot, previousSlot, trial boot counters),
// and to stop a device from looping on an image that keeps failing verification
// (failedMd5Count survives the "failed" phase, keyed by md5). The download URL is NOT stored:
// URLs expire and can be long; after a reboot a fresh one is asked from the cloud.
//
// Payload layout (little-endian), at most 236 bytes = one journal record:
//   0 u8 layout (STATE_LAYOUT)   1 u8 phase      2 u8 flags (FLAG_*)   3 u8 zero
//   4 u16 attempts               6 u16 freshUrlRequests
//   8 u16 failedMd5Count        10 u16 bootCount
//  12 u32 size   16 u32 offset   20 u32 targetSlot   24 u32 previousSlot   28 u32 trialDeadline
//  32 md5 (16 bytes)            48 md5State (88 bytes)
// 136 version, taskId, fwType: each a u8 length then the bytes (length 0 when absent)
// Anything inconsistent on decode (unknown layout, offset > size, offset < size once verified,
// midstate not covering exactly `offset` bytes while downloading, stray bytes...) means "no
// usable state": decode returns null. encode refuses the same states, so a bug shows at once.

import { otaError } from "../errors";
import { readU16, readU32, writeU16, writeU32 } from "./record";
import { Journal } from "./journal";

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
  /** Download retries used for this update. */
  attempts: number;
  /** Times a fresh URL was asked from the cloud (403 / expiry). */
  freshUrlRequests: number;
  /** Times an image with this md5 failed verification; see md5Refused(). */
  failedMd5Count: number;
  /** Flash offset of the app slot running before the update (rollback target, 4096-aligned). */
  previousSlot: number;
  /** Boots of the new image while in "trial". */
  bootCount: number;
  /** Unix seconds after which an unconfirmed trial is rolled back (absent when the clock was unknown). */
  trialDeadline?: number;
  /** Cloud task id, echoed in progress reports (printable ASCII, <= 32 bytes). */
  taskId?: string;
  /** Cloud firmware type, echoed in progress reports (printable ASCII, <= 16 bytes). */
  fwType?: string;
}

/** After this many verification failures of the same md5 the agent refuses that image. */
export const MAX_MD5_FAILURES = 2;
export const MD5_STATE_SIZE = 88;
export const VERSION_MAX = 32;
export const TASK_ID_MAX = 32;
export const FW_TYPE_MAX = 16;
/** Images larger than any ESP32 flash chip are nonsense. */
export const SIZE_MAX = 16777216;

const STATE_LAYOUT = 1;
const FIXED_SIZE = 136;
const FLAG_TRIAL_DEADLINE = 1;
const FLAG_TASK_ID = 2;
const FLAG_FW_TYPE = 4;
// Append only: the index is what the journal stores.
const PHASES: OtaPhase[] = ["downloading", "verified", "switching", "trial", "failed", "confirmed", "rolledback"];
const HEX = "0123456789abcdef";

function isUint(v: unknown, max: number): boolean {
  return typeof v === "number" && v >= 0 && v <= max && v % 1 === 0;
}

function isSlot(v: unknown): boolean {
  return isUint(v, 4294967295) && (v as number) % 4096 === 0;
}

function isPrintable(s: unknown, min: number, max: number): boolean {
  if (typeof s !== "string" || s.length < min || s.length > max) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c > 126) return false;
  }
  return true;
}

function hexNibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function isMd5Hex(s: unknown): boolean {
  if (typeof s !== "string" || s.length !== 32) return false;
  for (let i = 0; i < 32; i++) if (hexNibble(s.charCodeAt(i)) < 0) return false;
  return true;
}

/** Number of bytes an ESP32 ROM MD5 context has consumed (bits[1]:bits[0] / 8). */
export function hashedBytes(st: Uint8Array): number {
  return readU32(st, 20) * 536870912 + readU32(st, 16) / 8;
}

/** Why `s` cannot be stored, or "" when it is consistent. Shared by encode and decode. */
function problem(s: OtaState): string {
  if (PHASES.indexOf(s.phase) < 0) return "phase";
  if (!isPrintable(s.version, 1, VERSION_MAX)) return "version";
  if (!isMd5Hex(s.md5)) return "md5";
  if (!isUint(s.size, SIZE_MAX) || s.size < 1) return "size";
  if (!isUint(s.offset, s.size)) return "offset";
  // Past "downloading" the whole image is in the slot.
  if (s.phase !== "downloading" && s.phase !== "failed" && s.offset !== s.size) return "offset";
  if (!isSlot(s.targetSlot) || !isSlot(s.previousSlot) || s.targetSlot === s.previousSlot) return "slots";
  if (!isUint(s.attempts, 65535) || !isUint(s.freshUrlRequests, 65535)) return "counters";
  if (!isUint(s.failedMd5Count, 65535) || !isUint(s.bootCount, 65535)) return "counters";
  if (!s.md5State || s.md5State.length !== MD5_STATE_SIZE) return "md5State size";
  // Resume continues hashing at `offset`: a midstate of any other length would give a wrong MD5.
  if (s.phase === "downloading" && hashedBytes(s.md5State) !== s.offset) return "md5State length";
  if (s.trialDeadline !== undefined && !isUint(s.trialDeadline, 4294967295)) return "trialDeadline";
  if (s.taskId !== undefined && !isPrintable(s.taskId, 0, TASK_ID_MAX)) return "taskId";
  if (s.fwType !== undefined && !isPrintable(s.fwType, 0, FW_TYPE_MAX)) return "fwType";
  return "";
}

function putString(b: Uint8Array, o: number, s: string | undefined): number {
  const n = s === undefined ? 0 : s.length;
  b[o] = n;
  for (let i = 0; i < n; i++) b[o + 1 + i] = (s as string).charCodeAt(i);
  return o + 1 + n;
}

function getString(b: Uint8Array, o: number, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCharCode(b[o + i]);
  return s;
}

/** Serialises a state into a journal payload. Throws JOURNAL_STATE when the state is inconsistent. */
export function encodeOtaState(s: OtaState): Uint8Array {
  const why = s ? problem(s) : "missing";
  if (why) throw otaError("JOURNAL_STATE", "cannot store state: bad " + why);
  const length = FIXED_SIZE + 3 + s.version.length + (s.taskId ? s.taskId.length : 0) + (s.fwType ? s.fwType.length : 0);
  const b = new Uint8Array(length);
  b[0] = STATE_LAYOUT;
  b[1] = PHASES.indexOf(s.phase);
  b[2] =
    (s.trialDeadline !== undefined ? FLAG_TRIAL_DEADLINE : 0) |
    (s.taskId !== undefined ? FLAG_TASK_ID : 0) |
    (s.fwType !== undefined ? FLAG_FW_TYPE : 0);
  writeU16(b, 4, s.attempts);
  writeU16(b, 6, s.freshUrlRequests);
  writeU16(b, 8, s.failedMd5Count);
  writeU16(b, 10, s.bootCount);
  writeU32(b, 12, s.size);
  writeU32(b, 16, s.offset);
  writeU32(b, 20, s.targetSlot);
  writeU32(b, 24, s.previousSlot);
  writeU32(b, 28, s.trialDeadline !== undefined ? s.trialDeadline : 0);
  for (let i = 0; i < 16; i++) {
    b[32 + i] = (hexNibble(s.md5.charCodeAt(2 * i)) << 4) | hexNibble(s.md5.charCodeAt(2 * i + 1));
  }
  b.set(s.md5State, 48);
  let o = putString(b, FIXED_SIZE, s.version);
  o = putString(b, o, s.taskId);
  putString(b, o, s.fwType);
  return b;
}

/** Parses a journal payload; null for anything that is not a consistent state. */
export function decodeOtaState(b: Uint8Array | null): OtaState | null {
  if (!b || b.length < FIXED_SIZE + 3 || b[0] !== STATE_LAYOUT || b[1] >= PHASES.length || b[3] !== 0) return null;
  const flags = b[2];
  if (flags & ~7) return null;
  let md5 = "";
  for (let i = 0; i < 16; i++) md5 += HEX.charAt(b[32 + i] >> 4) + HEX.charAt(b[32 + i] & 15);
  const s: OtaState = {
    phase: PHASES[b[1]],
    version: "",
    md5: md5,
    size: readU32(b, 12),
    targetSlot: readU32(b, 20),
    offset: readU32(b, 16),
    // a copy, and a typed one: on Espruino Uint8Array.slice returns a plain Array
    md5State: new Uint8Array(b.subarray(48, 136)),
    attempts: readU16(b, 4),
    freshUrlRequests: readU16(b, 6),
    failedMd5Count: readU16(b, 8),
    previousSlot: readU32(b, 24),
    bootCount: readU16(b, 10),
  };
  if (flags & FLAG_TRIAL_DEADLINE) s.trialDeadline = readU32(b, 28);
  else if (readU32(b, 28) !== 0) return null;
  // Three length-prefixed fields follow; an absent optional one must have length 0.
  let o = FIXED_SIZE;
  const lengths: number[] = [];
  for (let k = 0; k < 3; k++) {
    if (o >= b.length) return null;
    lengths.push(b[o]);
    o += 1 + b[o];
  }
  if (o !== b.length) return null;
  o = FIXED_SIZE;
  s.version = getString(b, o + 1, lengths[0]);
  o += 1 + lengths[0];
  if (flags & FLAG_TASK_ID) s.taskId = getString(b, o + 1, lengths[1]);
  else if (lengths[1]) return null;
  o += 1 + lengths[1];
  if (flags & FLAG_FW_TYPE) s.fwType = getString(b, o + 1, lengths[2]);
  else if (lengths[2]) return null;
  return problem(s) ? null : s;
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

/** True when an image with this md5 failed verification MAX_MD5_FAILURES times: do not download it again. */
export function md5Refused(s: OtaState | null, md5: string): boolean {
  return failuresOf(s, md5) >= MAX_MD5_FAILURES;
}

/** The journal's state, or null when it is empty, cleared or unreadable. */
export function loadOtaState(journal: Journal): OtaState | null {
  return decodeOtaState(journal.load());
}

/** Durably records `s` (throws JOURNAL_STATE if inconsistent, before touching flash). */
export function saveOtaState(journal: Journal, s: OtaState): void {
  journal.append(encodeOtaState(s));
}
