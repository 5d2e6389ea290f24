import { test } from "node:test";
import assert from "node:assert/strict";
import {
  findHeadEnd,
  parseContentRange,
  parseResponseHead,
  retryAfterMs,
  validatorOf,
} from "../../src/core/http/response-head";
import { ChunkedDecoder, CHUNKS_END, CHUNKS_MORE, CHUNKS_STOPPED } from "../../src/core/http/chunked-decoder";
import { isOtaError } from "../../src/core/errors";
import { chunked } from "../helpers/http-fake-net";

const protocolError = (e: unknown) => isOtaError(e) && e.code === "HTTP_PROTOCOL";

test("findHeadEnd finds CRLF and bare-LF blank lines and resumes from an offset", () => {
  assert.equal(findHeadEnd("HTTP/1.1 200 OK\r\nA: b\r\n\r\nBODY", 0), 25);
  assert.equal(findHeadEnd("HTTP/1.1 200 OK\nA: b\n\nBODY", 0), 22);
  assert.equal(findHeadEnd("HTTP/1.1 200 OK\r\nA: b\r\n", 0), -1);
  const s = "HTTP/1.1 200 OK\r\nA: b\r\n\r\n";
  assert.equal(findHeadEnd(s, s.length - 5), s.length);
});

test("head parser reads status and the headers it needs, case-insensitively", () => {
  const h = parseResponseHead(
    "HTTP/1.1 206 Partial Content\r\ncontent-LENGTH:  100 \r\nCONTENT-RANGE: bytes 0-99/1000\r\n" +
      'ETag: "abc"\r\nLast-Modified: Tue, 01 Jul 2025 10:00:00 GMT\r\nRetry-After: 5\r\nX-Junk: a:b:c\r\n' +
      "Transfer-Encoding: Chunked\r\nContent-Encoding: identity\r\n",
  );
  assert.equal(h.status, 206);
  assert.equal(h.contentLength, 100);
  assert.equal(h.contentRange, "bytes 0-99/1000");
  assert.equal(h.etag, '"abc"');
  assert.equal(h.lastModified, "Tue, 01 Jul 2025 10:00:00 GMT");
  assert.equal(h.transferEncoding, "chunked");
  assert.equal(h.contentEncoding, "identity");
  assert.equal(retryAfterMs(h), 5000);
  assert.equal(validatorOf(h), '"abc"');
  assert.equal(parseResponseHead("HTTP/1.0 404\r\n").status, 404);
});

test("weak ETags are not validators; Last-Modified is used instead", () => {
  const h = parseResponseHead('HTTP/1.1 200 OK\r\nETag: W/"x"\r\nLast-Modified: Mon, 02 Jun 2025 00:00:00 GMT\r\n');
  assert.equal(validatorOf(h), "Mon, 02 Jun 2025 00:00:00 GMT");
  assert.equal(validatorOf(parseResponseHead('HTTP/1.1 200 OK\r\nETag: W/"x"\r\n')), undefined);
  assert.equal(retryAfterMs(parseResponseHead("HTTP/1.1 503 x\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n")), undefined);
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
  for (const b of bad) assert.throws(() => parseResponseHead(b), protocolError, JSON.stringify(b));
  // the same Content-Length twice is harmless
  assert.equal(parseResponseHead("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n").contentLength, 5);
});

test("Content-Range parsing is strict", () => {
  assert.deepEqual(parseContentRange("bytes 0-99/1000"), { first: 0, last: 99, total: 1000 });
  assert.deepEqual(parseContentRange("Bytes 5-5/*"), { first: 5, last: 5, total: -1 });
  assert.deepEqual(parseContentRange("bytes */1000"), { first: -1, last: -1, total: 1000 });
  for (const v of [null, "", "bytes 0-99", "bytes 10-9/100", "bytes 0-100/100", "bytes -1-5/10", "items 0-1/2", "bytes */*", "bytes 0-x/10", "bytes 0-1/1e3"]) {
    assert.equal(parseContentRange(v), null, String(v));
  }
});

function decodeAll(pieces: string[]): { body: string; state: number } {
  const d = new ChunkedDecoder();
  let body = "";
  let state = CHUNKS_MORE;
  for (const p of pieces) {
    state = d.feed(p, (piece) => {
      body += piece;
      return true;
    });
    if (state === CHUNKS_END) break;
  }
  return { body, state };
}

test("chunked decoder is exact for every split point, including inside size lines and CRLFs", () => {
  let body = "";
  for (let i = 0; i < 600; i++) body += String.fromCharCode((i * 7) & 0xff);
  const wire = chunked(body, 97).replace("61\r\n", "61;ext=1\r\n") + "Trailer: x\r\n\r\n";
  for (let cut = 0; cut <= wire.length; cut++) {
    const r = decodeAll([wire.substring(0, cut), wire.substring(cut)]);
    assert.equal(r.state, CHUNKS_END, "cut " + cut);
    assert.equal(r.body, body, "cut " + cut);
  }
  const bytewise = decodeAll(wire.split(""));
  assert.equal(bytewise.state, CHUNKS_END);
  assert.equal(bytewise.body, body);
});

test("chunked decoder stops when the consumer says so and rejects bad framing", () => {
  const d = new ChunkedDecoder();
  const got: string[] = [];
  assert.equal(
    d.feed("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", (p) => {
      got.push(p);
      return false;
    }),
    CHUNKS_STOPPED,
  );
  assert.deepEqual(got, ["abc"]);
  const bad = ["zz\r\n", "3\r\nabcd\r\n", "\r\n", "123456789\r\n", "3 x\r\nabc\r\n", "1".repeat(2000)];
  for (const b of bad) {
    assert.throws(() => new ChunkedDecoder().feed(b, () => true), protocolError, JSON.stringify(b.substring(0, 20)));
  }
});
