// The simulated firmware server itself: fault plan scheduling and the request log.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { FaultPlan, startFirmwareServer, type FirmwareServer } from "../../src/host/sim/firmware-server";
import { createNodeClock, createNodeNetPort } from "../helpers/node-net-port";
import { makeImage, runFetch, slice } from "../helpers/http-fixtures";

test("fault plan: targeted, queued (one per request), armed by offset, and every", () => {
  const plan = new FaultPlan();
  plan.push({ kind: "status", status: 503 });
  plan.push({ kind: "status", status: 404 });
  plan.push({ onRequest: 2, kind: "chunked" });
  plan.push({ kind: "reset-after", atOffset: 5000 });
  plan.every({ kind: "trickle", pieceBytes: 10, delayMs: 1 });
  assert.equal(plan.pending(), 4);
  assert.deepEqual(plan.takeForRequest(1).map((f) => f.kind), ["status", "trickle"]);
  const second = plan.takeForRequest(2);
  assert.deepEqual(second.map((f) => f.kind), ["chunked", "status", "trickle"]);
  assert.equal(second[1].kind === "status" && second[1].status, 404);
  assert.deepEqual(plan.takeForRequest(3).map((f) => f.kind), ["trickle"]);
  assert.deepEqual(plan.takeForRange(0, 4999), []);
  assert.deepEqual(plan.takeForRange(4000, 9999).map((f) => f.kind), ["reset-after"]);
  assert.deepEqual(plan.takeForRange(4000, 9999), []);
  assert.equal(plan.pending(), 0);
  plan.clear();
  assert.deepEqual(plan.takeForRequest(4), []);
});

const SIZE = 50_000;
const IMAGE = makeImage(SIZE, 3);
const clock = createNodeClock();
const netPort = createNodeNetPort();
let srv: FirmwareServer;

before(async () => {
  srv = await startFirmwareServer();
  srv.setFile("/a/b.bin", IMAGE, { etag: '"fixed-etag"' });
});
after(async () => {
  netPort.closeAll();
  await srv.close();
  clock.dispose();
});

function fetch(start: number, end: number, path = "/a/b.bin") {
  return runFetch(
    { net: netPort, clock },
    { url: srv.url(path), start, end, totalSize: SIZE, stallTimeoutMs: 2000, requestTimeoutMs: 10_000 },
  );
}

test("every request is logged with its range, status, bytes, faults and ending", async () => {
  const first = srv.requests.length;
  await fetch(100, 199);
  srv.faults.push({ kind: "reset-after", bytes: 10 });
  await fetch(0, 999);
  srv.faults.push({ kind: "status", status: 503, retryAfter: "1" });
  await fetch(0, 999);
  await srv.settled();
  const [a, b, c] = srv.requests.slice(first);
  assert.deepEqual(a, {
    n: first + 1,
    path: "/a/b.bin",
    query: "",
    range: "bytes=100-199",
    ifRange: null,
    status: 206,
    contentRange: `bytes 100-199/${SIZE}`,
    bytesSent: 100,
    faults: [],
    end: "complete",
    connection: a.connection,
  });
  assert.equal(b.bytesSent, 10);
  assert.deepEqual(b.faults, ["reset-after"]);
  assert.equal(b.end, "reset");
  assert.equal(c.status, 503);
  assert.deepEqual(c.faults, ["status"]);
});

test("the ETag given to setFile is served; a re-published file gets a new Last-Modified", async () => {
  const r1 = await fetch(0, 9);
  assert.equal(r1.result?.validator, '"fixed-etag"');
  srv.setFile("/c.bin", IMAGE.subarray(0, SIZE));
  const lm1 = (await fetch(0, 9, "/c.bin")).result?.validator;
  srv.setFile("/c.bin", IMAGE.subarray(0, SIZE), { etag: 'W/"weak"' });
  const lm2 = (await fetch(0, 9, "/c.bin")).result?.validator;
  assert.ok(lm2 && !lm2.startsWith('"') && !lm2.startsWith("W/"), "a weak ETag falls back to Last-Modified");
  assert.notEqual(lm1, lm2);
});

test("an offset-armed stall hits the first response that reaches the offset, once", async () => {
  srv.faults.push({ kind: "stall-after", atOffset: 30_000 });
  const before = await runFetch(
    { net: netPort, clock },
    { url: srv.url("/a/b.bin"), start: 0, end: 19_999, totalSize: SIZE, stallTimeoutMs: 150, requestTimeoutMs: 5000 },
  );
  assert.equal(before.result?.kind, "ok");
  const hit = await runFetch(
    { net: netPort, clock },
    { url: srv.url("/a/b.bin"), start: 20_000, end: 39_999, totalSize: SIZE, stallTimeoutMs: 150, requestTimeoutMs: 5000 },
  );
  assert.equal(hit.result?.kind, "timeout");
  assert.ok(hit.bytes.equals(slice(IMAGE, 20_000, 29_999)));
  const again = await fetch(20_000, 39_999);
  assert.equal(again.result?.kind, "ok");
});

test("a real RST may lose bytes in flight but never delivers wrong ones", async () => {
  srv.faults.push({ kind: "reset-after", bytes: 40_000, rst: true });
  const { result, bytes } = await fetch(0, SIZE - 1);
  assert.equal(result?.kind, "short");
  assert.ok(bytes.length <= 40_000);
  assert.ok(bytes.equals(slice(IMAGE, 0, bytes.length - 1)));
});

test("trickle splits even the response head across socket reads", async () => {
  srv.faults.push({ kind: "trickle", pieceBytes: 3, delayMs: 5 });
  const { result, bytes, chunks } = await fetch(0, 29);
  assert.equal(result?.kind, "ok");
  assert.ok(chunks >= 2, "the body arrived in several reads");
  assert.ok(bytes.equals(slice(IMAGE, 0, 29)));
});
