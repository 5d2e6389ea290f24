// One HTTP/1.1 Range GET over a raw socket (NetPort), with the strict acceptance rules a
// resumable firmware download needs. Espruino's own http module cannot be aborted, has no
// timeout and lets body bytes leak into its header parser, so the device speaks HTTP itself.
//
// Contract: onData(chunk, offset) gets body bytes in order, each at its absolute file
// offset, and only bytes inside the range the server announced. onDone is called exactly
// once, from a timer (never from inside a socket callback), after the socket is closed or
// given up on; nothing is called after it. After abort() nothing is called at all.
import type { ClockPort, NetPort, Socket, TimerId } from "../ports";
import { isOtaError, otaError } from "../errors";
import { hostHeader, parseUrl, ParsedUrl } from "./url";
import {
  findHeadEnd,
  MAX_HEAD_BYTES,
  parseContentRange,
  parseResponseHead,
  ResponseHead,
  retryAfterMs,
  validatorOf,
} from "./response-head";
import { ChunkedDecoder, CHUNKS_END } from "./chunked-decoder";

export interface RangeRequest {
  url: string;
  /** First byte wanted (file offset). */
  start: number;
  /** Last byte wanted, inclusive. */
  end: number;
  /** The file size the job announced: every Content-Range total must equal it. */
  totalSize: number;
  /** Give up when no byte arrived for this long (also covers connecting). */
  stallTimeoutMs: number;
  /** Give up when the whole request has not finished after this long. */
  requestTimeoutMs: number;
  /** A validator from an earlier span: sent as If-Range, so a changed file answers 200, not a wrong 206. */
  ifRange?: string;
  /** On a 200 to a request with start > 0, discard the first `start` bytes and deliver the rest (default: report range-ignored). */
  skipToStartOn200?: boolean;
}

export interface RangeSink {
  /** `chunk` is a binary string; `offset` is the file offset of its first byte. */
  onData(chunk: string, offset: number): void;
  onDone(result: RangeResult): void;
}

export interface RangeHandle {
  /** Closes the socket; no onData or onDone follows. Safe to call at any time, more than once. */
  abort(): void;
}

export type RangeOutcome =
  /** `end` is the last byte delivered: less than asked when the server sent a shorter range. */
  | { kind: "ok"; end: number }
  /**
   * The connection ended before the announced end (or before any response: status 0); the
   * `received` bytes delivered are good, so the next span starts at start + received.
   */
  | { kind: "short" }
  /** `stalled`: no byte for stallTimeoutMs; otherwise requestTimeoutMs ran out. */
  | { kind: "timeout"; stalled: boolean }
  /** 200 (whole file) to a request that starts past 0; nothing delivered. */
  | { kind: "range-ignored" }
  /** Asked from at or past the end of a file of the expected size (416, or 200 with that length): nothing left to fetch. */
  | { kind: "complete" }
  /** The server's file is not `totalSize` bytes (`total` = what it said, -1 unknown): never merge. */
  | { kind: "size-mismatch"; total: number }
  | { kind: "forbidden" }
  | { kind: "not-found" }
  | { kind: "server-error"; retryAfterMs?: number }
  | { kind: "bad-status" }
  /** 206 whose Content-Range / Content-Length do not match what was asked. */
  | { kind: "bad-range"; message: string }
  /** Malformed response or framing, or a body beyond the announced range. */
  | { kind: "protocol"; message: string }
  | { kind: "connect-failed"; message: string }
  /** sink.onData threw `error`; `received` counts the chunks it accepted before. */
  | { kind: "sink-error"; error: unknown };

export type RangeResult = RangeOutcome & {
  /** HTTP status of the final response, 0 if none arrived. */
  status: number;
  /** Body bytes delivered to onData (from `start`). */
  received: number;
  /** Strong ETag or Last-Modified of the response, when it had one. */
  validator?: string;
};

const USER_AGENT = "espruino-ota-agent";
// How long to wait for the platform to confirm a close before reporting anyway.
const CLOSE_GRACE_MS = 2000;

const CONNECTING = 0;
const HEAD = 1;
const BODY = 2;
const CLOSING = 3;
const DONE = 4;

const BY_LENGTH = 0;
const BY_CHUNKS = 1;
const BY_CLOSE = 2;

function isCount(n: number): boolean {
  return typeof n === "number" && n >= 0 && n <= 9007199254740991 && n % 1 === 0;
}

function checkRequest(req: RangeRequest): void {
  if (!isCount(req.start) || !isCount(req.end) || req.end < req.start) {
    throw otaError("MSG_INVALID", "bad range " + req.start + "-" + req.end);
  }
  if (!isCount(req.totalSize) || req.totalSize < 1) throw otaError("MSG_INVALID", "bad totalSize " + req.totalSize);
  if (!(req.stallTimeoutMs > 0) || !(req.requestTimeoutMs > 0)) throw otaError("MSG_INVALID", "timeouts must be > 0");
  const v = req.ifRange;
  if (v !== undefined && (v === "" || v.indexOf("\r") >= 0 || v.indexOf("\n") >= 0)) {
    throw otaError("MSG_INVALID", "bad If-Range value");
  }
}

function requestText(u: ParsedUrl, req: RangeRequest): string {
  return (
    "GET " + u.path + " HTTP/1.1\r\nHost: " + hostHeader(u) +
    "\r\nRange: bytes=" + req.start + "-" + req.end +
    "\r\nAccept-Encoding: identity\r\nConnection: close\r\nUser-Agent: " + USER_AGENT +
    (req.ifRange !== undefined ? "\r\nIf-Range: " + req.ifRange : "") +
    "\r\n\r\n"
  );
}

// The state of one request. Plain functions take it as an argument instead of being methods:
// on Espruino every active `this.method()` frame holds locks on the object, the lock count
// saturates at 15 (JSV_LOCK_MAX) and a saturated object is never freed again (espruino/Espruino#2616).
// A chain of about six nested method calls on one object (socket event -> head -> body ->
// take -> finish -> ...) is enough to leak the whole request on every span (measured on 2v29).
interface Fetch {
  net: NetPort;
  clock: ClockPort;
  url: ParsedUrl;
  req: RangeRequest;
  sink: RangeSink;
  phase: number;
  socket: Socket | null;
  connected: boolean;
  requestSent: boolean;
  socketClosed: boolean;
  headBuf: string;
  result: RangeResult | null;
  status: number;
  validator: string | undefined;
  /** Bytes accepted by the sink. */
  received: number;
  /** Body bytes seen after framing was removed, skipped ones included. */
  bodyBytes: number;
  skip: number;
  want: number;
  /** A 206 must not carry more than its range; a whole-file 200 is just cut where we stop. */
  extraIsError: boolean;
  whole200: boolean;
  framing: number;
  left: number;
  chunks: ChunkedDecoder | null;
  takeFn: (piece: string) => boolean;
  lastByteAt: number;
  stallTimer: TimerId | null;
  requestTimer: TimerId | null;
  closeTimer: TimerId | null;
  doneTimer: TimerId | null;
}

function start(f: Fetch): void {
  const clock = f.clock;
  f.lastByteAt = clock.now();
  f.requestTimer = clock.after(f.req.requestTimeoutMs, function () {
    f.requestTimer = null;
    finish(f, { kind: "timeout", stalled: false });
  });
  armStall(f, f.req.stallTimeoutMs);
  if (f.url.tls && !f.net.hasTls) {
    finish(f, { kind: "connect-failed", message: "TLS is not available on this platform" });
    return;
  }
  let sock: Socket;
  try {
    sock = f.net.connect(f.url.host, f.url.port, f.url.tls, {
      onConnect: function () {
        try {
          onConnect(f);
        } catch (e) {
          fail(f, e);
        }
      },
      onData: function (d: string) {
        try {
          onData(f, d);
        } catch (e) {
          fail(f, e);
        }
      },
      onClose: function () {
        try {
          onClose(f);
        } catch (e) {
          fail(f, e);
        }
      },
    });
  } catch (e) {
    // Espruino throws here for an unknown host or a refused connection
    finish(f, { kind: "connect-failed", message: e instanceof Error ? e.message : String(e) });
    return;
  }
  if (f.socketClosed || f.phase === DONE) {
    // the port reported close (or we were aborted) before connect() even returned
    if (!f.socketClosed) closeQuietly(sock);
    return;
  }
  f.socket = sock;
  if (f.phase === CLOSING) {
    closeQuietly(sock);
    return;
  }
  if (f.connected && !f.requestSent) sendRequest(f);
}

function abort(f: Fetch): void {
  if (f.phase === DONE) return;
  f.phase = DONE;
  cancelTimers(f);
  if (f.socket !== null && !f.socketClosed) closeQuietly(f.socket);
}

function closeQuietly(s: Socket): void {
  try {
    s.close();
  } catch (e) {
    /* already gone: nothing to release */
  }
}

function sendRequest(f: Fetch): void {
  f.requestSent = true;
  (f.socket as Socket).write(requestText(f.url, f.req));
}

function onConnect(f: Fetch): void {
  if (f.phase !== CONNECTING) return;
  f.connected = true;
  f.phase = HEAD;
  if (f.socket !== null) sendRequest(f);
}

function onData(f: Fetch, d: string): void {
  if (f.phase >= CLOSING) return;
  f.lastByteAt = f.clock.now();
  if (f.phase === CONNECTING) {
    f.connected = true;
    f.phase = HEAD;
  }
  if (f.phase === HEAD) onHeadData(f, d);
  else onBody(f, d);
}

function onHeadData(f: Fetch, d: string): void {
  const from = f.headBuf.length > 2 ? f.headBuf.length - 2 : 0;
  const buf = f.headBuf + d;
  const end = findHeadEnd(buf, from);
  if (end < 0 && buf.length <= MAX_HEAD_BYTES) {
    f.headBuf = buf;
    return;
  }
  if (end < 0 || end > MAX_HEAD_BYTES) {
    finish(f, { kind: "protocol", message: "response head over " + MAX_HEAD_BYTES + " bytes" });
    return;
  }
  f.headBuf = "";
  const head = parseResponseHead(buf.substring(0, end));
  const rest = buf.substring(end);
  if (head.status < 200 && head.status !== 101) {
    // interim response (100 Continue and friends): the real one follows
    if (rest !== "") onHeadData(f, rest);
    return;
  }
  if (!acceptHead(f, head)) return;
  f.phase = BODY;
  if (f.framing === BY_LENGTH && f.left === 0) bodyEnded(f);
  else if (rest !== "") onBody(f, rest);
}

/** Applies the acceptance rules; returns true when the body is to be read. */
function acceptHead(f: Fetch, h: ResponseHead): boolean {
  const status = h.status;
  f.status = status;
  f.validator = validatorOf(h);
  if (status === 206) return setFraming(f, h) && accept206(f, h);
  if (status === 200) return setFraming(f, h) && accept200(f);
  if (status === 416) finish(f, judge416(f, h));
  else if (status === 403) finish(f, { kind: "forbidden" });
  else if (status === 404 || status === 410) finish(f, { kind: "not-found" });
  else if (status >= 500 || status === 429) {
    const after = retryAfterMs(h);
    finish(f, after === undefined ? { kind: "server-error" } : { kind: "server-error", retryAfterMs: after });
  } else finish(f, { kind: "bad-status" });
  return false;
}

function setFraming(f: Fetch, h: ResponseHead): boolean {
  if (h.contentEncoding !== "" && h.contentEncoding !== "identity") {
    finish(f, { kind: "protocol", message: "Content-Encoding " + h.contentEncoding + " (asked for identity)" });
    return false;
  }
  if (h.transferEncoding !== "") {
    if (h.transferEncoding !== "chunked") {
      finish(f, { kind: "protocol", message: "unsupported Transfer-Encoding " + h.transferEncoding });
      return false;
    }
    f.framing = BY_CHUNKS;
    f.chunks = new ChunkedDecoder();
  } else if (h.contentLength >= 0) {
    f.framing = BY_LENGTH;
    f.left = h.contentLength;
  }
  return true;
}

function accept206(f: Fetch, h: ResponseHead): boolean {
  const req = f.req;
  const cr = parseContentRange(h.contentRange);
  if (cr === null || cr.first < 0) {
    finish(f, { kind: "bad-range", message: "206 without a usable Content-Range: " + h.contentRange });
    return false;
  }
  if (cr.total !== req.totalSize) {
    if (cr.total < 0) finish(f, { kind: "bad-range", message: "206 with an unknown total: " + h.contentRange });
    else finish(f, { kind: "size-mismatch", total: cr.total });
    return false;
  }
  if (cr.first !== req.start || cr.last > req.end) {
    finish(f, { kind: "bad-range", message: "Content-Range " + h.contentRange + " for bytes=" + req.start + "-" + req.end });
    return false;
  }
  f.want = cr.last - req.start + 1;
  if (f.framing === BY_LENGTH && f.left !== f.want) {
    finish(f, { kind: "bad-range", message: "Content-Length " + f.left + " for Content-Range " + h.contentRange });
    return false;
  }
  return true;
}

function accept200(f: Fetch): boolean {
  const req = f.req;
  const length = f.framing === BY_LENGTH ? f.left : -1;
  if (length >= 0 && length !== req.totalSize) {
    finish(f, { kind: "size-mismatch", total: length });
    return false;
  }
  if (req.start >= req.totalSize && length === req.totalSize) {
    finish(f, { kind: "complete" });
    return false;
  }
  if (req.start > 0 && !req.skipToStartOn200) {
    finish(f, { kind: "range-ignored" });
    return false;
  }
  f.whole200 = true;
  f.extraIsError = false;
  f.skip = req.start;
  f.want = req.end - req.start + 1;
  return true;
}

function judge416(f: Fetch, h: ResponseHead): RangeOutcome {
  const req = f.req;
  const cr = parseContentRange(h.contentRange);
  if (cr !== null && cr.total >= 0 && cr.total !== req.totalSize) return { kind: "size-mismatch", total: cr.total };
  if (req.start >= req.totalSize) return { kind: "complete" };
  if (cr !== null && cr.total === req.totalSize) {
    return { kind: "bad-range", message: "416 for a range inside the file: " + h.contentRange };
  }
  return { kind: "size-mismatch", total: -1 };
}

function onBody(f: Fetch, d: string): void {
  if (f.framing === BY_LENGTH) {
    const left = f.left;
    if (d.length < left) {
      f.left = left - d.length;
      take(f, d);
      return;
    }
    f.left = 0;
    // bytes past Content-Length are not part of this response (Connection: close)
    if (take(f, d.length === left ? d : d.substring(0, left)) && f.phase === BODY) bodyEnded(f);
    return;
  }
  if (f.framing === BY_CHUNKS) {
    if ((f.chunks as ChunkedDecoder).feed(d, f.takeFn) === CHUNKS_END && f.phase === BODY) bodyEnded(f);
    return;
  }
  take(f, d);
}

/** Skips, delivers, enforces the range. Returns false once the request is finished. */
function take(f: Fetch, piece: string): boolean {
  if (f.phase !== BODY) return false;
  f.bodyBytes += piece.length;
  if (f.skip > 0) {
    if (piece.length <= f.skip) {
      f.skip -= piece.length;
      return true;
    }
    piece = piece.substring(f.skip);
    f.skip = 0;
  }
  const room = f.want - f.received;
  if (piece.length > room) {
    if (room > 0 && !deliver(f, piece.substring(0, room))) return false;
    if (f.extraIsError) {
      finish(f, { kind: "protocol", message: "body longer than the announced range" });
      return false;
    }
    finishOk(f);
    return false;
  }
  if (piece.length > 0 && !deliver(f, piece)) return false;
  // a chunked or close-delimited 206 that filled its range must still end cleanly: waiting
  // for its end is what makes "more bytes than announced" detectable at all
  if (f.received === f.want && (!f.extraIsError || f.framing === BY_LENGTH)) {
    finishOk(f);
    return false;
  }
  return true;
}

function deliver(f: Fetch, piece: string): boolean {
  try {
    f.sink.onData(piece, f.req.start + f.received);
  } catch (e) {
    finish(f, { kind: "sink-error", error: e });
    return false;
  }
  f.received += piece.length;
  return f.phase === BODY;
}

function finishOk(f: Fetch): void {
  finish(f, { kind: "ok", end: f.req.start + f.received - 1 });
}

/** The framing says the body is complete. */
function bodyEnded(f: Fetch): void {
  if (f.received === f.want && f.skip === 0) finishOk(f);
  else if (!f.whole200) finish(f, { kind: "protocol", message: "body ended before the announced range end" });
  else if (f.bodyBytes !== f.req.totalSize) finish(f, { kind: "size-mismatch", total: f.bodyBytes });
  else if (f.received > 0) finishOk(f);
  else finish(f, { kind: "complete" });
}

function onClose(f: Fetch): void {
  f.socketClosed = true;
  if (f.phase === DONE) return;
  if (f.phase === CLOSING) {
    scheduleDone(f);
    return;
  }
  if (!f.connected) finish(f, { kind: "connect-failed", message: "connection failed" });
  else if (
    f.phase === BODY &&
    f.framing === BY_CLOSE &&
    (f.received === f.want || (f.whole200 && f.bodyBytes >= f.req.totalSize))
  ) {
    bodyEnded(f);
  } else finish(f, { kind: "short" });
}

function fail(f: Fetch, e: unknown): void {
  const message = isOtaError(e) || e instanceof Error ? e.message : "internal error " + String(e);
  finish(f, { kind: "protocol", message: message });
}

function armStall(f: Fetch, ms: number): void {
  f.stallTimer = f.clock.after(ms, function () {
    f.stallTimer = null;
    if (f.phase >= CLOSING) return;
    const idle = f.clock.now() - f.lastByteAt;
    const limit = f.req.stallTimeoutMs;
    if (idle >= limit) finish(f, { kind: "timeout", stalled: true });
    else armStall(f, limit - idle > 1 ? limit - idle : 1);
  });
}

function cancelTimers(f: Fetch): void {
  const c = f.clock;
  if (f.stallTimer !== null) c.cancel(f.stallTimer);
  if (f.requestTimer !== null) c.cancel(f.requestTimer);
  if (f.closeTimer !== null) c.cancel(f.closeTimer);
  if (f.doneTimer !== null) c.cancel(f.doneTimer);
  f.stallTimer = f.requestTimer = f.closeTimer = f.doneTimer = null;
}

/** Records the result (first one wins), closes the socket, and lets onDone follow. */
function finish(f: Fetch, o: RangeOutcome): void {
  if (f.phase >= CLOSING) return;
  const r = o as RangeResult;
  r.status = f.status;
  r.received = f.received;
  if (f.validator !== undefined) r.validator = f.validator;
  f.result = r;
  f.phase = CLOSING;
  cancelTimers(f);
  const sock = f.socket;
  if (sock !== null && !f.socketClosed) {
    f.closeTimer = f.clock.after(CLOSE_GRACE_MS, function () {
      f.closeTimer = null;
      deliverDone(f);
    });
    closeQuietly(sock);
  } else {
    scheduleDone(f);
  }
}

function scheduleDone(f: Fetch): void {
  if (f.doneTimer !== null || f.phase === DONE) return;
  f.doneTimer = f.clock.after(0, function () {
    f.doneTimer = null;
    deliverDone(f);
  });
}

function deliverDone(f: Fetch): void {
  if (f.phase === DONE) return;
  f.phase = DONE;
  cancelTimers(f);
  f.sink.onDone(f.result as RangeResult);
}

/**
 * Starts a Range GET for bytes start..end (inclusive) of `req.url`. Throws otaError("MSG_INVALID")
 * synchronously for a malformed URL or request; every other failure arrives as a RangeResult.
 */
export function fetchRange(ports: { net: NetPort; clock: ClockPort }, req: RangeRequest, sink: RangeSink): RangeHandle {
  const url = parseUrl(req.url);
  checkRequest(req);
  const f: Fetch = {
    net: ports.net,
    clock: ports.clock,
    url: url,
    req: req,
    sink: sink,
    phase: CONNECTING,
    socket: null,
    connected: false,
    requestSent: false,
    socketClosed: false,
    headBuf: "",
    result: null,
    status: 0,
    validator: undefined,
    received: 0,
    bodyBytes: 0,
    skip: 0,
    want: 0,
    extraIsError: true,
    whole200: false,
    framing: BY_CLOSE,
    left: 0,
    chunks: null,
    takeFn: function (piece: string): boolean {
      return take(f, piece);
    },
    lastByteAt: 0,
    stallTimer: null,
    requestTimer: null,
    closeTimer: null,
    doneTimer: null,
  };
  start(f);
  return {
    abort: function () {
      abort(f);
    },
  };
}
