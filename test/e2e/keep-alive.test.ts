// The download over servers with different connection habits: one that keeps the connection
// (one socket for every span), one that closes after every response with or without saying so,
// one that caps the requests per connection, and a keep-alive server that misbehaves between
// responses. Each must end with the new image booted; what is asserted is how many connections
// and requests it took, never how long.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { runOta, resolveBoard, type OtaRun } from "../../src/host/sim/ota-run";
import type { FirmwareServer, RequestLog } from "../../src/host/sim/firmware-server";
import { bootedVersion } from "../../src/host/sim/story";

const SIZE = 300 * 1024;
const board = resolveBoard("host-sim");

interface Seen {
  /** Spans of the file served (the image with its signature trailer). */
  spans: number;
  /** Bytes of the file served. */
  fileBytes: number;
  connections: number;
  requests: RequestLog[];
  slotMd5: string;
  imageMd5: string;
  booted: string | null;
}

async function update(setup: (s: FirmwareServer) => void): Promise<{ result: string; resultMsg?: string; seen: Seen }> {
  let seen: Seen | undefined;
  const r = await runOta({
    imageSize: SIZE,
    faults: setup,
    inspect: (run: OtaRun) => {
      const ota1 = run.board.partitionTable.partitions.find((p) => p.label === "ota_1")!;
      const flash = run.sim.flash.snapshot();
      seen = {
        spans: Math.ceil(run.image.length / board.download.spanBytes),
        fileBytes: run.image.length,
        connections: run.server.connectionCount(),
        requests: run.server.requests.slice(),
        slotMd5: createHash("md5").update(flash.subarray(ota1.offset, ota1.offset + run.image.length)).digest("hex"),
        imageMd5: createHash("md5").update(run.image).digest("hex"),
        booted: bootedVersion(flash, run.board),
      };
    },
  });
  return { result: r.result, resultMsg: r.resultMsg, seen: seen! };
}

function assertInstalled(r: { result: string; resultMsg?: string; seen: Seen }): void {
  assert.equal(r.result, "done", r.resultMsg);
  assert.equal(r.seen.booted, "1.1.0");
  assert.equal(r.seen.slotMd5, r.seen.imageMd5, "ota_1 holds the image byte for byte");
}

const served = (s: Seen) => s.requests.filter((q) => q.status === 206 && q.end === "complete");

test("a keep-alive server: every span on one connection, one request per span", async () => {
  const r = await update((s) => (s.connections = { mode: "keep-alive" }));
  assertInstalled(r);
  assert.equal(r.seen.requests.length, r.seen.spans);
  assert.equal(r.seen.connections, 1);
});

test("a server that sends Connection: close after every response: a new connection per span, no request lost", async () => {
  const r = await update((s) => (s.connections = { mode: "close" }));
  assertInstalled(r);
  assert.equal(r.seen.requests.length, r.seen.spans);
  assert.equal(r.seen.connections, r.seen.spans);
});

test("a server that closes after every response without saying so: the update completes, one served span per connection", async () => {
  const r = await update((s) => (s.connections = { mode: "silent-close" }));
  assertInstalled(r);
  // a request sent on the socket just as the server closed it is asked again on a new connection
  assert.ok(served(r.seen).length >= r.seen.spans);
  assert.ok(r.seen.connections >= r.seen.spans, `${r.seen.connections} connections for ${r.seen.spans} spans`);
});

test("a server that caps requests per connection (the last one says Connection: close)", async () => {
  const r = await update((s) => (s.connections = { mode: "keep-alive", maxRequests: 2 }));
  assertInstalled(r);
  assert.equal(r.seen.requests.length, r.seen.spans);
  assert.equal(r.seen.connections, Math.ceil(r.seen.spans / 2));
  for (let c = 1; c <= r.seen.connections; c++) assert.ok(r.seen.requests.filter((q) => q.connection === c).length <= 2);
});

test("junk after every response on a kept connection: never taken as firmware, the image is exact", async () => {
  const r = await update((s) => s.faults.every({ kind: "garbage-after", data: "\r\n<html>junk between responses</html>\r\n" }));
  assertInstalled(r);
  // the junk closes the socket, whether it came with the body's end, while the socket idled, or
  // (a race) in front of the next response, which is then refused and asked again
  assert.ok(r.seen.connections >= r.seen.spans, `${r.seen.connections} connections for ${r.seen.spans} spans`);
});

test("the second response's head split into 7-byte reads on a kept connection", async () => {
  const r = await update((s) => s.faults.push({ onRequest: 2, kind: "trickle", pieceBytes: 7, delayMs: 0 }));
  assertInstalled(r);
  assert.equal(r.seen.requests.length, r.seen.spans);
  assert.equal(r.seen.connections, 1);
});

test("a span cut mid-way: the resumed request ends on the span grid, and so does every later one", async () => {
  const r = await update((s) => s.faults.push({ kind: "reset-after", bytes: 10000 }));
  assertInstalled(r);
  const span = board.download.spanBytes;
  const ranges = r.seen.requests.map((q) => /^bytes=(\d+)-(\d+)$/.exec(q.range ?? "")).filter((m) => m !== null);
  assert.ok(ranges.length >= r.seen.spans + 1, "the cut span was asked for again");
  const resumed = ranges.find((m) => Number(m![1]) % span !== 0)!;
  assert.ok(resumed, "one request starts where the cut left off, off the grid");
  for (const m of ranges) {
    const end = Number(m![2]) + 1;
    assert.ok(end % span === 0 || end === r.seen.fileBytes, `range ${m![0]} ends on the ${span}-byte grid or at the end of the file`);
  }
  assert.equal((Number(resumed[2]) + 1) % span, 0, "the resumed span is shorter instead of shifting later spans");
});
