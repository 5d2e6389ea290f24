// fetchRange against a scripted socket: exact control over read boundaries and over the
// port's quirks. The real-server tests are in http-range-server.test.ts.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { fetchRange, type Conn } from "../../src/core/http/range-request";
import { isOtaError } from "../../src/core/errors";
import { createNodeClock } from "../helpers/node-net-port";
import { chunked, fakeNet, rawResponse, type FakeReply } from "../helpers/http-fake-net";
import { runFetch, type RunOptions } from "../helpers/http-fixtures";

const clock = createNodeClock();
after(() => clock.dispose());

const SIZE = 1000;
let FILE = "";
for (let i = 0; i < SIZE; i++) FILE += String.fromCharCode((i * 37 + 11) & 0xff);

function req(start: number, end: number, extra: object = {}) {
  return { url: "http://fw.example:8080/a.bin?sig=1", start, end, totalSize: SIZE, stallTimeoutMs: 1000, requestTimeoutMs: 5000, ...extra };
}

function r206(start: number, end: number, headers: string[] = []): string {
  const body = FILE.substring(start, end + 1);
  return rawResponse(
    "HTTP/1.1 206 Partial Content",
    [`Content-Range: bytes ${start}-${end}/${SIZE}`, `Content-Length: ${body.length}`, 'ETag: "v1"', ...headers],
    body,
  );
}

async function run(reply: FakeReply, request: ReturnType<typeof req>, opts?: RunOptions) {
  const net = fakeNet(reply);
  const r = await runFetch({ net, clock }, request, opts);
  assert.deepEqual(r.violations, []);
  return { ...r, net };
}

test("request line and headers are exactly what the server needs", async () => {
  const { net, result } = await run({ pieces: [r206(10, 99)] }, req(10, 99, { ifRange: '"v1"' }));
  assert.equal(result?.kind, "ok");
  assert.deepEqual(net.connects, [{ host: "fw.example", port: 8080, tls: false }]);
  const lines = net.written[0].split("\r\n");
  assert.equal(lines[0], "GET /a.bin?sig=1 HTTP/1.1");
  assert.ok(lines.includes("Host: fw.example:8080"));
  assert.ok(lines.includes("Range: bytes=10-99"));
  assert.ok(lines.includes("Accept-Encoding: identity"));
  // HTTP/1.1 persists by default: no Connection header, so a server may keep the socket for the next span
  assert.ok(!lines.some((l) => l.toLowerCase().startsWith("connection:")));
  assert.ok(lines.includes('If-Range: "v1"'));
  assert.ok(lines.some((l) => l.startsWith("User-Agent: ")));
  assert.ok(net.written[0].endsWith("\r\n\r\n"));
  assert.equal(net.written[0].indexOf("\r\n\r\n"), net.written[0].length - 4);
});

test("split points across head and chunked body (every third byte, then byte by byte) give the same bytes", async () => {
  const body = FILE.substring(100, 400);
  const wire = rawResponse(
    "HTTP/1.1 206 Partial Content",
    ["Content-Range: bytes 100-399/1000", "Transfer-Encoding: chunked", 'ETag: "v1"'],
    chunked(body, 64),
  );
  for (let cut = 1; cut < wire.length; cut += 3) {
    const { result, bytes } = await run({ pieces: [wire.substring(0, cut), wire.substring(cut)] }, req(100, 399), { lingerMs: 0 });
    assert.equal(result?.kind, "ok", "cut " + cut);
    assert.equal(bytes.toString("latin1"), body, "cut " + cut);
  }
  const bytewise = await run({ pieces: wire.split("") }, req(100, 399));
  assert.deepEqual(bytewise.result, { kind: "ok", end: 399, status: 206, received: 300, validator: '"v1"' });
  assert.equal(bytewise.bytes.toString("latin1"), body);
});

test("a 206 shorter than asked is delivered and reported with its real end", async () => {
  const { result, bytes } = await run({ pieces: [r206(0, 499)] }, req(0, 999));
  assert.deepEqual(result, { kind: "ok", end: 499, status: 206, received: 500, validator: '"v1"' });
  assert.equal(bytes.toString("latin1"), FILE.substring(0, 500));
});

test("Content-Range that does not match the request is bad-range with nothing delivered", async () => {
  const cases: [string, number, number][] = [
    ["bytes 11-99/1000", 10, 99],
    ["bytes 10-100/1000", 10, 99],
    ["bytes 10-99/*", 10, 99],
    ["bytes */1000", 10, 99],
    ["garbage", 10, 99],
  ];
  for (const [cr, s, e] of cases) {
    const wire = rawResponse("HTTP/1.1 206 Partial Content", [`Content-Range: ${cr}`, "Content-Length: 90"], FILE.substring(s, e + 1));
    const { result, bytes } = await run({ pieces: [wire] }, req(s, e));
    assert.equal(result?.kind, "bad-range", cr);
    assert.equal(bytes.length, 0, cr);
  }
  const missing = rawResponse("HTTP/1.1 206 Partial Content", ["Content-Length: 90"], FILE.substring(10, 100));
  assert.equal((await run({ pieces: [missing] }, req(10, 99))).result?.kind, "bad-range");
  const lengthDisagrees = r206(10, 99).replace("Content-Length: 90", "Content-Length: 91");
  const r = await run({ pieces: [lengthDisagrees] }, req(10, 99));
  assert.equal(r.result?.kind, "bad-range");
  assert.equal(r.bytes.length, 0);
});

test("a Content-Range total other than totalSize is size-mismatch", async () => {
  const wire = r206(10, 99).replace("/1000", "/1001");
  const { result, bytes } = await run({ pieces: [wire] }, req(10, 99));
  assert.equal(result?.kind, "size-mismatch");
  assert.equal(result?.kind === "size-mismatch" && result.total, 1001);
  assert.equal(bytes.length, 0);
});

test("bytes beyond the announced range are never delivered", async () => {
  const body = FILE.substring(10, 100);
  const closeDelimited = rawResponse("HTTP/1.1 206 Partial Content", ["Content-Range: bytes 10-99/1000"], body + "EXTRA");
  for (const pieces of [[closeDelimited], [closeDelimited.slice(0, -5), "EXTRA"]]) {
    const r = await run({ pieces }, req(10, 99));
    assert.equal(r.result?.kind, "protocol");
    assert.equal(r.result?.received, 90);
    assert.equal(r.bytes.toString("latin1"), body);
  }
  const chunkedExtra = rawResponse(
    "HTTP/1.1 206 Partial Content",
    ["Content-Range: bytes 10-99/1000", "Transfer-Encoding: chunked"],
    chunked(body + "EXTRA", 90),
  );
  const r = await run({ pieces: [chunkedExtra.substring(0, 150), chunkedExtra.substring(150)] }, req(10, 99));
  assert.equal(r.result?.kind, "protocol");
  assert.equal(r.bytes.toString("latin1"), body);
  // past Content-Length the bytes are not part of the response at all
  const trailing = await run({ pieces: [r206(10, 99) + "JUNK"] }, req(10, 99));
  assert.equal(trailing.result?.kind, "ok");
  assert.equal(trailing.bytes.toString("latin1"), body);
});

test("close-delimited 206 is ok only when the close comes exactly at the range end", async () => {
  const full = rawResponse("HTTP/1.1 206 Partial Content", ["Content-Range: bytes 10-99/1000"], FILE.substring(10, 100));
  assert.equal((await run({ pieces: [full] }, req(10, 99))).result?.kind, "ok");
  const cut = await run({ pieces: [full.slice(0, -30)] }, req(10, 99));
  assert.equal(cut.result?.kind, "short");
  assert.equal(cut.result?.received, 60);
});

test("a chunked 206 whose last chunk comes before the range end is a protocol error", async () => {
  const wire = rawResponse("HTTP/1.1 206 Partial Content", ["Content-Range: bytes 10-99/1000", "Transfer-Encoding: chunked"], chunked(FILE.substring(10, 60), 16));
  const r = await run({ pieces: [wire] }, req(10, 99));
  assert.equal(r.result?.kind, "protocol");
  assert.equal(r.result?.received, 50);
});

test("200 handling: whole file from 0 is cut at end; resume gets range-ignored or skips", async () => {
  const whole = rawResponse("HTTP/1.1 200 OK", [`Content-Length: ${SIZE}`, "Last-Modified: Mon, 02 Jun 2025 00:00:00 GMT"], FILE);
  const fromZero = await run({ pieces: [whole.substring(0, 300), whole.substring(300)] }, req(0, 199));
  assert.deepEqual(fromZero.result, { kind: "ok", end: 199, status: 200, received: 200, validator: "Mon, 02 Jun 2025 00:00:00 GMT" });
  assert.equal(fromZero.bytes.toString("latin1"), FILE.substring(0, 200));

  const ignored = await run({ pieces: [whole] }, req(500, 999));
  assert.equal(ignored.result?.kind, "range-ignored");
  assert.equal(ignored.bytes.length, 0);

  for (const pieces of [[whole], whole.match(/[\s\S]{1,7}/g) as string[]]) {
    const skipped = await run({ pieces }, req(500, 899, { skipToStartOn200: true }));
    assert.deepEqual(skipped.result, { kind: "ok", end: 899, status: 200, received: 400, validator: "Mon, 02 Jun 2025 00:00:00 GMT" });
    assert.equal(skipped.bytes.toString("latin1"), FILE.substring(500, 900));
  }
  const wrongLength = rawResponse("HTTP/1.1 200 OK", ["Content-Length: 999"], FILE.substring(0, 999));
  const mismatch = await run({ pieces: [wrongLength] }, req(0, 99));
  assert.equal(mismatch.result?.kind, "size-mismatch");
  assert.equal(mismatch.bytes.length, 0);
  const shorterChunked = rawResponse("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"], chunked(FILE.substring(0, 700), 100));
  const early = await run({ pieces: [shorterChunked] }, req(0, 999));
  assert.equal(early.result?.kind, "size-mismatch");
  assert.equal(early.result?.kind === "size-mismatch" && early.result.total, 700);
});

test("416 is complete only at or past the end of a file of the expected size", async () => {
  const r416 = (cr: string | null) =>
    rawResponse("HTTP/1.1 416 Range Not Satisfiable", cr ? [`Content-Range: ${cr}`, "Content-Length: 0"] : ["Content-Length: 0"], "");
  assert.equal((await run({ pieces: [r416("bytes */1000")] }, req(1000, 1000))).result?.kind, "complete");
  assert.equal((await run({ pieces: [r416(null)] }, req(1000, 1999))).result?.kind, "complete");
  const grown = (await run({ pieces: [r416("bytes */2000")] }, req(1000, 1000))).result;
  assert.equal(grown?.kind === "size-mismatch" && grown.total, 2000);
  assert.equal((await run({ pieces: [r416(null)] }, req(500, 999))).result?.kind, "size-mismatch");
  assert.equal((await run({ pieces: [r416("bytes */1000")] }, req(500, 999))).result?.kind, "bad-range");
});

test("error statuses map to their kinds without reading the body", async () => {
  const status = async (line: string, headers: string[] = []) =>
    (await run({ pieces: [rawResponse(line, [...headers, "Content-Length: 5"], "oops!")] }, req(0, 99))).result;
  assert.equal((await status("HTTP/1.1 403 Forbidden"))?.kind, "forbidden");
  assert.equal((await status("HTTP/1.1 404 Not Found"))?.kind, "not-found");
  assert.equal((await status("HTTP/1.1 410 Gone"))?.kind, "not-found");
  assert.deepEqual(await status("HTTP/1.1 503 Busy", ["Retry-After: 7"]), { kind: "server-error", retryAfterMs: 7000, status: 503, received: 0 });
  assert.deepEqual(await status("HTTP/1.1 429 Slow down"), { kind: "server-error", status: 429, received: 0 });
  assert.deepEqual(await status("HTTP/1.1 302 Found", ["Location: http://x/"]), { kind: "bad-status", status: 302, received: 0 });
});

test("interim 100 responses are skipped", async () => {
  const { result, bytes } = await run({ pieces: ["HTTP/1.1 100 Continue\r\n\r\n" + r206(0, 9)] }, req(0, 9));
  assert.equal(result?.kind, "ok");
  assert.equal(bytes.toString("latin1"), FILE.substring(0, 10));
});

test("compressed or oddly framed bodies are refused before any byte is delivered", async () => {
  for (const h of ["Content-Encoding: gzip", "Transfer-Encoding: gzip, chunked"]) {
    const { result, bytes } = await run({ pieces: [r206(0, 9, [h])] }, req(0, 9));
    assert.equal(result?.kind, "protocol", h);
    assert.equal(bytes.length, 0);
  }
  const badChunk = rawResponse("HTTP/1.1 206 Partial Content", ["Content-Range: bytes 0-9/1000", "Transfer-Encoding: chunked"], "zz\r\n");
  assert.equal((await run({ pieces: [badChunk] }, req(0, 9))).result?.kind, "protocol");
  const garbage = await run({ pieces: ["SSH-2.0-OpenSSH_9.6\r\n\r\n"] }, req(0, 9));
  assert.equal(garbage.result?.kind, "protocol");
});

test("a head over 8 KB is a protocol error, even when it never ends", async () => {
  const big = "HTTP/1.1 206 Partial Content\r\n" + "X-Pad: " + "a".repeat(9000) + "\r\n";
  const endless = await run({ pieces: [big], closeAfter: false }, req(0, 9));
  assert.equal(endless.result?.kind, "protocol");
  assert.ok(endless.net.clientCloses >= 1);
  const ended = await run({ pieces: [big + "\r\n"] }, req(0, 9));
  assert.equal(ended.result?.kind, "protocol");
});

test("connection closed before or during the head", async () => {
  const none = await run({ pieces: [] }, req(0, 9));
  assert.deepEqual(none.result, { kind: "short", status: 0, received: 0 });
  const half = await run({ pieces: ["HTTP/1.1 206 Partial"] }, req(0, 9));
  assert.equal(half.result?.kind, "short");
  const refused = await run({ pieces: [], refuse: true }, req(0, 9));
  assert.equal(refused.result?.kind, "connect-failed");
});

test("synchronous connect errors become connect-failed, reported after fetchRange returned", async () => {
  const r = await run({ pieces: [], throwOnConnect: "Unable to locate host" }, req(0, 9));
  assert.deepEqual(r.result, { kind: "connect-failed", message: "Unable to locate host", status: 0, received: 0 });
  assert.equal(r.returnedBeforeDone, true);
  const noTls = await run({ pieces: [], hasTls: false }, { ...req(0, 9), url: "https://h/x" });
  assert.equal(noTls.result?.kind, "connect-failed");
  assert.equal(noTls.net.connects.length, 0);
});

test("an Espruino-style port that reports close synchronously still gets exactly one deferred onDone", async () => {
  const r = await run({ pieces: [r206(0, 99, ["Connection: close"])], syncCloseCallback: true, closeAfter: false }, req(0, 99));
  assert.equal(r.result?.kind, "ok");
  assert.equal(r.returnedBeforeDone, true);
  assert.equal(r.net.clientCloses, 1);
});

test("a port that never confirms close still gets onDone (after the grace period)", async () => {
  const r = await run({ pieces: [r206(0, 99, ["Connection: close"])], swallowClose: true, closeAfter: false }, req(0, 99));
  assert.equal(r.result?.kind, "ok");
  assert.equal(r.bytes.length, 100);
});

test("a sink that throws ends the request as sink-error and gets nothing more", async () => {
  const { result, bytes, net } = await run({ pieces: [r206(0, 999).substring(0, 300), r206(0, 999).substring(300)] }, req(0, 999), {
    throwAfterBytes: 1,
  });
  assert.equal(result?.kind, "sink-error");
  assert.ok(result?.kind === "sink-error" && result.error instanceof Error);
  assert.equal(result?.received, 0);
  assert.ok(bytes.length > 0 && bytes.length < 300);
  assert.equal(net.clientCloses, 1);
});

test("abort from inside onData stops every callback", async () => {
  const wire = r206(0, 999);
  const r = await run({ pieces: [wire.substring(0, 400), wire.substring(400, 700), wire.substring(700)] }, req(0, 999), { abortAfterBytes: 1, afterAbortMs: 50 });
  assert.equal(r.result, null);
  assert.ok(r.bytes.length < 400);
  assert.equal(r.net.clientCloses, 1);
});

test("stall timer fires when nothing arrives, request timer when it arrives too slowly", async () => {
  const stalled = await run({ pieces: [r206(0, 999).substring(0, 500)], closeAfter: false }, req(0, 999, { stallTimeoutMs: 100 }));
  assert.equal(stalled.result?.kind === "timeout" && stalled.result.stalled, true);
  assert.equal(stalled.result?.received, 500 - (r206(0, 999).length - 1000));
  assert.equal(stalled.net.clientCloses, 1);
  const slow = await run({ pieces: r206(0, 999).match(/[\s\S]{1,10}/g) as string[] }, req(0, 999, { requestTimeoutMs: 1 }));
  assert.equal(slow.result?.kind === "timeout" && slow.result.stalled, false);
});

test("invalid requests throw MSG_INVALID synchronously", () => {
  const net = fakeNet({ pieces: [] });
  const sink = { onData() {}, onDone() {} };
  const bad = [
    { ...req(10, 9) },
    { ...req(-1, 9) },
    { ...req(0.5, 9) },
    { ...req(0, 9), totalSize: 0 },
    { ...req(0, 9), stallTimeoutMs: 0 },
    { ...req(0, 9), ifRange: '"a"\r\nX: y' },
    { ...req(0, 9), url: "ftp://x/y" },
  ];
  for (const b of bad) {
    assert.throws(() => fetchRange({ net, clock }, b, sink), (e: unknown) => isOtaError(e) && e.code === "MSG_INVALID", JSON.stringify(b));
  }
  assert.equal(net.connects.length, 0);
});

// ---- keep-alive: when a socket may carry the next span, and what a kept one does ----

test("a Content-Length response that ends with a read and says nothing about closing keeps its socket", async () => {
  const r = await run({ pieces: [r206(0, 99)], closeAfter: false }, req(0, 99));
  assert.equal(r.result?.kind, "ok");
  assert.equal(r.kept, true);
  const closing: [string, FakeReply][] = [
    ["Connection: close", { pieces: [r206(0, 99, ["Connection: close"])], closeAfter: false }],
    ["HTTP/1.0", { pieces: [r206(0, 99).replace("HTTP/1.1", "HTTP/1.0")], closeAfter: false }],
    ["bytes after the body in the same read", { pieces: [r206(0, 99) + "HTTP/1.1 200 OK\r\n"], closeAfter: false }],
    ["the file's last span (no request follows it)", { pieces: [r206(900, 999)], closeAfter: false }],
    ["chunked (its trailer is not read)", { pieces: [rawResponse("HTTP/1.1 206 Partial Content", ["Content-Range: bytes 0-99/1000", "Transfer-Encoding: chunked"], chunked(FILE.substring(0, 100), 50))], closeAfter: false }],
  ];
  for (const [why, reply] of closing) {
    const n = await run(reply, why.startsWith("the file's last") ? req(900, 999) : req(0, 99));
    assert.equal(n.result?.kind, "ok", why);
    assert.equal(n.kept, false, why);
    assert.equal(n.net.clientCloses, 1, why);
  }
});

test("bytes on a kept socket while it idles close it", async () => {
  const r = await run({ pieces: [r206(0, 99), "junk"], closeAfter: false }, req(0, 99), { keepConn: true, lingerMs: 50 });
  assert.equal(r.result?.kind, "ok");
  assert.equal(r.conn?.s, null, "no longer offered for reuse");
  assert.equal(r.net.clientCloses, 1);
});

/** A kept socket scripted by hand: what the next request writes on it, and what comes back. */
function keptSocket(origin: string, reply: string[], closeAfterReply: boolean) {
  const written: string[] = [];
  let closes = 0;
  const conn: Conn = { onConnect() {}, onData() {}, onClose() {}, s: null, o: origin };
  conn.s = {
    write(d: string) {
      written.push(d);
      setImmediate(() => {
        for (const p of reply) conn.onData(p);
        if (closeAfterReply) conn.onClose();
      });
    },
    close() {
      closes++;
      setImmediate(() => conn.onClose());
    },
  };
  return { conn, written, closes: () => closes };
}

test("the next request goes out on a kept socket of the same origin, without connecting", async () => {
  const k = keptSocket("fw.example:8080", [r206(100, 199)], false);
  const r = await run({ pieces: [] }, req(100, 199, { conn: k.conn }));
  assert.equal(r.result?.kind, "ok");
  assert.equal(r.bytes.toString("latin1"), FILE.substring(100, 200));
  assert.equal(r.net.connects.length, 0);
  assert.match(k.written[0], /^GET \/a\.bin\?sig=1 HTTP\/1\.1\r\n[^]*Range: bytes=100-199\r\n/);
  assert.equal(r.kept, true, "kept again for the span after");
});

test("a kept socket that closes before any byte of the answer is stale; one of another origin is closed, not used", async () => {
  const stale = keptSocket("fw.example:8080", [], true);
  const r = await run({ pieces: [] }, req(100, 199, { conn: stale.conn }));
  assert.deepEqual(r.result, { kind: "stale", status: 0, received: 0 });
  const other = keptSocket("other.example:8080", [], false);
  const o = await run({ pieces: [r206(100, 199)] }, req(100, 199, { conn: other.conn }));
  assert.equal(o.result?.kind, "ok");
  assert.equal(other.written.length, 0);
  assert.equal(other.closes(), 1);
  assert.equal(o.net.connects.length, 1);
});

test("garbage in front of the next response on a kept socket is a protocol error, nothing delivered", async () => {
  const k = keptSocket("fw.example:8080", ["\r\n<html>junk</html>\r\n" + r206(100, 199)], false);
  const r = await run({ pieces: [] }, req(100, 199, { conn: k.conn }));
  assert.equal(r.result?.kind, "protocol");
  assert.equal(r.bytes.length, 0);
  assert.equal(r.kept, false);
});

test("the body in a read after its response head goes on in pieces of at most 128 bytes; a read of body alone goes on whole", async () => {
  // one read: head and 900 bytes of body, which would otherwise be one 900-byte copy beside the read
  const whole = await run({ pieces: [r206(100, 999)] }, req(100, 999));
  assert.equal(whole.result?.kind, "ok");
  assert.equal(whole.bytes.toString("latin1"), FILE.substring(100, 1000));
  assert.equal(whole.chunks, Math.ceil(900 / 128));
  // head and 100 bytes, then the other 800 in a read of their own: that read's string is passed on as it is
  const wire = r206(100, 999);
  const split = wire.length - 800;
  const two = await run({ pieces: [wire.substring(0, split), wire.substring(split)] }, req(100, 999));
  assert.equal(two.result?.kind, "ok");
  assert.equal(two.bytes.toString("latin1"), FILE.substring(100, 1000));
  assert.equal(two.chunks, 2);
});
