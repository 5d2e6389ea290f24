// The fault plan of the simulated firmware server: which requests misbehave, and how.
//
//   faults.push({ kind: "reset-after", bytes: 10000 })                 the next request
//   faults.push({ onRequest: 3, kind: "status", status: 503, retryAfter: "2" })
//   faults.push({ kind: "stall-after", atOffset: 300000 })             the first response that reaches that file offset
//   faults.every({ kind: "reset-after", bytes: 65536 })                every response, from now on
//
// Requests are numbered from 1 over the server's life (see FirmwareServer.requests). Several
// faults can hit one request: all targeted ones for its number, the oldest untargeted one
// (a queue, so two pushes hit two successive requests), every armed offset fault its body
// covers, and all `every` faults.

/** Where a cut happens: after `bytes` body bytes of the response, or at absolute file offset `atOffset`. */
export interface CutPoint {
  bytes?: number;
  atOffset?: number;
}

export type Fault =
  /** Answer with this status instead of the file (403 expired URL, 404, 500, 503, 429...). */
  | { kind: "status"; status: number; retryAfter?: string; body?: string }
  /**
   * Drop the connection once the cut point has been handed to the kernel: the client gets exactly
   * those bytes, then end of stream. `rst: true` sends a real TCP RST instead, which (like a real
   * reset) may also destroy bytes still in flight, so the count received is then not exact.
   */
  | ({ kind: "reset-after"; rst?: boolean } & CutPoint)
  /** Stop sending at the cut point and keep the connection open. */
  | ({ kind: "stall-after" } & CutPoint)
  /** Close cleanly (FIN) at the cut point although Content-Length promised more. */
  | ({ kind: "short-body" } & CutPoint)
  /** Write the raw response (head included) in pieces of `pieceBytes`, `delayMs` apart. */
  | { kind: "trickle"; pieceBytes: number; delayMs: number }
  /** Serve 200 with the whole file: Range and If-Range are dropped before `send` sees them. */
  | { kind: "ignore-range" }
  /** Replace the Content-Range header with `value`. */
  | { kind: "content-range"; value: string }
  /** Set (or with null remove) any response header. */
  | { kind: "header"; name: string; value: string | null }
  /** Transfer-Encoding: chunked instead of Content-Length, data chunks of `chunkBytes` (default 1000). */
  | { kind: "chunked"; chunkBytes?: number }
  /** No Content-Length: the body ends when the connection closes. */
  | { kind: "close-delimited" }
  /** Append `bytes` junk bytes to the body (Content-Length grows with them, Content-Range does not). */
  | { kind: "extra-bytes"; bytes: number }
  /** After the complete response, write these raw bytes on the connection (not counted by Content-Length): junk between responses. */
  | { kind: "garbage-after"; data: string }
  /** Replace the file just before this request is served (new bytes, new ETag): the file changed between spans. */
  | { kind: "replace-file"; bytes: Uint8Array; etag?: string };

export type FaultRule = Fault & { onRequest?: number };

function isCutAtOffset(f: Fault): boolean {
  return (f.kind === "reset-after" || f.kind === "stall-after" || f.kind === "short-body") && f.atOffset !== undefined;
}

export class FaultPlan {
  private targeted: FaultRule[] = [];
  private queued: Fault[] = [];
  private armed: Fault[] = [];
  private always: Fault[] = [];

  /** One-shot fault: for request `onRequest`, or (without it) the next request / the first body reaching `atOffset`. */
  push(rule: FaultRule): void {
    if (rule.onRequest !== undefined) this.targeted.push(rule);
    else if (isCutAtOffset(rule)) this.armed.push(rule);
    else this.queued.push(rule);
  }

  /** A fault applied to every request from now on (offset cuts: every body that reaches the offset). */
  every(fault: Fault): void {
    this.always.push(fault);
  }

  clear(): void {
    this.targeted = [];
    this.queued = [];
    this.armed = [];
    this.always = [];
  }

  /** One-shot faults not used yet. */
  pending(): number {
    return this.targeted.length + this.queued.length + this.armed.length;
  }

  /** Faults for request `n`, decided when it arrives (one-shots are used up). */
  takeForRequest(n: number): Fault[] {
    const out: Fault[] = this.targeted.filter((r) => r.onRequest === n);
    this.targeted = this.targeted.filter((r) => r.onRequest !== n);
    const next = this.queued.shift();
    if (next) out.push(next);
    return out.concat(this.always);
  }

  /** Armed offset faults whose offset lies in the body's file range [first, last] (used up). */
  takeForRange(first: number, last: number): Fault[] {
    const hit = (f: Fault) => {
      const at = (f as CutPoint).atOffset as number;
      return at >= first && at <= last;
    };
    const out = this.armed.filter(hit);
    this.armed = this.armed.filter((f) => !hit(f));
    return out;
  }
}
