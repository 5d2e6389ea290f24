// fetchRange over real sockets (node:net / node:tls through the NetPort) against the
// simulated firmware server, whose Range handling is the `send` library's.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startFirmwareServer, type FirmwareServer } from "../../src/host/sim/firmware-server";
import type { RangeRequest } from "../../src/core/http/range-request";
import { createNodeClock, createNodeNetPort } from "../helpers/node-net-port";
import { makeImage, runFetch, slice, type RunOptions } from "../helpers/http-fixtures";
import { makeTestCert } from "../../src/host/sim/test-cert";

const SIZE = 300_000;
const IMAGE = makeImage(SIZE, 7);
const clock = createNodeClock();
const netPort = createNodeNetPort();
const ports = { net: netPort, clock };
let srv: FirmwareServer;

before(async () => {
  srv = await startFirmwareServer();
  srv.setFile("/fw/app.bin", IMAGE);
});
after(async () => {
  netPort.closeAll();
  await srv.close();
  clock.dispose();
});
beforeEach(() => {
  srv.faults.clear();
  srv.setFile("/fw/app.bin", IMAGE);
});

function req(start: number, end: number, extra: Partial<RangeRequest> = {}): RangeRequest {
  return { url: srv.url("/fw/app.bin"), start, end, totalSize: SIZE, stallTimeoutMs: 2000, requestTimeoutMs: 10_000, ...extra };
}

async function fetch(r: RangeRequest, opts?: RunOptions) {
  const run = await runFetch(ports, r, opts);
  assert.deepEqual(run.violations, []);
  return run;
}

const nextRequest = () => srv.requests.length + 1;

test("spans cover the image byte-exact, with one validator across them", async () => {
  const spans = [
    [0, 99_999],
    [100_000, 199_999],
    [200_000, SIZE - 1],
  ];
  const parts: Buffer[] = [];
  const validators = new Set<string | undefined>();
  for (const [s, e] of spans) {
    const n = nextRequest();
    const { result, bytes } = await fetch(req(s, e));
    assert.deepEqual(result, { kind: "ok", end: e, status: 206, received: e - s + 1, validator: result?.validator });
    validators.add(result?.validator);
    parts.push(bytes);
    const log = srv.requests[n - 1];
    assert.equal(log.range, `bytes=${s}-${e}`);
    assert.equal(log.contentRange, `bytes ${s}-${e}/${SIZE}`);
  }
  assert.equal(validators.size, 1);
  assert.match([...validators][0] ?? "", /^"[0-9a-f]{32}"$/);
  assert.ok(Buffer.concat(parts).equals(Buffer.from(IMAGE)));
});

test("a span reaching past the end of the file stops at the file end", async () => {
  const { result, bytes } = await fetch(req(SIZE - 1000, SIZE + 5000));
  assert.equal(result?.kind === "ok" && result.end, SIZE - 1);
  assert.ok(bytes.equals(slice(IMAGE, SIZE - 1000, SIZE - 1)));
});

test("resume at an odd offset gets a 206 with a matching Content-Range", async () => {
  const { result, bytes } = await fetch(req(123_457, 150_000));
  assert.equal(result?.kind, "ok");
  assert.equal(result?.status, 206);
  assert.ok(bytes.equals(slice(IMAGE, 123_457, 150_000)));
});

test("a 200 to a resume is range-ignored with zero bytes, or skipped to the offset when asked", async () => {
  srv.faults.push({ kind: "ignore-range" });
  const ignored = await fetch(req(5000, 9999));
  assert.equal(ignored.result?.kind, "range-ignored");
  assert.equal(ignored.result?.status, 200);
  assert.equal(ignored.bytes.length, 0);

  srv.faults.push({ kind: "ignore-range" });
  const skipped = await fetch(req(5000, 9999, { skipToStartOn200: true }));
  assert.deepEqual(skipped.result, { kind: "ok", end: 9999, status: 200, received: 5000, validator: skipped.result?.validator });
  assert.ok(skipped.bytes.equals(slice(IMAGE, 5000, 9999)));

  srv.faults.push({ kind: "ignore-range" });
  const fromZero = await fetch(req(0, 65_535));
  assert.equal(fromZero.result?.kind === "ok" && fromZero.result.end, 65_535);
  assert.ok(fromZero.bytes.equals(slice(IMAGE, 0, 65_535)));
});

test("a wrong Content-Range is rejected and nothing is delivered", async () => {
  srv.faults.push({ kind: "content-range", value: `bytes 1001-2000/${SIZE}` });
  const { result, bytes } = await fetch(req(1000, 1999));
  assert.equal(result?.kind, "bad-range");
  assert.equal(bytes.length, 0);
});

test("416 at the end of the file means complete", async () => {
  const n = nextRequest();
  const { result } = await fetch(req(SIZE, SIZE + 99));
  assert.equal(result?.kind, "complete");
  assert.equal(srv.requests[n - 1].status, 416);
  assert.equal(srv.requests[n - 1].contentRange, `bytes */${SIZE}`);
});

test("403, 404 and 503 with Retry-After", async () => {
  srv.faults.push({ kind: "status", status: 403 });
  assert.equal((await fetch(req(0, 999))).result?.kind, "forbidden");
  srv.faults.push({ kind: "status", status: 503, retryAfter: "3" });
  const busy = (await fetch(req(0, 999))).result;
  assert.equal(busy?.kind, "server-error");
  assert.equal(busy?.status, 503);
  assert.equal(busy?.kind === "server-error" && busy.retryAfterMs, 3000);
  const missing = await fetch({ ...req(0, 999), url: srv.url("/fw/none.bin") });
  assert.equal(missing.result?.kind, "not-found");
});

test("a reset after N bytes reports short with exactly those N bytes", async () => {
  for (const n of [1, 10_000, 65_536, 99_999]) {
    srv.faults.push({ kind: "reset-after", bytes: n });
    const { result, bytes } = await fetch(req(1000, 100_999));
    assert.equal(result?.kind, "short", String(n));
    assert.equal(result?.received, n);
    assert.ok(bytes.equals(slice(IMAGE, 1000, 1000 + n - 1)));
  }
  srv.faults.push({ kind: "short-body", atOffset: 50_000 });
  const { result, bytes } = await fetch(req(20_000, 80_000));
  assert.equal(result?.kind, "short");
  assert.equal(result?.received, 30_000);
  assert.ok(bytes.equals(slice(IMAGE, 20_000, 49_999)));
});

test("resuming after every reset assembles the whole image", async () => {
  srv.faults.every({ kind: "reset-after", bytes: 65_536 });
  const parts: Buffer[] = [];
  let offset = 0;
  let validator: string | undefined;
  let rounds = 0;
  while (offset < SIZE) {
    const { result, bytes } = await fetch(req(offset, SIZE - 1, validator ? { ifRange: validator } : {}));
    assert.ok(result && (result.kind === "short" || result.kind === "ok"), result?.kind);
    validator = validator ?? result?.validator;
    assert.equal(result?.validator, validator);
    parts.push(bytes);
    offset += bytes.length;
    rounds++;
  }
  assert.equal(rounds, Math.ceil(SIZE / 65_536));
  assert.ok(Buffer.concat(parts).equals(Buffer.from(IMAGE)));
});

test("a stalled server is abandoned by the stall timer", async () => {
  srv.faults.push({ kind: "stall-after", bytes: 4000 });
  const n = nextRequest();
  const { result, bytes } = await fetch(req(0, 99_999, { stallTimeoutMs: 200 }));
  assert.equal(result?.kind === "timeout" && result.stalled, true);
  assert.equal(result?.received, 4000);
  assert.ok(bytes.equals(slice(IMAGE, 0, 3999)));
  await srv.settled();
  assert.equal(srv.requests[n - 1].end, "stalled");
});

test("a trickling server is abandoned by the request timer, not the stall timer", async () => {
  srv.faults.push({ kind: "trickle", pieceBytes: 200, delayMs: 20 });
  const { result, bytes } = await fetch(req(0, 99_999, { stallTimeoutMs: 200, requestTimeoutMs: 300 }));
  assert.equal(result?.kind === "timeout" && result.stalled, false);
  assert.ok(bytes.length > 0);
  assert.ok(bytes.equals(slice(IMAGE, 0, bytes.length - 1)));
});

test("chunked encoding is decoded byte-exact, also when trickled in tiny reads", async () => {
  srv.faults.push({ kind: "chunked", chunkBytes: 4093 });
  const big = await fetch(req(777, 200_776));
  assert.equal(big.result?.kind, "ok");
  assert.ok(big.bytes.equals(slice(IMAGE, 777, 200_776)));

  // 7-byte writes split the head, the size lines and the CRLFs across socket reads
  srv.faults.push({ kind: "chunked", chunkBytes: 50 });
  srv.faults.push({ onRequest: nextRequest(), kind: "trickle", pieceBytes: 7, delayMs: 1 });
  const tiny = await fetch(req(10, 609));
  assert.equal(tiny.result?.kind, "ok");
  assert.ok(tiny.chunks > 5);
  assert.ok(tiny.bytes.equals(slice(IMAGE, 10, 609)));
});

test("a body longer than the announced range is cut at the range end", async () => {
  for (const framing of [{ kind: "chunked" as const }, { kind: "close-delimited" as const }]) {
    const n = nextRequest();
    srv.faults.push({ onRequest: n, ...framing });
    srv.faults.push({ onRequest: n, kind: "extra-bytes", bytes: 100 });
    const { result, bytes } = await fetch(req(0, 9999));
    assert.equal(result?.kind, "protocol", framing.kind);
    assert.equal(result?.received, 10_000);
    assert.ok(bytes.equals(slice(IMAGE, 0, 9999)));
  }
  // with Content-Length the lie shows in the head: nothing is delivered
  srv.faults.push({ kind: "extra-bytes", bytes: 100 });
  const { result, bytes } = await fetch(req(0, 9999));
  assert.equal(result?.kind, "bad-range");
  assert.equal(bytes.length, 0);
});

test("a file changed between spans is caught by If-Range or by the size", async () => {
  const first = await fetch(req(0, 9999));
  const v1 = first.result?.validator;
  assert.ok(v1);

  const changed = makeImage(SIZE, 99);
  srv.faults.push({ kind: "replace-file", bytes: changed });
  const second = await fetch(req(10_000, 19_999, { ifRange: v1 }));
  assert.equal(second.result?.kind, "range-ignored");
  assert.equal(second.bytes.length, 0);
  assert.notEqual(second.result?.validator, v1);

  srv.faults.push({ kind: "replace-file", bytes: makeImage(SIZE + 10, 5) });
  const third = await fetch(req(20_000, 29_999));
  assert.equal(third.result?.kind, "size-mismatch");
  assert.equal(third.result?.kind === "size-mismatch" && third.result.total, SIZE + 10);
  assert.equal(third.bytes.length, 0);
});

test("connecting to a closed port is connect-failed", async () => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const { result } = await fetch({ ...req(0, 9), url: `http://127.0.0.1:${port}/x` });
  assert.equal(result?.kind, "connect-failed");
});

test("abort() mid-body stops every callback and closes the connection", async () => {
  srv.faults.push({ kind: "trickle", pieceBytes: 1000, delayMs: 2 });
  const n = nextRequest();
  const run = await fetch(req(0, 199_999), { abortAfterBytes: 3000, afterAbortMs: 100 });
  assert.equal(run.result, null);
  assert.ok(run.bytes.length >= 3000 && run.bytes.length < 200_000);
  await srv.settled();
  assert.equal(srv.requests[n - 1].end, "client-closed");
  assert.equal(netPort.openSockets(), 0);
});

test("https with a throw-away certificate, including a mid-body reset", async () => {
  const tlsSrv = await startFirmwareServer({ tls: makeTestCert() });
  try {
    tlsSrv.setFile("/fw/app.bin", IMAGE);
    const url = tlsSrv.url("/fw/app.bin");
    assert.match(url, /^https:/);
    const ok = await fetch({ ...req(1, 150_000), url });
    assert.equal(ok.result?.kind, "ok");
    assert.ok(ok.bytes.equals(slice(IMAGE, 1, 150_000)));
    tlsSrv.faults.push({ kind: "reset-after", bytes: 33_333 });
    const cut = await fetch({ ...req(0, 150_000), url });
    assert.equal(cut.result?.kind, "short");
    assert.ok(cut.bytes.equals(slice(IMAGE, 0, 33_332)));
  } finally {
    await tlsSrv.close();
  }
});
