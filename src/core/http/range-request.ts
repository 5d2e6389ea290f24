// One HTTP/1.1 Range GET over a raw socket (NetPort), with the strict acceptance rules a
// resumable firmware download needs. Espruino's own http module cannot be aborted, has no
// timeout and lets body bytes leak into its header parser, so the device speaks HTTP itself.
//
// Contract: onData(chunk, offset) gets body bytes in order, each at its absolute file
// offset, and only bytes inside the range the server announced. onDone is called exactly
// once, from a timer (never from inside a socket callback), after the socket is closed or
// given up on, or kept for the next request; nothing is called after it. After abort()
// nothing is called at all.
//
// Keep-alive: a response framed by Content-Length that ends exactly at the end of a socket
// read, without `Connection: close`, leaves its socket open in handle.conn; the next request
// given that conn sends on it instead of connecting (no handshake, no slow start per span).
// Only one request is ever outstanding on a socket (no pipelining): bytes after a response or
// while the socket idles cannot belong to anything asked, so they close it. A kept socket the
// server closed just as the next request went out ends that request as `stale`: ask again on
// a new connection. The conn is the socket's handler record, re-pointed at each new request,
// so a long-lived connection holds one request's state, never a growing history.
//
// Memory (Espruino): one factory whose closure holds the request's state in local variables
// (short names after minification, no per-request record of long property names) and only
// four closures, one per distinct event the request gets: the socket's data/connect handler,
// its close handler, the one timer (which also records the result: settle) and abort. No
// `this` anywhere: every active this.method() frame holds a lock on the object, the lock count saturates at 15 (JSV_LOCK_MAX) and a saturated object is never freed
// (espruino/Espruino#2616). Body bytes are passed on as the socket's own string or as
// substrings of it of at most 128 bytes (never a copy of a whole read); chunked framing is decoded
// in place, never byte by byte.
import type { ClockPort, NetPort, Socket, SocketHandlers, TimerId } from "../ports";
import { errorText, otaError } from "../errors";
import { parseUrl, ParsedUrl } from "./url";
import { parseResponseHead } from "./response-head";

/** A connection's handler record; `s` is its socket while it is kept open for another request. */
export interface Conn extends SocketHandlers {
  s: Socket | null;
  /** Scheme, host and port: a kept socket only serves a URL of the same origin. */
  o: string;
}

export interface RangeRequest {
  url: string;
  /** A previous request's handle.conn: its socket is used when it is still kept open (same origin). */
  conn?: Conn | null;
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
  /** This request's connection; after onDone its `s` is set only when the socket was kept open. */
  conn: Conn;
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
  /** A kept connection closed before any byte of the response: nothing was lost, ask again on a new one. */
  | { kind: "stale" }
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

// Limits as a const enum: compiled to literals, where a module-level const would be a name
// that costs JsVars on the board for as long as the job is loaded.
const enum Limit {
  /** How long to wait for the platform to confirm a close before reporting anyway. */
  CloseGraceMs = 2000,
  /** A chunk-size line is hex digits plus optional extensions; nothing honest comes close to this. */
  MaxChunkLine = 1024,
  /** The longest piece of a socket read passed on as a copy (a substring). */
  Piece = 128,
}

const enum Phase {
  Connecting,
  Head,
  Body,
  Closing,
  Done,
}

const enum Framing {
  ByLength,
  ByChunks,
  ByClose,
}

/**
 * Starts a Range GET for bytes start..end (inclusive) of `req.url`. Throws otaError("MSG_INVALID")
 * synchronously for a malformed URL or request; every other failure arrives as a RangeResult.
 */
export function fetchRange(ports: { net: NetPort; clock: ClockPort }, req: RangeRequest, sink: RangeSink): RangeHandle {
  let u: ParsedUrl | null = parseUrl(req.url);
  const start = req.start;
  const end = req.end;
  const size = req.totalSize;
  const stallMs = req.stallTimeoutMs;
  const requestMs = req.requestTimeoutMs;
  const skipOn200 = !!req.skipToStartOn200;
  // Checked in this order, the first failure named: every local here stays in the closures'
  // scope for as long as the request runs, so the request's own fields are read where used.
  if (
    !(typeof start === "number" && start >= 0 && start <= 9007199254740991 && start % 1 === 0) ||
    !(typeof end === "number" && end >= 0 && end <= 9007199254740991 && end % 1 === 0) ||
    end < start
  ) {
    throw otaError("MSG_INVALID", "bad range " + start + "-" + end);
  }
  if (!(typeof size === "number" && size >= 1 && size <= 9007199254740991 && size % 1 === 0)) throw otaError("MSG_INVALID", "bad totalSize " + size);
  if (!(stallMs > 0) || !(requestMs > 0)) throw otaError("MSG_INVALID", "timeouts must be > 0");
  if (req.ifRange !== undefined && (req.ifRange === "" || req.ifRange.indexOf("\r") >= 0 || req.ifRange.indexOf("\n") >= 0)) throw otaError("MSG_INVALID", "bad If-Range value");

  const net = ports.net;
  const clock = ports.clock;
  let phase = Phase.Connecting;
  let socket: Socket | null = null;
  let socketClosed = false;
  /** Host and port as the Host header names them. */
  const origin =
    (u.host.indexOf(":") >= 0 ? "[" + u.host + "]" : u.host) +
    (u.port !== (u.tls ? 443 : 80) ? ":" + u.port : "");
  /**
   * The request, until it is written ("" after). No Connection header: HTTP/1.1 connections
   * persist unless the server says otherwise.
   */
  let request =
    "GET " + u.path + " HTTP/1.1\r\nHost: " + origin +
    "\r\nRange: bytes=" + start + "-" + end +
    "\r\nAccept-Encoding: identity\r\nUser-Agent: espruino-ota-agent" +
    (req.ifRange !== undefined ? "\r\nIf-Range: " + req.ifRange : "") +
    "\r\n\r\n";
  let headBuf = "";
  /** The socket's handler record, made once the handlers exist (or req.conn when its socket is kept). */
  let link: Conn;
  /** Sending on a kept socket: a close before any byte means `stale`, not a failure. */
  let reused = false;
  /** The response ended cleanly and the server did not say it closes: keep the socket. */
  let keep = false;
  /** The response head said the server closes after it. */
  let serverCloses = false;
  let result: RangeResult | null = null;
  let status = 0;
  let validator: string | undefined;
  /** Bytes accepted by the sink. */
  let received = 0;
  /** Body bytes seen after framing was removed, skipped ones included. */
  let bodyBytes = 0;
  /** Bytes of a whole-file 200 still to discard before `start`. */
  let skip = 0;
  /** Bytes to deliver: the range the server announced (206) or the one asked for (200). */
  let want = 0;
  /** A whole-file 200: cut where we stop (a 206 must not carry more than its range). */
  let whole200 = false;
  let framing = Framing.ByClose;
  /** Bytes left of the Content-Length, or of the current chunk. */
  let left = 0;
  /** A chunk-size line that straddles socket reads. */
  let chunkLine = "";
  /** True between a chunk's data and the CRLF that must follow it. */
  let needCrlf = false;
  const startedAt = clock.now();
  let lastByteAt = startedAt;
  let timer: TimerId | null = null;

  /**
   * Two events in one function (each function costs memory on the board). Called by the one
   * timer (no argument: the stall and request timeouts while the request runs, then onDone),
   * or with an outcome: records it (the first one wins), closes the socket and lets onDone
   * follow from the timer. `o` null means the framing says the body is complete: the outcome
   * is judged here.
   */
  function settle(o?: RangeOutcome | null): void {
    if (o === undefined) {
      timer = null;
      if (phase === Phase.Done) return;
      if (phase === Phase.Closing) {
        phase = Phase.Done;
        sink.onDone(result as RangeResult);
        return;
      }
      const now = clock.now();
      const wait = startedAt + requestMs - now;
      const idle = lastByteAt + stallMs - now;
      if (wait <= 0) o = { kind: "timeout", stalled: false };
      else if (idle <= 0) o = { kind: "timeout", stalled: true };
      else {
        timer = clock.after(idle < wait ? idle : wait, settle);
        return;
      }
    }
    if (phase >= Phase.Closing) return;
    if (o === null) {
      if (received === want && skip === 0) o = { kind: "ok", end: start + received - 1 };
      else if (!whole200) o = { kind: "protocol", message: "body ended before the announced range end" };
      else if (bodyBytes !== size) o = { kind: "size-mismatch", total: bodyBytes };
      else if (received > 0) o = { kind: "ok", end: start + received - 1 };
      else o = { kind: "complete" };
    }
    const r = o as RangeResult;
    r.status = status;
    r.received = received;
    if (validator !== undefined) r.validator = validator;
    result = r;
    phase = Phase.Closing;
    if (timer !== null) clock.cancel(timer);
    if (keep && !socketClosed) {
      link.s = socket;
      timer = clock.after(0, settle);
    } else if (socket !== null && !socketClosed) {
      timer = clock.after(Limit.CloseGraceMs, settle);
      try {
        socket.close();
      } catch (e) {
        /* already gone: nothing to release */
      }
    } else {
      timer = clock.after(0, settle);
    }
  }

  /** The socket's onConnect (no argument) and onData (a binary string). */
  function onSocket(d?: string): void {
    try {
      if (d === undefined) {
        if (phase !== Phase.Connecting) return;
        phase = Phase.Head;
        if (socket !== null) {
          socket.write(request);
          request = "";
        }
        return;
      }
      if (phase >= Phase.Closing) {
        // bytes on a kept socket that nothing asked for: it can no longer be trusted
        if (link.s !== null) {
          link.s = null;
          (socket as Socket).close();
        }
        return;
      }
      lastByteAt = clock.now();
      if (phase === Phase.Connecting) phase = Phase.Head;
      /** Where the body starts in `d`: after a response head, in the read that carried its end. */
      let pos = 0;
      if (phase === Phase.Head) {
        // where `buf` starts in this read: before it (negative) while it begins with an earlier
        // read's part of the head
        let at = -headBuf.length;
        const from = headBuf.length > 2 ? headBuf.length - 2 : 0;
        let buf = headBuf === "" ? d : headBuf + d;
        headBuf = "";
        let h = parseResponseHead(buf, from);
        // interim responses (100 Continue and friends): the real one follows
        while (h !== null && h.status < 200 && h.status !== 101) {
          at += h.end;
          buf = buf.substring(h.end);
          h = parseResponseHead(buf, 0);
        }
        if (h === null) {
          headBuf = buf;
          return;
        }
        // The body goes on from here in this read itself, in pieces: no copy of the rest of the
        // read, and a head joined from two reads goes now (beside the read it was a second copy).
        // The head ends in this read: a complete one would have been parsed with the read before.
        pos = at + h.end;
        buf = "";
        status = h.status;
        validator = h.validator;
        serverCloses = h.close;
        // the acceptance rules: anything but a usable 206 or 200 ends the request here
        let o: RangeOutcome | null = null;
        if (status === 206 || status === 200) {
          if (h.ce !== "" && h.ce !== "identity") o = { kind: "protocol", message: "Content-Encoding " + h.ce + " (asked for identity)" };
          else if (h.te !== "" && h.te !== "chunked") o = { kind: "protocol", message: "unsupported Transfer-Encoding " + h.te };
          else if (h.te !== "") framing = Framing.ByChunks;
          else if (h.cl >= 0) {
            framing = Framing.ByLength;
            left = h.cl;
          }
        }
        if (o !== null) {
          // refused before the status-specific rules
        } else if (status === 206) {
          if (h.first < 0) o = { kind: "bad-range", message: "206 without a usable Content-Range: " + h.range };
          else if (h.total !== size) {
            o = h.total < 0 ? { kind: "bad-range", message: "206 with an unknown total: " + h.range } : { kind: "size-mismatch", total: h.total };
          } else if (h.first !== start || h.last > end) {
            o = { kind: "bad-range", message: "Content-Range " + h.range + " for bytes=" + start + "-" + end };
          } else {
            want = h.last - start + 1;
            if (framing === Framing.ByLength && left !== want) o = { kind: "bad-range", message: "Content-Length " + left + " for Content-Range " + h.range };
          }
        } else if (status === 200) {
          const length = framing === Framing.ByLength ? left : -1;
          if (length >= 0 && length !== size) o = { kind: "size-mismatch", total: length };
          else if (start >= size && length === size) o = { kind: "complete" };
          else if (start > 0 && !skipOn200) o = { kind: "range-ignored" };
          else {
            whole200 = true;
                    skip = start;
            want = end - start + 1;
          }
        } else if (status === 416) {
          if (h.total >= 0 && h.total !== size) o = { kind: "size-mismatch", total: h.total };
          else if (start >= size) o = { kind: "complete" };
          else if (h.total === size) o = { kind: "bad-range", message: "416 for a range inside the file: " + h.range };
          else o = { kind: "size-mismatch", total: -1 };
        } else if (status === 403) o = { kind: "forbidden" };
        else if (status === 404 || status === 410) o = { kind: "not-found" };
        else if (status >= 500 || status === 429) {
          o = h.retryMs === undefined ? { kind: "server-error" } : { kind: "server-error", retryAfterMs: h.retryMs };
        } else o = { kind: "bad-status" };
        if (o !== null) {
          settle(o);
          return;
        }
        // the parsed head is done with: let it go before the body's first bytes are written
        // (Espruino keeps a local until its function returns; this was a span's memory peak)
        h = null;
        phase = Phase.Body;
        if (framing === Framing.ByLength && left === 0) {
          settle(null);
          return;
        }
      }

      // The body: each turn passes one piece of data on (skipped, delivered, checked against
      // the range), or reads one chunk-size line.
      const n = d.length;
      while (pos < n) {
        if (framing === Framing.ByChunks && left === 0) {
          const nl = d.indexOf("\n", pos);
          if (nl < 0) {
            chunkLine += d.substring(pos);
            if (chunkLine.length > Limit.MaxChunkLine) throw otaError("HTTP_PROTOCOL", "chunk size line too long");
            return;
          }
          let text = chunkLine + d.substring(pos, nl);
          chunkLine = "";
          pos = nl + 1;
          if (text.length > Limit.MaxChunkLine) throw otaError("HTTP_PROTOCOL", "chunk size line too long");
          if (text.charAt(text.length - 1) === "\r") text = text.substring(0, text.length - 1);
          if (needCrlf) {
            if (text !== "") throw otaError("HTTP_PROTOCOL", "chunk data longer than its size");
            needCrlf = false;
            continue;
          }
          // hex digits, then optional ";extensions"; 7 digits = up to 256 MB per chunk: far
          // beyond any firmware, safe for 32-bit math
          let digits = text.indexOf(";");
          if (digits < 0) digits = text.length;
          while (digits > 0 && (text.charAt(digits - 1) === " " || text.charAt(digits - 1) === "\t")) digits--;
          let chunk = digits >= 1 && digits <= 7 ? parseInt(text.substring(0, digits), 16) : -1;
          for (let i = 0; i < digits; i++) {
            const c = text.charCodeAt(i);
            if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102))) chunk = -1;
          }
          if (chunk < 0) throw otaError("HTTP_PROTOCOL", "bad chunk size '" + text.substring(0, 20) + "'");
          if (chunk === 0) {
            // the last chunk (its trailers are not needed)
            settle(null);
            return;
          }
          left = chunk;
          continue;
        }
        let take = n - pos;
        if (framing !== Framing.ByClose && take > left) take = left;
        // A piece that is not the socket's own string is a copy: at most Limit.Piece bytes of it
        // at a time (the body after a response head was a 31-JsVar copy beside its 55-JsVar read,
        // the update's peak on the ESP32 format).
        if (take < n && take > Limit.Piece) take = Limit.Piece;
        let piece = take === n ? d : d.substring(pos, pos + take);
        pos += take;
        if (framing !== Framing.ByClose) left -= take;
        if (framing === Framing.ByChunks && left === 0) needCrlf = true;
        // bytes past Content-Length are not part of this response (Connection: close)
        const ended = framing === Framing.ByLength && left === 0;
        bodyBytes += take;
        if (skip > 0) {
          if (take <= skip) {
            skip -= take;
            piece = "";
          } else {
            piece = piece.substring(skip);
            skip = 0;
          }
        }
        const over = piece.length > want - received;
        if (over) piece = piece.substring(0, want - received);
        if (piece !== "") {
          try {
            sink.onData(piece, start + received);
          } catch (e) {
            settle({ kind: "sink-error", error: e });
            return;
          }
          received += piece.length;
          if (phase !== Phase.Body) return; // aborted from inside onData
        }
        if (over) {
          settle(whole200 ? { kind: "ok", end: start + received - 1 } : { kind: "protocol", message: "body longer than the announced range" });
          return;
        }
        // a chunked or close-delimited 206 that filled its range must still end cleanly: waiting
        // for its end is what makes "more bytes than announced" detectable at all
        if (received === want && (whole200 || framing === Framing.ByLength)) {
          // the body ends with this read and nothing follows it: the socket can carry the next
          // request, if there is one (a socket closed at the file's end is gone before onDone)
          keep = framing === Framing.ByLength && left === 0 && pos === n && !serverCloses && end + 1 < size;
          settle({ kind: "ok", end: start + received - 1 });
          return;
        }
        if (ended) {
          settle(null);
          return;
        }
      }
    } catch (e) {
      settle({ kind: "protocol", message: errorText(e) });
    }
  }

  function onClose(): void {
    socketClosed = true;
    link.s = null;
    if (phase === Phase.Done) return;
    if (phase === Phase.Closing) {
      // closed as asked: onDone now rather than after the grace period
      if (timer !== null) clock.cancel(timer);
      timer = clock.after(0, settle);
      return;
    }
    if (phase === Phase.Connecting) settle({ kind: "connect-failed", message: "connection failed" });
    else if (reused && lastByteAt === startedAt) settle({ kind: "stale" });
    else if (phase === Phase.Body && framing === Framing.ByClose && (received === want || (whole200 && bodyBytes >= size))) settle(null);
    else settle({ kind: "short" });
  }

  timer = clock.after(stallMs < requestMs ? stallMs : requestMs, settle);
  link = { onConnect: onSocket, onData: onSocket, onClose: onClose, s: null, o: (u.tls ? "s" : "") + origin };
  reused = !!(req.conn && req.conn.s && req.conn.o === link.o);
  if (reused) {
    // the kept socket's events come here from now on; the request that kept it is over
    link = req.conn as Conn;
    link.onConnect = link.onData = onSocket;
    link.onClose = onClose;
    socket = link.s;
    link.s = null;
    phase = Phase.Head;
    (socket as Socket).write(request);
    request = "";
  } else if (u.tls && !net.hasTls) {
    settle({ kind: "connect-failed", message: "TLS is not available on this platform" });
  } else {
    // a socket kept for another origin (the URL changed) is of no further use
    if (req.conn && req.conn.s) req.conn.s.close();
    let sock: Socket | null = null;
    try {
      sock = net.connect(u.host, u.port, u.tls, link);
    } catch (e) {
      // Espruino throws here for an unknown host or a refused connection
      settle({ kind: "connect-failed", message: e instanceof Error ? e.message : String(e) });
    }
    // the port may have reported close (or we were aborted) before connect() even returned
    if (sock !== null && !socketClosed) {
      if (phase >= Phase.Closing) {
        try {
          sock.close();
        } catch (e) {
          /* already gone */
        }
      } else {
        socket = sock;
        // connected already: the port called onConnect from inside connect()
        if (phase !== Phase.Connecting && request !== "") {
          sock.write(request);
          request = "";
        }
      }
    }
  }
  // The closures keep this whole scope alive until the request is over: drop the parsed URL
  // (a signed URL's path and query can be a few hundred bytes) and the caller's request record.
  u = null;
  req = null!;
  return {
    conn: link,
    abort: function () {
      if (phase === Phase.Done) return;
      phase = Phase.Done;
      if (timer !== null) clock.cancel(timer);
      timer = null;
      if (socket !== null && !socketClosed) {
        try {
          socket.close();
        } catch (e) {
          /* already gone */
        }
      }
    },
  };
}
