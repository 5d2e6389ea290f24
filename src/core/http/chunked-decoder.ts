// Incremental decoder for Transfer-Encoding: chunked. Socket reads split the stream
// anywhere (inside a size line, between CR and LF), so the decoder keeps a partial line
// across calls. Chunk data is passed on as substrings of the input, never byte by byte.
import { otaError } from "../errors";

/** feed() results. */
export const CHUNKS_MORE = 0;
export const CHUNKS_END = 1;
export const CHUNKS_STOPPED = 2;

// A size line is hex digits plus optional extensions; nothing honest comes close to this.
const MAX_LINE = 1024;

function parseChunkSize(line: string): number {
  let end = line.indexOf(";");
  if (end < 0) end = line.length;
  while (end > 0 && (line.charAt(end - 1) === " " || line.charAt(end - 1) === "\t")) end--;
  // 7 hex digits = up to 256 MB per chunk: far beyond any firmware, safe for 32-bit math
  if (end < 1 || end > 7) return -1;
  for (let i = 0; i < end; i++) {
    const c = line.charCodeAt(i);
    const hex = (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
    if (!hex) return -1;
  }
  return parseInt(line.substring(0, end), 16);
}

export class ChunkedDecoder {
  /** Data bytes still to come in the current chunk. */
  private left = 0;
  /** True between a chunk's data and the CRLF that must follow it. */
  private needCrlf = false;
  private line = "";

  /**
   * Decodes `s`, calling `out` with each run of chunk data. `out` returns false to stop
   * (the rest of `s` is then dropped). Returns CHUNKS_END at the last (zero-size) chunk,
   * CHUNKS_STOPPED when `out` stopped it, else CHUNKS_MORE. Throws otaError("HTTP_PROTOCOL")
   * on malformed framing.
   */
  feed(s: string, out: (piece: string) => boolean): number {
    let pos = 0;
    const n = s.length;
    while (pos < n) {
      if (this.left > 0) {
        let take = n - pos;
        if (take > this.left) take = this.left;
        const piece = take === n ? s : s.substring(pos, pos + take);
        pos += take;
        this.left -= take;
        if (this.left === 0) this.needCrlf = true;
        if (!out(piece)) return CHUNKS_STOPPED;
        continue;
      }
      const nl = s.indexOf("\n", pos);
      if (nl < 0) {
        this.line += s.substring(pos);
        if (this.line.length > MAX_LINE) throw otaError("HTTP_PROTOCOL", "chunk size line too long");
        return CHUNKS_MORE;
      }
      let text = this.line + s.substring(pos, nl);
      this.line = "";
      pos = nl + 1;
      if (text.length > MAX_LINE) throw otaError("HTTP_PROTOCOL", "chunk size line too long");
      if (text.charAt(text.length - 1) === "\r") text = text.substring(0, text.length - 1);
      if (this.needCrlf) {
        if (text !== "") throw otaError("HTTP_PROTOCOL", "chunk data longer than its size");
        this.needCrlf = false;
        continue;
      }
      const size = parseChunkSize(text);
      if (size < 0) throw otaError("HTTP_PROTOCOL", "bad chunk size '" + text.substring(0, 20) + "'");
      if (size === 0) return CHUNKS_END;
      this.left = size;
    }
    return CHUNKS_MORE;
  }
}
