// One update's download: Range requests of board.download.spanBytes from the current
// position, each answered only by a 206 whose Content-Range matches (range-request.ts),
// streamed through the SlotWriter (erase ahead, program, read back, hash). A request that
// breaks keeps every byte it delivered; the next one continues at the exact byte. After a
// span that ended cleanly the next request goes out on the same socket when the server kept
// it open (keep-alive), so the link does not idle through a new connection per span.
//
// Memory (Espruino): the state lives in the constructor's closure (short local names after
// minification) and the instance carries only what the agent reads (url, active, check, the two
// methods) and the fetch sink's two callbacks: the download is its requests' sink, made once,
// not per span. All four are one function told apart by its argument (each function costs
// JsVars on the board), and the constructor is a plain function, not a class (whose ES5 form
// adds a wrapper function and a scope level to every closure).
import type { BoardConfig } from "../board";
import type { BytesPort, ClockPort, NetPort } from "../ports";
import { ImageVerifier } from "../esp32/app-image";
import { Conn, fetchRange, RangeHandle, RangeResult, RangeSink } from "../http/range-request";
import { errorText } from "../errors";
import { SlotWriter } from "./slot-writer";

export type SpanOutcome =
  /** The request ended with the position advanced; fetch the next span. */
  | { kind: "progress" }
  /** Every byte of the image is in flash and hashed. */
  | { kind: "complete" }
  /** Transient failure: back off and try again (`progressed`: some bytes arrived first). */
  | { kind: "retry"; reason: string; progressed: boolean; retryAfterMs?: number }
  /** The server's file changed or it answered a resume with the whole file: start again from 0. */
  | { kind: "restart"; reason: string }
  | { kind: "url-expired" }
  | { kind: "not-found" }
  /** The image itself is unacceptable (preflight) or the response cannot be used at all. */
  | { kind: "rejected"; reason: string };

/** What the agent reads; onData and onDone are for fetchRange (the download is its own sink). */
export interface Download extends RangeSink {
  /** The firmware URL; the agent puts a freshly signed one here after a 403. */
  url: string;
  /** Whether a request is in flight. */
  active: boolean;
  /** Requests the next span from the writer's position; `done` is called once with how it ended. */
  requestSpan(done: (o: SpanOutcome) => void): void;
  /** Abandons the request in flight, if any (no callback follows). */
  abort(): void;
  /**
   * Boards with image.verifySha256: the image check, fed each chunk as it arrives so it is done
   * when the last byte is; null when this boot did not see every byte from 0 in order (resumed
   * from the journal, or a chunk it could not take): image-check.ts then reads the slot back.
   */
  check: ImageVerifier | null;
}

/**
 * `Download(ports, board, writer, size, url, onBytes)`: onBytes(position) follows every chunk
 * written. A factory, called without `new`: on Espruino `new` gives a function a prototype
 * object, and its instance a link to it, that Espruino keeps for as long as the job runs.
 */
export const Download = function (
  ports: { net: NetPort; clock: ClockPort; bytes: BytesPort },
  board: BoardConfig,
  writer: SlotWriter,
  size: number,
  url: string,
  onBytes: (position: number) => void,
): Download {
  const self = {} as Download;
  self.url = url;
  // the closure below keeps this scope: don't let it hold on to a URL the agent replaced
  url = "";
  self.active = false;
  // __IMAGE_SHA256__ is fixed at build time: boards without the check carry none of this
  self.check = __IMAGE_SHA256__ && writer.position === 0 ? new ImageVerifier(true) : null;
  /** Strong ETag / Last-Modified of the file, sent as If-Range so a changed file cannot be merged. */
  let validator: string | undefined;
  let handle: RangeHandle | null = null;
  /** The socket the last span left open, for the next span (only between two spans). */
  let conn: Conn | null = null;
  /** The server answers Range with the whole (same) file: read on from within that body. */
  let wholeFile = false;
  /** The span in flight: where it started and whom to tell. */
  let start = 0;
  let done: ((o: SpanOutcome) => void) | null = null;
  const d = board.download;

  /**
   * requestSpan(cb) (a function), abort() (no argument), and fetchRange's onData(chunk) (a
   * string) and onDone(result) (an object).
   */
  function on(x?: ((o: SpanOutcome) => void) | string | RangeResult): void {
    if (typeof x === "string") {
      // a chunk of the span in flight
      if (!writer.append(x)) throw new Error("server sent bytes past the end of the image");
      if (__IMAGE_SHA256__ && self.check) {
        // the MD5 (of what flash reads back) proves these are the bytes in the slot
        try {
          const b = new Uint8Array(x.length);
          ports.bytes.copyString(x, b, 0);
          self.check.feed(b, 0, b.length);
        } catch (e) {
          // a structural error: the read-back check at the end reports it as before
          self.check = null;
        }
      }
      onBytes(writer.position);
      return;
    }
    if (x === undefined) {
      // abort
      if (handle) {
        handle.abort();
        handle = null;
      }
      if (conn && conn.s) conn.s.close();
      conn = null;
      self.active = false;
      done = null;
      return;
    }
    if (typeof x === "function") {
      // request the next span
      start = writer.position;
      if (start >= size) {
        x({ kind: "complete" });
        return;
      }
      done = x;
      // A server that ignores Range sends everything anyway: take it all in one response.
      // Spans end on the spanBytes grid, also after a resume mid-span: every device asks for the
      // same ranges (a cache in front of the server can keep them as units), and a resumed span
      // is shorter rather than shifting every later request off the grid.
      const end = wholeFile ? size - 1 : Math.min(start - (start % d.spanBytes) + d.spanBytes, size) - 1;
      handle = fetchRange(
        ports,
        {
          url: self.url,
          start: start,
          end: end,
          totalSize: size,
          stallTimeoutMs: d.stallTimeoutMs,
          requestTimeoutMs: d.requestTimeoutMs,
          ifRange: validator,
          // Without a validator a 200 to a resume may be the same file: skip what we have.
          // With one, a 200 means If-Range failed: the file changed, so start over.
          skipToStartOn200: !validator || wholeFile,
          conn: conn,
        },
        self,
      );
      conn = null;
      self.active = true;
      return;
    }
    // the span's result
    const r = x;
    const c = (handle as RangeHandle).conn;
    handle = null;
    self.active = false;
    // the server closed the kept socket as the request went out: ask again on a new one
    if (r.kind === "stale") return on(done as (o: SpanOutcome) => void);
    let o: SpanOutcome | null = null;
    let restart = "";
    const progressed = writer.position > start;
    if (r.validator) {
      if (validator && validator !== r.validator) restart = "the file changed on the server (validator " + validator + " -> " + r.validator + ")";
      else validator = r.validator;
    }
    if (!restart) {
      switch (r.kind) {
        case "ok":
          o = writer.position >= size ? { kind: "complete" } : { kind: "progress" };
          break;
        case "complete":
          if (writer.position >= size) o = { kind: "complete" };
          else restart = "416 before the image was complete";
          break;
        case "short":
          o = { kind: "retry", reason: "connection closed after " + r.received + " bytes", progressed: progressed };
          break;
        case "timeout":
          o = { kind: "retry", reason: r.stalled ? "no data for " + d.stallTimeoutMs + " ms" : "request took longer than " + d.requestTimeoutMs + " ms", progressed: progressed };
          break;
        case "connect-failed":
          o = { kind: "retry", reason: "connect failed: " + r.message, progressed: false };
          break;
        case "server-error":
          o = { kind: "retry", reason: "HTTP " + r.status, progressed: progressed, retryAfterMs: r.retryAfterMs };
          break;
        case "bad-status":
          o = { kind: "retry", reason: "unexpected HTTP " + r.status, progressed: progressed };
          break;
        case "bad-range":
        case "protocol":
          o = { kind: "retry", reason: r.message, progressed: progressed };
          break;
        case "range-ignored":
          if (r.validator && r.validator === validator) {
            // Same strong validator: the same file, served whole. Skip what we have.
            wholeFile = true;
            o = { kind: "retry", reason: "the server ignores Range; reading on from " + start + " in the whole file", progressed: false };
          } else restart = "the server answered a resume at " + start + " with the whole file";
          break;
        case "size-mismatch":
          restart = "the server's file has " + r.total + " bytes, the update announced " + size;
          break;
        case "forbidden":
          o = { kind: "url-expired" };
          break;
        case "not-found":
          o = { kind: "not-found" };
          break;
        case "sink-error":
          o = { kind: "rejected", reason: errorText(r.error) };
          break;
      }
    }
    if (restart) {
      validator = undefined;
      o = { kind: "restart", reason: restart };
    }
    if (!o) o = { kind: "retry", reason: "unknown outcome", progressed: progressed };
    // only a span that leads to the next one keeps its socket
    if (c.s) {
      if (o.kind === "progress") conn = c;
      else c.s.close();
    }
    const cb = done as (o: SpanOutcome) => void;
    done = null;
    cb(o);
  }

  self.requestSpan = self.abort = self.onData = self.onDone = on;
  return self;
};
