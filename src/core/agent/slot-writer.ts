// Streams downloaded bytes into the target app slot, one 4 KB sector at a time:
// erase the sector just ahead of the data (never the whole slot up front), program it,
// read it back and feed the MD5 with what the flash actually holds. The MD5 therefore
// verifies the stored image, not the stream, and a power cut can never leave a
// "verified" prefix that differs from flash.
import type { BytesPort, FlashPort, Md5 } from "../ports";
import { SIGN_TRAILER } from "../sign/verify";

export const SECTOR = 4096;
/** Bytes read back from flash at a time to hash what it holds. */
const READ_BACK = 512;

export class SlotWriter {
  /** Bytes of the image that are programmed, read back and hashed (always a multiple of 4096 until the end). */
  written: number;
  private buf: Uint8Array;
  private fill = 0;
  // sign: the MD5 state at the image's end (file size - SIGN_TRAILER), and the resume point
  // [offset, state] at the start of the sector holding that end (see resumePoint).
  imageMd5: Uint8Array | null = null;
  private hold: [number, Uint8Array] | null = null;

  /**
   * @param flash    the guarded flash (only the target slot is writable through it for this stream)
   * @param slot     offset of the target slot
   * @param size     total image size
   * @param written  resume point: bytes already durable (a multiple of 4096)
   * @param beforeFirstProgram  sees the first sector's bytes before anything is erased, and may throw to refuse the image
   */
  constructor(
    private flash: FlashPort,
    private bytes: BytesPort,
    private md5: Md5,
    private slot: number,
    private size: number,
    written: number,
    private beforeFirstProgram?: (first: Uint8Array) => void,
  ) {
    this.written = written;
    this.buf = new Uint8Array(SECTOR);
  }

  /** Offset of the next byte the writer expects from the network. */
  get position(): number {
    return this.written + this.fill;
  }

  /** Appends a binary-string chunk; programs every full sector. Returns false when the chunk would pass the image end. */
  append(chunk: string): boolean {
    let i = 0;
    const n = chunk.length;
    if (this.position + n > this.size) return false;
    while (i < n) {
      const take = Math.min(SECTOR - this.fill, n - i);
      this.bytes.copyString(i === 0 && take === n ? chunk : chunk.substring(i, i + take), this.buf, this.fill);
      this.fill += take;
      i += take;
      if (this.fill === SECTOR) this.program();
    }
    if (this.position === this.size && this.fill > 0) this.program();
    return true;
  }

  /** The MD5 midstate over exactly the `written` bytes (journal it together with `written`). */
  md5State(): Uint8Array {
    return this.md5.saveState();
  }

  /**
   * What to journal: [offset, MD5 midstate]. sign: never past the sector holding the image's
   * end, so a resume after a power cut hashes that sector again and finds imageMd5 again.
   */
  resumePoint(): [number, Uint8Array] {
    return this.hold || [this.written, this.md5.saveState()];
  }

  private program(): void {
    const at = this.slot + this.written;
    const len = this.fill;
    if (this.written === 0 && this.beforeFirstProgram) this.beforeFirstProgram(this.buf.subarray(0, len));
    this.flash.eraseSector(at);
    this.flash.write(at, len === SECTOR ? this.buf : this.buf.subarray(0, len));
    const cut = this.size - SIGN_TRAILER - this.written; // sign: the image ends in this sector
    if (cut >= 0 && cut < len) this.hold = [this.written, this.md5.saveState()];
    // Read back and hash in pieces: a whole sector read would allocate another 4 KB (about
    // 300 JsVars on an ESP32) on top of the sector buffer at the agent's peak.
    for (let o = 0; o < len; o += READ_BACK) {
      const n = len - o < READ_BACK ? len - o : READ_BACK;
      const back = this.flash.read(at + o, n);
      if (cut >= o && cut < o + n) {
        this.md5.update(back, 0, cut - o);
        this.imageMd5 = this.md5.saveState();
        this.md5.update(back, cut - o, n - (cut - o));
      } else this.md5.update(back, 0, n);
    }
    this.written += len;
    this.fill = 0;
  }
}
