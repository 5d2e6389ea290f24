// One update's download: Range requests of board.download.spanBytes from the current
// position, each answered only by a 206 whose Content-Range matches (range-request.ts),
// streamed through the SlotWriter (erase ahead, program, read back, hash). A request that
// breaks keeps every byte it delivered; the next one continues at the exact byte.
import type { BoardConfig } from "../board";
import type { ClockPort, NetPort } from "../ports";
import { fetchRange, RangeHandle, RangeResult } from "../http/range-request";
import { isOtaError } from "../errors";
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

export interface DownloadStats {
  requests: number;
  /** Body bytes the agent received (including bytes it had to discard). */
  bytesReceived: number;
}

export class Download {
  url: string;
  readonly stats: DownloadStats = { requests: 0, bytesReceived: 0 };
  /** Strong ETag / Last-Modified of the file, sent as If-Range so a changed file cannot be merged. */
  private validator: string | undefined;
  private handle: RangeHandle | null = null;
  /** The server answers Range with the whole (same) file: read on from within that body. */
  private wholeFile = false;

  constructor(
    private ports: { net: NetPort; clock: ClockPort },
    private board: BoardConfig,
    private writer: SlotWriter,
    private size: number,
    url: string,
    private onBytes: (position: number) => void,
  ) {
    this.url = url;
  }

  get active(): boolean {
    return this.handle !== null;
  }

  /** Abandons the request in flight, if any (no callback follows). */
  abort(): void {
    if (this.handle) {
      this.handle.abort();
      this.handle = null;
    }
  }

  requestSpan(done: (o: SpanOutcome) => void): void {
    const start = this.writer.position;
    if (start >= this.size) {
      done({ kind: "complete" });
      return;
    }
    const d = this.board.download;
    // A server that ignores Range sends everything anyway: take it all in one response.
    const end = this.wholeFile ? this.size - 1 : Math.min(start + d.spanBytes, this.size) - 1;
    this.stats.requests++;
    this.handle = fetchRange(
      this.ports,
      {
        url: this.url,
        start: start,
        end: end,
        totalSize: this.size,
        stallTimeoutMs: d.stallTimeoutMs,
        requestTimeoutMs: d.requestTimeoutMs,
        ifRange: this.validator,
        // Without a validator a 200 to a resume may be the same file: skip what we have.
        // With one, a 200 means If-Range failed: the file changed, so start over.
        skipToStartOn200: !this.validator || this.wholeFile,
      },
      {
        onData: (chunk: string) => {
          this.stats.bytesReceived += chunk.length;
          if (!this.writer.append(chunk)) throw new Error("server sent bytes past the end of the image");
          this.onBytes(this.writer.position);
        },
        onDone: (r: RangeResult) => {
          this.handle = null;
          done(this.judge(r, start));
        },
      },
    );
  }

  private judge(r: RangeResult, start: number): SpanOutcome {
    if (r.validator) {
      if (this.validator && this.validator !== r.validator) return this.restart("the file changed on the server (validator " + this.validator + " -> " + r.validator + ")");
      this.validator = r.validator;
    }
    const progressed = this.writer.position > start;
    switch (r.kind) {
      case "ok":
        return this.writer.position >= this.size ? { kind: "complete" } : { kind: "progress" };
      case "complete":
        return this.writer.position >= this.size ? { kind: "complete" } : this.restart("416 before the image was complete");
      case "short":
        return { kind: "retry", reason: "connection closed after " + r.received + " bytes", progressed: progressed };
      case "timeout":
        return { kind: "retry", reason: r.stalled ? "no data for " + this.board.download.stallTimeoutMs + " ms" : "request took longer than " + this.board.download.requestTimeoutMs + " ms", progressed: progressed };
      case "connect-failed":
        return { kind: "retry", reason: "connect failed: " + r.message, progressed: false };
      case "server-error":
        return { kind: "retry", reason: "HTTP " + r.status, progressed: progressed, retryAfterMs: r.retryAfterMs };
      case "bad-status":
        return { kind: "retry", reason: "unexpected HTTP " + r.status, progressed: progressed };
      case "bad-range":
      case "protocol":
        return { kind: "retry", reason: r.message, progressed: progressed };
      case "range-ignored":
        if (r.validator && r.validator === this.validator) {
          // Same strong validator: the same file, served whole. Skip what we have.
          this.wholeFile = true;
          return { kind: "retry", reason: "the server ignores Range; reading on from " + start + " in the whole file", progressed: false };
        }
        return this.restart("the server answered a resume at " + start + " with the whole file");
      case "size-mismatch":
        return this.restart("the server's file has " + r.total + " bytes, the update announced " + this.size);
      case "forbidden":
        return { kind: "url-expired" };
      case "not-found":
        return { kind: "not-found" };
      case "sink-error":
        return { kind: "rejected", reason: isOtaError(r.error) ? r.error.message : String((r.error as Error).message || r.error) };
    }
    return { kind: "retry", reason: "unknown outcome", progressed: progressed };
  }

  private restart(reason: string): SpanOutcome {
    this.validator = undefined;
    return { kind: "restart", reason: reason };
  }
}
