// Streams downloaded bytes into the target app slot as they arrive: erase a sector when the
// stream enters it (never the whole slot up front), program the received bytes at once, read
// them back and feed the MD5 with what the flash actually holds. The MD5 therefore verifies the
// stored image, not the stream, and a power cut can never leave a "verified" prefix that differs
// from flash.
//
// Memory (Espruino): no sector buffer. One 320-byte buffer (~25 JsVars on an ESP32; 512 bytes
// were ~38, a 4 KB one ~300) holds what is received but not programmed yet: at most 3 bytes
// between chunks (flash writes stay 4-byte aligned in address and length), and before the first
// program the image header the preflight needs (288 bytes, the floor for its size). Writes are at
// most 320 bytes each, read-backs 128.
//
// Resume points: every RESUME_BYTES (3 KiB) of the image, where the MD5 has no pending input (a
// multiple of 64), so the journal can keep such a point as a small progress note
// (src/core/journal). `resumePoint` is the last one reached, with the MD5 state taken exactly
// there; the agent looks at it after each chunk and journals a new 3 KiB point from a 0 ms
// timer, so that no chunk, request or writer frame is in memory beside the journal write. A resume at a sector boundary erases that sector as the stream enters it; one inside a
// sector does not: the sector was erased when the stream first entered it, the bytes before the
// point are verified, and those after it are programmed again with the same data, which NOR
// accepts (programming only clears bits, so bytes a power cut left half programmed are
// completed, and the read-back and the image MD5 check what the flash holds). 3 KiB rather than
// a sector: a cut costs at most 3 KiB refetched (issue 12's target of 1.01 refetched with a cut
// every 256 KiB of a 1.5 MiB image), for ~341 notes per MiB, 2.8 journal erases per MiB.
//
// The state lives in the constructor's closure; the instance carries only what the download and
// the agent read (position, imageMd5, resumePoint, append). append is the only function besides
// the constructor: the resume point is a property, and programming is written out inside append.
import type { BytesPort, FlashPort, Md5 } from "../ports";
import { SIGN_TRAILER } from "../sign/verify";

const enum W {
  Sector = 4096,
  /** Distance between resume points; a multiple of 64 (the MD5 block) and of 4 (flash writes). */
  Resume = 3072,
  /** Received bytes held before programming; also the largest write. */
  Buf = 320,
  /** The largest read-back (a multiple of 64, the MD5 block, and of 4). */
  Back = 128,
  /** The preflight reads the first IMAGE_PREFLIGHT_BYTES (src/core/esp32/app-image.ts) of the image. */
  Header = 0x120,
}

/** Distance between resume points in the image (W.Resume). */
export const RESUME_BYTES = W.Resume;

export interface SlotWriter {
  /** Offset of the next byte the writer expects from the network (programmed or held). */
  position: number;
  /** sign: the MD5 state at the image's end (file size - SIGN_TRAILER), once the stream passed it. */
  imageMd5: Uint8Array | null;
  /** Appends a binary-string chunk and programs what it can. Returns false when the chunk would pass the image end. */
  append(chunk: string): boolean;
  /**
   * What to journal: [offset, MD5 midstate of exactly `offset` bytes], the last resume point or
   * sector boundary reached (a new array each time it moves on). sign: never past the sector
   * holding the image's end, so a resume after a power cut hashes that sector again and finds
   * imageMd5 again.
   */
  resumePoint: [number, Uint8Array];
}

/**
 * `SlotWriter(flash, bytes, md5, slot, size, written, beforeFirstProgram?)`, a
 * factory, called without `new` (see Download).
 * @param flash    the guarded flash (only the target slot is writable through it for this stream)
 * @param slot     offset of the target slot
 * @param size     total image size
 * @param written  resume point: bytes already durable (a multiple of RESUME_BYTES); `md5` hashed exactly those
 * @param beforeFirstProgram  sees the image's first bytes (0x120 of them, or the whole image if shorter) before anything is erased, and may throw to refuse the image
 */
export const SlotWriter = function (
  flash: FlashPort,
  bytes: BytesPort,
  md5: Md5,
  slot: number,
  size: number,
  written: number,
  beforeFirstProgram?: (first: Uint8Array) => void,
): SlotWriter {
  const self = {} as SlotWriter;
  const buf = new Uint8Array(W.Buf);
  /** Received bytes in `buf` not programmed yet. */
  let fill = 0;
  const cut = size - SIGN_TRAILER; // sign: where the image ends and the trailer starts
  self.position = written;
  self.imageMd5 = null;

  self.resumePoint = [written, md5.saveState()];

  self.append = function (chunk: string): boolean {
    const n = chunk.length;
    let i = 0;
    if (written + fill + n > size) return false;
    while (i < n) {
      let take = W.Buf - fill;
      if (take > n - i) take = n - i;
      bytes.copyString(i === 0 && take === n ? chunk : chunk.substring(i, i + take), buf, fill);
      fill += take;
      i += take;
      // Nothing is programmed before the preflight has seen the header.
      if (!(written > 0 || fill >= W.Header || written + fill === size)) continue;
      // Program the buffered bytes: all of them at the image end (the last word padded with
      // 0xFF, which programs nothing), else the whole words, one write per sector touched. The
      // rest (< 4 bytes) moves to the front of the buffer. Written out here rather than as a
      // helper: a function costs JsVars on the board, code does not.
      const last = written + fill === size;
      const len = last ? fill : fill - (fill % 4);
      let p = 0;
      if (written === 0 && beforeFirstProgram) beforeFirstProgram(buf.subarray(0, fill));
      while (p < len) {
        const at = written;
        // one write per sector touched, ending at resume points too
        let m = W.Sector - (at % W.Sector);
        const r = W.Resume - (at % W.Resume);
        if (m > r) m = r;
        if (m > len - p) m = len - p;
        if (at % W.Sector === 0) flash.eraseSector(slot + at);
        let w = m;
        while (w % 4) buf[p + w++] = 255;
        flash.write(slot + at, buf.subarray(p, p + w));
        // read back and hashed in pieces of at most W.Back bytes, each let go once hashed, not
        // when the next one replaces it: a read-back is in memory at the update's peak (inside
        // the socket's data event), 320 bytes were ~24 JsVars on the ESP32 format, 128 are ~10
        for (let q = 0; q < m; q += W.Back) {
          const k = m - q < W.Back ? m - q : W.Back;
          let back: Uint8Array | null = flash.read(slot + at + q, k);
          const c = cut - at - q;
          if (c >= 0 && c < k) {
            md5.update(back, 0, c);
            self.imageMd5 = md5.saveState();
            md5.update(back, c, k - c);
          } else md5.update(back, 0, k);
          back = null;
        }
        written = at + m;
        p += m;
        // A resume point unless the sector holding the image end was entered (sign; an image
        // shorter than the trailer, refused anyway, resumes from 0): every RESUME_BYTES, each
        // sector boundary and the end. The agent notes the 3 KiB ones as they come and journals
        // the writer's point when a request ends; spans end on sector boundaries, so a cut in
        // the next span never costs more than that span.
        if ((written % W.Resume === 0 || written % W.Sector === 0 || last) && written <= cut - (cut % W.Sector)) self.resumePoint = [written, md5.saveState()];
      }
      for (let k = 0; p + k < fill; k++) buf[k] = buf[p + k];
      fill -= p;
    }
    self.position = written + fill;
    return true;
  };
  return self;
};
