import { test, after } from "node:test";
import assert from "node:assert/strict";
import { parseResponseHead, type ResponseHead } from "../../src/core/http/response-head";
import { isOtaError } from "../../src/core/errors";
import { chunked, fakeNet, rawResponse } from "../helpers/http-fake-net";
import { createNodeClock } from "../helpers/node-net-port";
import { runFetch } from "../helpers/http-fixtures";

const protocolError = (e: unknown) => isOtaError(e) && e.code === "HTTP_PROTOCOL";

/** Parses `text` (status line and header lines) as a complete head. */
function head(text: string): ResponseHead {
  const h = parseResponseHead(text + "\r\n", 0);
  assert.ok(h !== null);
  return h;
}

/** The Content-Range of a 206 carrying `v` as the head reports it (all -1: absent or malformed). */
function contentRange(v: string | null): { first: number; last: number; total: number } {
  const h = head("HTTP/1.1 206 Partial Content\r\n" + (v === null ? "" : "Content-Range: " + v + "\r\n"));
  return { first: h.first, last: h.last, total: h.total };
}

const NONE = { first: -1, last: -1, total: -1 };

test("the head ends at a CRLF or bare-LF blank line, found across reads from an offset", () => {
  assert.equal(parseResponseHead("HTTP/1.1 200 OK\r\nA: b\r\n\r\nBODY", 0)?.end, 25);
  assert.equal(parseResponseHead("HTTP/1.1 200 OK\nA: b\n\nBODY", 0)?.end, 22);
  assert.equal(parseResponseHead("HTTP/1.1 200 OK\r\nA: b\r\n", 0), null);
  const s = "HTTP/1.1 200 OK\r\nA: b\r\n\r\n";
  assert.equal(parseResponseHead(s, s.length - 5)?.end, s.length);
  // body bytes after the blank line never reach the header parser
  assert.equal(parseResponseHead("HTTP/1.1 200 OK\r\n\r\nno: header\r\n\r\n", 0)?.end, 19);
});

test("a head that stops right after a header line is not complete, even with Espruino's indexOf", async () => {
  // Espruino 2v29's String.indexOf also matches a needle that runs off the end of the string
  // (measured: "ab\n".indexOf("\n\r\n", 1) === 2). Emulate it while parsing.
  const indexOf = String.prototype.indexOf;
  String.prototype.indexOf = function (this: string, needle: string, from?: number): number {
    const r = indexOf.call(this, needle, from);
    if (r >= 0) return r;
    for (let i = Math.max(from ?? 0, 0); i < this.length; i++) if (needle.startsWith(this.substring(i))) return i;
    return -1;
  };
  try {
    assert.equal(parseResponseHead("HTTP/1.1 206 Partial Content\r\n", 0), null);
    assert.equal(parseResponseHead("HTTP/1.1 206 Partial Content\r\nA: b\r", 0), null);
    assert.equal(parseResponseHead("HTTP/1.1 206 Partial Content\n", 0), null);
    assert.equal(parseResponseHead("HTTP/1.1 200 OK\r\nA: b\r\n\r\n", 0)?.end, 25);
  } finally {
    String.prototype.indexOf = indexOf;
  }
});

test("a head over 8 KB is refused whether or not its end has arrived", () => {
  const big = "HTTP/1.1 200 OK\r\nX-Pad: " + "a".repeat(9000) + "\r\n";
  assert.throws(() => parseResponseHead(big, 0), protocolError);
  assert.throws(() => parseResponseHead(big + "\r\n", 0), protocolError);
  assert.equal(parseResponseHead("HTTP/1.1 200 OK\r\nX-Pad: " + "a".repeat(8000), 0), null);
});

test("head parser reads status and the headers it needs, case-insensitively", () => {
  const h = head(
    "HTTP/1.1 206 Partial Content\r\ncontent-LENGTH:  100 \r\nCONTENT-RANGE: bytes 0-99/1000\r\n" +
      'ETag: "abc"\r\nLast-Modified: Tue, 01 Jul 2025 10:00:00 GMT\r\nRetry-After: 5\r\nX-Junk: a:b:c\r\n' +
      "Transfer-Encoding: Chunked\r\nContent-Encoding: identity\r\n",
  );
  assert.equal(h.status, 206);
  assert.equal(h.cl, 100);
  assert.equal(h.range, "bytes 0-99/1000");
  assert.deepEqual([h.first, h.last, h.total], [0, 99, 1000]);
  assert.equal(h.te, "chunked");
  assert.equal(h.ce, "identity");
  assert.equal(h.retryMs, 5000);
  // a strong ETag is the validator, before Last-Modified
  assert.equal(h.validator, '"abc"');
  assert.equal(head("HTTP/1.0 404\r\n").status, 404);
  // without the headers: the defaults
  const bare = head("HTTP/1.1 200 OK\r\n");
  assert.deepEqual(
    [bare.cl, bare.te, bare.ce, bare.range, bare.first, bare.last, bare.total, bare.validator, bare.retryMs],
    [-1, "", "", null, -1, -1, -1, undefined, undefined],
  );
});

test("weak ETags are not validators; Last-Modified is used instead", () => {
  const h = head('HTTP/1.1 200 OK\r\nETag: W/"x"\r\nLast-Modified: Mon, 02 Jun 2025 00:00:00 GMT\r\n');
  assert.equal(h.validator, "Mon, 02 Jun 2025 00:00:00 GMT");
  assert.equal(head('HTTP/1.1 200 OK\r\nETag: W/"x"\r\n').validator, undefined);
  assert.equal(head("HTTP/1.1 503 x\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n").retryMs, undefined);
});

test("malformed heads are HTTP_PROTOCOL errors", () => {
  const bad = [
    "ICY 200 OK\r\n",
    "HTTP/2 200\r\n",
    "HTTP/1.1 2000 OK\r\n",
    "HTTP/1.1 20 OK\r\n",
    "HTTP/1.1 099 x\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n",
    "HTTP/1.1 200 OK\r\nA: b\r\n  folded\r\n",
    "HTTP/1.1 200 OK\r\nno colon here\r\n",
  ];
  for (const b of bad) assert.throws(() => head(b), protocolError, JSON.stringify(b));
  // the same Content-Length twice is harmless
  assert.equal(head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n").cl, 5);
});

test("Content-Range parsing is strict", () => {
  assert.deepEqual(contentRange("bytes 0-99/1000"), { first: 0, last: 99, total: 1000 });
  assert.deepEqual(contentRange("Bytes 5-5/*"), { first: 5, last: 5, total: -1 });
  assert.deepEqual(contentRange("bytes */1000"), { first: -1, last: -1, total: 1000 });
  assert.deepEqual(contentRange("bytes  7-8/9"), { first: 7, last: 8, total: 9 });
  for (const v of [null, "", "bytes 0-99", "bytes 10-9/100", "bytes 0-100/100", "bytes -1-5/10", "items 0-1/2", "bytes */*", "bytes 0-x/10", "bytes 0-1/1e3"]) {
    assert.deepEqual(contentRange(v), NONE, String(v));
  }
  // the last Content-Range counts, a malformed one included
  assert.deepEqual(contentRange("bytes 0-1/2\r\nContent-Range: bytes 0-x/2"), NONE);
});

// Chunked framing is decoded inside fetchRange (no decoder object): these run it over a
// scripted socket.
const clock = createNodeClock();
after(() => clock.dispose());
const SIZE = 600;
let BODY = "";
for (let i = 0; i < SIZE; i++) BODY += String.fromCharCode((i * 7) & 0xff);
const req = (end: number) => ({ url: "http://h/f", start: 0, end, totalSize: SIZE, stallTimeoutMs: 2000, requestTimeoutMs: 10000 });
const chunked206 = (wireBody: string, end: number) =>
  rawResponse("HTTP/1.1 206 Partial Content", [`Content-Range: bytes 0-${end}/${SIZE}`, "Transfer-Encoding: chunked"], wireBody);

test("chunked decoding is exact for every split point, including inside size lines and CRLFs", async () => {
  const wire = chunked(BODY, 97).replace("61\r\n", "61;ext=1\r\n") + "Trailer: x\r\n\r\n";
  const response = chunked206(wire, SIZE - 1);
  const bodyAt = response.length - wire.length;
  for (let cut = bodyAt; cut <= response.length; cut++) {
    const r = await runFetch({ net: fakeNet({ pieces: [response.substring(0, cut), response.substring(cut)] }), clock }, req(SIZE - 1), { lingerMs: 0 });
    assert.deepEqual(r.violations, []);
    assert.equal(r.result?.kind, "ok", "cut " + cut);
    assert.equal(r.bytes.toString("latin1"), BODY, "cut " + cut);
  }
  const bytewise = await runFetch({ net: fakeNet({ pieces: response.split("") }), clock }, req(SIZE - 1), { lingerMs: 0 });
  assert.deepEqual(bytewise.violations, []);
  assert.equal(bytewise.result?.kind, "ok");
  assert.equal(bytewise.bytes.toString("latin1"), BODY);
});

test("chunked decoding stops when the sink refuses and rejects bad framing", async () => {
  const stopped = await runFetch({ net: fakeNet({ pieces: [chunked206("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", 5)] }), clock }, req(5), {
    throwAfterBytes: 1,
  });
  assert.equal(stopped.result?.kind, "sink-error");
  assert.equal(stopped.bytes.toString("latin1"), "abc");
  const bad = ["zz\r\n", "3\r\nabcd\r\n", "\r\n", "123456789\r\n", "3 x\r\nabc\r\n", "1".repeat(2000)];
  for (const b of bad) {
    const r = await runFetch({ net: fakeNet({ pieces: [chunked206(b, 9)], closeAfter: false }), clock }, req(9), { lingerMs: 0 });
    assert.equal(r.result?.kind, "protocol", JSON.stringify(b.substring(0, 20)));
    assert.ok(r.result?.kind === "protocol" && r.result.message.indexOf("HTTP_PROTOCOL") === 0, JSON.stringify(b.substring(0, 20)));
  }
});
