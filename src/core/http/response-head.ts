// The status line and the few response headers a Range download acts on. Parsed once per
// response, only up to the blank line, so body bytes never reach the header parser.
import { otaError } from "../errors";

/** Headers larger than this are refused: a firmware server has no reason to send more. */
export const MAX_HEAD_BYTES = 8192;

export interface ResponseHead {
  status: number;
  /** -1 when absent. */
  contentLength: number;
  /** Lower-cased Transfer-Encoding, "" when absent. */
  transferEncoding: string;
  /** Lower-cased Content-Encoding, "" when absent. */
  contentEncoding: string;
  contentRange: string | null;
  etag: string | null;
  lastModified: string | null;
  retryAfter: string | null;
}

export interface ContentRange {
  /** -1 for "bytes * /total" (the form a 416 uses). */
  first: number;
  last: number;
  /** -1 when the server wrote "*" (length unknown). */
  total: number;
}

function protocolError(why: string): Error {
  return otaError("HTTP_PROTOCOL", why);
}

/** Non-negative decimal integer made only of digits (at most 15 of them), else -1. */
export function parseDecimal(s: string): number {
  if (s.length < 1 || s.length > 15) return -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  return parseInt(s, 10);
}

/**
 * Index just past the blank line that ends the head, or -1 if it has not arrived yet.
 * `from` lets the caller skip what it already searched (the terminator may straddle reads).
 * Bare LF line ends are tolerated, as HTTP/1.1 allows.
 */
export function findHeadEnd(buf: string, from: number): number {
  const a = buf.indexOf("\n\r\n", from);
  const b = buf.indexOf("\n\n", from);
  if (a >= 0 && (b < 0 || a < b)) return a + 3;
  return b >= 0 ? b + 2 : -1;
}

function trimValue(s: string): string {
  let i = 0;
  let j = s.length;
  while (i < j && (s.charAt(i) === " " || s.charAt(i) === "\t")) i++;
  while (j > i && (s.charAt(j - 1) === " " || s.charAt(j - 1) === "\t" || s.charAt(j - 1) === "\r")) j--;
  return s.substring(i, j);
}

/** Parses everything before the blank line. Throws otaError("HTTP_PROTOCOL") on malformed input. */
export function parseResponseHead(head: string): ResponseHead {
  const lines = head.split("\n");
  const statusLine = trimValue(lines[0]);
  if (statusLine.substring(0, 7) !== "HTTP/1." || statusLine.charAt(8) !== " ") {
    throw protocolError("bad status line '" + statusLine.substring(0, 40) + "'");
  }
  const status = parseDecimal(statusLine.substring(9, 12));
  const afterCode = statusLine.charAt(12);
  if (status < 100 || status > 599 || (afterCode !== "" && afterCode !== " ")) {
    throw protocolError("bad status code in '" + statusLine.substring(0, 40) + "'");
  }
  const h: ResponseHead = {
    status: status,
    contentLength: -1,
    transferEncoding: "",
    contentEncoding: "",
    contentRange: null,
    etag: null,
    lastModified: null,
    retryAfter: null,
  };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === "" || line === "\r") continue;
    const first = line.charAt(0);
    // obsolete line folding lets a value hide on the next line: refuse rather than misread
    if (first === " " || first === "\t") throw protocolError("folded header line");
    const colon = line.indexOf(":");
    if (colon <= 0) throw protocolError("header line without a name");
    const name = line.substring(0, colon).toLowerCase();
    // "Content-Length : 9" must not be silently ignored (a request-smuggling classic)
    if (name.indexOf(" ") >= 0 || name.indexOf("\t") >= 0) throw protocolError("whitespace in a header name");
    const value = trimValue(line.substring(colon + 1));
    if (name === "content-length") {
      const n = parseDecimal(value);
      if (n < 0) throw protocolError("bad Content-Length '" + value.substring(0, 20) + "'");
      if (h.contentLength >= 0 && h.contentLength !== n) throw protocolError("conflicting Content-Length headers");
      h.contentLength = n;
    } else if (name === "transfer-encoding") {
      h.transferEncoding = h.transferEncoding === "" ? value.toLowerCase() : h.transferEncoding + ", " + value.toLowerCase();
    } else if (name === "content-encoding") {
      h.contentEncoding = value.toLowerCase();
    } else if (name === "content-range") {
      h.contentRange = value;
    } else if (name === "etag") {
      h.etag = value;
    } else if (name === "last-modified") {
      h.lastModified = value;
    } else if (name === "retry-after") {
      h.retryAfter = value;
    }
  }
  return h;
}

/** "bytes a-b/total", "bytes a-b/*" or "bytes * /total" (without the space); null if malformed. */
export function parseContentRange(v: string | null): ContentRange | null {
  if (v === null || v.substring(0, 6).toLowerCase() !== "bytes ") return null;
  const spec = trimValue(v.substring(6));
  const slash = spec.indexOf("/");
  if (slash < 0) return null;
  const range = spec.substring(0, slash);
  const totalText = spec.substring(slash + 1);
  const total = totalText === "*" ? -1 : parseDecimal(totalText);
  if (total < 0 && totalText !== "*") return null;
  if (range === "*") return total < 0 ? null : { first: -1, last: -1, total: total };
  const dash = range.indexOf("-");
  if (dash < 0) return null;
  const first = parseDecimal(range.substring(0, dash));
  const last = parseDecimal(range.substring(dash + 1));
  if (first < 0 || last < first || (total >= 0 && last >= total)) return null;
  return { first: first, last: last, total: total };
}

/** A strong ETag, or else Last-Modified: what If-Range may carry. Weak ETags cannot be used for ranges. */
export function validatorOf(h: ResponseHead): string | undefined {
  // one value-carrying return at the end: Espruino 2v29 throws "Unexpected end of Input" when a
  // bare `return` (what terser makes of `return undefined`) is reached right before a function's `}`
  let v: string | undefined;
  if (h.etag !== null && h.etag.charAt(0) === '"') v = h.etag;
  else if (h.lastModified !== null && h.lastModified !== "") v = h.lastModified;
  return v;
}

/** Retry-After in milliseconds when given as delay-seconds; HTTP dates are ignored (no wall clock needed). */
export function retryAfterMs(h: ResponseHead): number | undefined {
  const s = h.retryAfter === null ? -1 : parseDecimal(h.retryAfter);
  return s < 0 ? undefined : s * 1000;
}
