// The status line and the few response headers a Range download acts on. Parsed once per
// response, only up to the blank line, so body bytes never reach the header parser.
// Two functions on purpose: on Espruino every function costs JsVars while the job is loaded,
// so finding the head's end, the Content-Range and the validator are all done in one pass.
import { otaError } from "../errors";

// A const enum: a literal in the bundle, not a module-level name that costs JsVars on the board.
const enum Limit {
  /** Headers larger than this are refused: a firmware server has no reason to send more. */
  HeadBytes = 8192,
}

export interface ResponseHead {
  status: number;
  /** Index in the buffer just past the blank line that ends the head: the body starts here. */
  end: number;
  /** Content-Length, -1 when absent. */
  cl: number;
  /** Lower-cased Transfer-Encoding, "" when absent. */
  te: string;
  /** Lower-cased Content-Encoding, "" when absent. */
  ce: string;
  /** Content-Range as sent (for messages), null when absent. */
  range: string | null;
  /**
   * Content-Range "bytes first-last/total". first = last = -1 for "bytes * /total" (without
   * the space: the form a 416 uses), total = -1 for "/*"; all three -1 when it is absent or malformed.
   */
  first: number;
  last: number;
  total: number;
  /** A strong ETag, or else Last-Modified: what If-Range may carry. Weak ETags cannot be used for ranges. */
  validator?: string;
  /** Retry-After in milliseconds when given as delay-seconds; HTTP dates are ignored (no wall clock needed). */
  retryMs?: number;
  /** The server closes the connection after this response: HTTP/1.0, or `Connection: close`. */
  close: boolean;
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
 * Parses the response head at the start of `buf` (which may hold body bytes after it).
 * Returns null while the blank line that ends the head has not arrived; `from` lets the caller
 * skip what it already searched (the terminator may straddle reads). Bare LF line ends are
 * tolerated, as HTTP/1.1 allows. Throws otaError("HTTP_PROTOCOL") on a malformed head or one
 * over Limit.HeadBytes (8192).
 */
export function parseResponseHead(buf: string, from: number): ResponseHead | null {
  // Espruino 2v29's indexOf also reports a needle that runs off the end of the string ("a\n"
  // has "\n\r\n" at 1: jswrap_string_indexOf compares with equalAtEndOfString), which would end
  // the head early when a read stops right after a header line: only a match that fits counts.
  const a = buf.indexOf("\n\r\n", from);
  const b = buf.indexOf("\n\n", from);
  const endA = a >= 0 && a + 3 <= buf.length ? a + 3 : -1;
  const endB = b >= 0 && b + 2 <= buf.length ? b + 2 : -1;
  const end = endA >= 0 && (endB < 0 || endA < endB) ? endA : endB;
  if (end > Limit.HeadBytes || (end < 0 && buf.length > Limit.HeadBytes)) {
    throw otaError("HTTP_PROTOCOL", "response head over " + Limit.HeadBytes + " bytes");
  }
  if (end < 0) return null;
  const h: ResponseHead = { status: 0, end: end, cl: -1, te: "", ce: "", range: null, first: -1, last: -1, total: -1, close: false };
  let etag = "";
  let modified = "";
  let retry = "";
  let why = "";
  let pos = 0;
  // one line per turn, without splitting the head into an array
  while (pos < end && !why) {
    let nl = buf.indexOf("\n", pos);
    if (nl < 0 || nl >= end) nl = end;
    let line = buf.substring(pos, nl);
    const first = pos === 0;
    pos = nl + 1;
    if (!first && (line === "" || line === "\r")) continue;
    // trim: spaces and tabs on the left (status line only: a header line starting with one is
    // folded), spaces, tabs and CR on the right
    let i = 0;
    let j = line.length;
    while (first && i < j && (line.charAt(i) === " " || line.charAt(i) === "\t")) i++;
    while (j > i && (line.charAt(j - 1) === " " || line.charAt(j - 1) === "\t" || line.charAt(j - 1) === "\r")) j--;
    const c0 = line.charAt(0);
    line = line.substring(i, j);
    if (first) {
      const code = parseDecimal(line.substring(9, 12));
      const afterCode = line.charAt(12);
      if (line.substring(0, 7) !== "HTTP/1." || line.charAt(8) !== " ") why = "bad status line '" + line.substring(0, 40) + "'";
      else if (code < 100 || code > 599 || (afterCode !== "" && afterCode !== " ")) why = "bad status code in '" + line.substring(0, 40) + "'";
      h.status = code;
      // HTTP/1.0 closes unless it negotiates keep-alive, which the device never asks for
      h.close = line.charAt(7) === "0";
      continue;
    }
    // obsolete line folding lets a value hide on the next line: refuse rather than misread
    if (c0 === " " || c0 === "\t") {
      why = "folded header line";
      break;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) {
      why = "header line without a name";
      break;
    }
    const name = line.substring(0, colon).toLowerCase();
    // "Content-Length : 9" must not be silently ignored (a request-smuggling classic)
    if (name.indexOf(" ") >= 0 || name.indexOf("\t") >= 0) {
      why = "whitespace in a header name";
      break;
    }
    i = colon + 1;
    while (line.charAt(i) === " " || line.charAt(i) === "\t") i++;
    const value = line.substring(i);
    if (name === "content-length") {
      const n = parseDecimal(value);
      if (n < 0) why = "bad Content-Length '" + value.substring(0, 20) + "'";
      else if (h.cl >= 0 && h.cl !== n) why = "conflicting Content-Length headers";
      h.cl = n;
    } else if (name === "transfer-encoding") {
      h.te = h.te === "" ? value.toLowerCase() : h.te + ", " + value.toLowerCase();
    } else if (name === "content-encoding") {
      h.ce = value.toLowerCase();
    } else if (name === "etag") {
      etag = value;
    } else if (name === "last-modified") {
      modified = value;
    } else if (name === "retry-after") {
      retry = value;
    } else if (name === "connection") {
      if (value.toLowerCase().indexOf("close") >= 0) h.close = true;
    } else if (name === "content-range") {
      // "bytes a-b/total", "bytes a-b/*" or "bytes */total"; anything else leaves -1/-1/-1
      h.range = value;
      h.first = h.last = h.total = -1;
      i = 6;
      while (value.charAt(i) === " " || value.charAt(i) === "\t") i++;
      const slash = value.indexOf("/", i);
      if (value.substring(0, 6).toLowerCase() !== "bytes " || slash < 0) continue;
      const spec = value.substring(i, slash);
      const totalText = value.substring(slash + 1);
      const total = totalText === "*" ? -1 : parseDecimal(totalText);
      if (total < 0 && totalText !== "*") continue;
      if (spec === "*") {
        h.total = total;
        continue;
      }
      const dash = spec.indexOf("-");
      const lo = dash < 0 ? -1 : parseDecimal(spec.substring(0, dash));
      const hi = dash < 0 ? -1 : parseDecimal(spec.substring(dash + 1));
      if (lo < 0 || hi < lo || (total >= 0 && hi >= total)) continue;
      h.first = lo;
      h.last = hi;
      h.total = total;
    }
  }
  if (why) throw otaError("HTTP_PROTOCOL", why);
  if (etag.charAt(0) === '"') h.validator = etag;
  else if (modified !== "") h.validator = modified;
  const seconds = parseDecimal(retry);
  if (seconds >= 0) h.retryMs = seconds * 1000;
  return h;
}
