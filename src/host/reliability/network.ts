// Hostile firmware hosts: the fault layer of src/host/sim/firmware-server.ts lies, cuts,
// stalls and reframes responses; each scenario says what the agent must make of it.
// The image is 192 KB (three 64 KB spans), so faults on request 2 land mid-download.
import { buildAppImage } from "../image/app-image-builder";
import { freePort } from "../sim/broker";
import { HAPPY, HAPPY_RECONNECTED, IMAGE, SPAN, between, nothingFetchedTwice, refetchWithin, requestEnds, rng, updateScenario } from "./common";
import type { Harness } from "./harness";
import type { Scenario } from "./types";

/** Arrival time of every request the firmware server gets (for Retry-After). */
function stampRequests(h: Harness): number[] {
  const times: number[] = [];
  const reqs = h.run.server.requests;
  const push = reqs.push.bind(reqs);
  reqs.push = (...items) => {
    for (let i = 0; i < items.length; i++) times.push(Date.now());
    return push(...items);
  };
  return times;
}

/** Another image of the same size and version: what a changed file on the server holds. */
function sameSizeOther(h: Harness, seed: number): Uint8Array {
  return buildAppImage({ version: h.version, projectName: "espruino", size: h.run.image.length, seed: seed + 7777 });
}

const ended = (h: Harness, kind: string) => h.run.server.requests.filter((r) => r.end === kind).length;
const logHas = (h: Harness, re: RegExp) => h.run.sim.device.log.some((l) => re.test(l));

export function networkScenarios(): Scenario[] {
  const group = "network" as const;
  const done = { outcome: "done" as const, story: HAPPY, runs: "1.1.0" };
  return [
    updateScenario({
      id: "net-reset-random",
      name: "connection reset (FIN) at three seeded random byte offsets",
      group,
      quick: true,
      expected: { ...done, notes: "each request resumes at the exact byte: every byte fetched once" },
      before: (h, ctx) => {
        const r = rng(ctx.seed);
        let at = between(r, 1, 15000);
        for (let i = 0; i < 3; i++) {
          h.run.server.faults.push({ kind: "reset-after", atOffset: at });
          h.fact("reset at " + at);
          at += SPAN + 1 + between(r, 0, 15000);
        }
      },
      after: (h) => {
        h.check(ended(h, "reset") === 3, `expected 3 reset requests, server saw: ${requestEnds(h)}`);
        nothingFetchedTwice(h);
      },
    }),
    updateScenario({
      id: "net-reset-rst",
      name: "TCP RST at two seeded random byte offsets (bytes in flight lost)",
      group,
      expected: { ...done, notes: "resumes from what actually arrived; at most the lost bytes are fetched again" },
      before: (h, ctx) => {
        const r = rng(ctx.seed);
        const a = between(r, 1000, 60000);
        h.run.server.faults.push({ kind: "reset-after", atOffset: a, rst: true });
        h.run.server.faults.push({ kind: "reset-after", atOffset: a + SPAN + between(r, 1000, 40000), rst: true });
      },
      after: (h) => {
        h.check(ended(h, "reset") === 2, `expected 2 reset requests, server saw: ${requestEnds(h)}`);
        refetchWithin(h, 1);
      },
    }),
    updateScenario({
      id: "net-stall-mid",
      name: "server stalls mid-body (connection open, no more data)",
      group,
      quick: true,
      expected: { ...done, notes: "stall timeout, then resume at the exact byte" },
      before: (h, ctx) => h.run.server.faults.push({ kind: "stall-after", atOffset: between(rng(ctx.seed), 70000, 120000) }),
      after: (h) => {
        h.check(ended(h, "stalled") === 1, `expected one stalled request, server saw: ${requestEnds(h)}`);
        h.check(logHas(h, /no data for \d+ ms/), "the stall was not logged as a stall");
        nothingFetchedTwice(h);
      },
    }),
    updateScenario({
      id: "net-stall-no-data",
      name: "server sends the head of a response, then nothing",
      group,
      expected: { ...done, notes: "stall timeout, same span again" },
      before: (h) => h.run.server.faults.push({ onRequest: 2, kind: "stall-after", bytes: 0 }),
      after: (h) => {
        h.check(h.run.server.requests[1]?.end === "stalled", "request 2 did not stall");
        nothingFetchedTwice(h);
      },
    }),
    updateScenario({
      id: "net-trickle",
      name: "slow trickle: every response in 512-byte pieces 10 ms apart",
      group,
      timeoutSec: 90,
      expected: { ...done, notes: "slow but alive is not a stall: no request abandoned" },
      before: (h) => h.run.server.faults.every({ kind: "trickle", pieceBytes: 512, delayMs: 10 }),
      after: (h) => {
        h.check(h.run.server.requests.every((r) => r.end === "complete"), `a slow request was abandoned: ${requestEnds(h)}`);
        nothingFetchedTwice(h);
      },
    }),
    updateScenario({
      id: "net-503-retry-after",
      name: "503 with Retry-After: 2 on request 2",
      group,
      quick: true,
      expected: { ...done, notes: "retries after the server's delay, capped at download.backoffMaxMs" },
      before: (h) => {
        h.scratch.times = stampRequests(h);
        h.run.server.faults.push({ onRequest: 2, kind: "status", status: 503, retryAfter: "2" });
      },
      after: (h) => {
        const t: number[] = h.scratch.times;
        const wait = Math.min(2000, h.board.download.backoffMaxMs);
        const gap = t[2] - t[1];
        h.fact(`request 3 came ${gap} ms after the 503`);
        h.check(gap >= wait * 0.9, `request 3 came ${gap} ms after the 503; Retry-After (capped) asks for ${wait} ms`);
        h.check(h.run.server.requests.length === 4, `expected 4 requests, got ${h.run.server.requests.length}`);
      },
    }),
    updateScenario({
      id: "net-500-twice",
      name: "500 on requests 2 and 3",
      group,
      expected: { ...done, notes: "transient server errors are retried with backoff, never reported as fail" },
      before: (h) => {
        h.run.server.faults.push({ onRequest: 2, kind: "status", status: 500 });
        h.run.server.faults.push({ onRequest: 3, kind: "status", status: 500 });
      },
      after: (h) => h.check(h.run.server.requests.length === 5, `expected 5 requests, got ${h.run.server.requests.length}`),
    }),
    updateScenario({
      id: "net-429-retry-after",
      name: "429 Too Many Requests with Retry-After: 1",
      group,
      expected: { ...done, notes: "treated like 503" },
      before: (h) => h.run.server.faults.push({ onRequest: 1, kind: "status", status: 429, retryAfter: "1" }),
    }),
    updateScenario({
      id: "net-403-fresh-url",
      name: "403 (expired URL) on request 3: a fresh URL is asked for",
      group,
      quick: true,
      expected: { outcome: "done", story: HAPPY_RECONNECTED, runs: "1.1.0", notes: "report_version makes the cloud push a newly signed URL; the download continues with it" },
      before: (h) => h.run.server.faults.push({ onRequest: 3, kind: "status", status: 403 }),
      after: (h) => {
        h.check(h.record.pushes.length === 2, `expected 2 pushes, got ${h.record.pushes.length}`);
        refetchWithin(h, 0.01);
      },
    }),
    updateScenario({
      id: "net-403-forever",
      name: "403 on every request: fresh URLs do not help",
      group,
      expected: {
        outcome: "failed",
        code: "-3",
        runs: "1.0.0",
        shape: { pattern: /^version 1\.0\.0, downloading 0(, version 1\.0\.0){1,4}, fail -3$/, text: "version 1.0.0, downloading 0, version 1.0.0 (one per fresh URL asked), fail -3" },
        notes: "after download.freshUrlRequests fresh URLs: fail -3 (signature expired); the target slot is never erased",
      },
      before: (h) => h.run.server.faults.every({ kind: "status", status: 403 }),
      after: (h) => {
        h.check(h.slotUntouched("ota_1"), "the target slot was written although no byte of firmware arrived");
        h.check(h.record.pushes.length === 1 + h.board.download.freshUrlRequests, `expected ${1 + h.board.download.freshUrlRequests} pushes, got ${h.record.pushes.length}`);
      },
    }),
    updateScenario({
      id: "net-404",
      name: "404 for the firmware URL",
      group,
      quick: true,
      expected: { outcome: "failed", code: "-2", story: ["version 1.0.0", "downloading 0", "fail -2"], runs: "1.0.0", notes: "terminal: fail -2 at once, target slot never erased" },
      before: (h) => h.run.server.faults.push({ kind: "status", status: 404 }),
      after: (h) => {
        h.check(h.slotUntouched("ota_1"), "the target slot was written");
        h.check(h.run.server.requests.length === 1, `a 404 was retried (${h.run.server.requests.length} requests)`);
      },
    }),
    updateScenario({
      id: "net-200-to-range",
      name: "200 with the whole file in answer to the Range request of span 2",
      group,
      quick: true,
      expected: { ...done, notes: "a 200 to a resume is never appended: the download starts again at byte 0 (or skips to its position in the same file)" },
      before: (h) => h.run.server.faults.push({ onRequest: 2, kind: "ignore-range" }),
      after: (h) => {
        h.check(h.run.server.requests[1]?.status === 200, "request 2 was not answered with 200");
        h.fact(logHas(h, /restarting download/) ? "restarted from byte 0" : "continued in the same file");
        // the ignored 200's body is in the socket buffers before the agent closes; on top of
        // it at most one span may be fetched again
        const extra = h.bytesFetched - h.run.image.length - (h.run.server.requests[1]?.bytesSent ?? 0);
        h.check(extra <= h.board.download.spanBytes, `fetched ${extra} bytes again besides the refused 200, more than one span`);
      },
    }),
    updateScenario({
      id: "net-content-range-wrong-start",
      name: "206 whose Content-Range starts at 0 instead of the asked offset (span 2)",
      group,
      quick: true,
      expected: { ...done, notes: "the body is refused (bad range), the span is asked again" },
      before: (h) => h.run.server.faults.push({ onRequest: 2, kind: "content-range", value: `bytes 0-${SPAN - 1}/${IMAGE}` }),
      after: (h) => {
        h.check(logHas(h, /Content-Range bytes 0-65535\/\d+ for bytes=65536-/), "the refusal was not logged");
        refetchWithin(h, 1);
      },
    }),
    updateScenario({
      id: "net-content-range-other-total",
      name: "206 whose Content-Range names another total size (span 2)",
      group,
      expected: { ...done, notes: "another total means another file: start again from 0, never merge" },
      before: (h) => h.run.server.faults.push({ onRequest: 2, kind: "content-range", value: `bytes ${SPAN}-${2 * SPAN - 1}/${IMAGE + 4096}` }),
      after: (h) => {
        h.check(logHas(h, /restarting download/), "the download did not start again");
        refetchWithin(h, 3);
      },
    }),
    updateScenario({
      id: "net-short-body",
      name: "body shorter than Content-Length (clean close after 10000 bytes of span 2)",
      group,
      quick: true,
      expected: { ...done, notes: "the bytes that came are kept; the next request starts at the exact byte" },
      before: (h) => h.run.server.faults.push({ onRequest: 2, kind: "short-body", bytes: 10000 }),
      after: (h) => {
        h.check(h.run.server.requests[1]?.end === "short", "request 2 was not cut short");
        nothingFetchedTwice(h);
      },
    }),
    updateScenario({
      id: "net-extra-bytes",
      name: "body longer than the announced range (junk appended to span 2)",
      group,
      expected: { ...done, notes: "refused; junk never reaches flash" },
      before: (h) => h.run.server.faults.push({ onRequest: 2, kind: "extra-bytes", bytes: 3000 }),
      after: (h) => refetchWithin(h, 1.1),
    }),
    updateScenario({
      id: "net-file-changed",
      name: "the file changes on the server between spans (new bytes, new ETag)",
      group,
      quick: true,
      expected: {
        outcome: "failed",
        code: "-4",
        runs: "1.0.0",
        shape: { pattern: /^version 1\.0\.0, downloading 0(, downloading 0)?, downloading 100, fail -4$/, text: "version 1.0.0, downloading 0, downloading 100, fail -4" },
        notes: "If-Range detects the change: the download restarts with the new file (never merged); its MD5 is not the announced one: fail -4, old image runs",
      },
      before: (h, ctx) => {
        const other = sameSizeOther(h, ctx.seed);
        h.scratch.other = other;
        h.run.server.faults.push({ onRequest: 2, kind: "replace-file", bytes: other });
      },
      after: (h) => {
        const other: Uint8Array = h.scratch.other;
        const slot = h.slotBytes("ota_1", other.length);
        h.check(Buffer.from(slot).equals(Buffer.from(other)), "the target slot holds a mix of the old and the new file");
        h.check(logHas(h, /the file changed on the server/), "the change was not detected between spans");
      },
    }),
    updateScenario({
      id: "net-file-fixed",
      name: "the server first serves a stale file, then the announced one (between spans)",
      group,
      expected: { ...done, notes: "the change is detected and the download restarts; the announced image is installed" },
      before: (h, ctx) => {
        const good = h.run.image;
        h.run.server.setFile("/fw.bin", sameSizeOther(h, ctx.seed));
        h.run.server.faults.push({ onRequest: 2, kind: "replace-file", bytes: good });
      },
      after: (h) => h.check(logHas(h, /restarting download: the file changed/), "the change was not detected"),
    }),
    updateScenario({
      id: "net-file-changed-no-validator",
      name: "the file changes between spans on a server without ETag or Last-Modified",
      group,
      expected: {
        outcome: "failed",
        code: "-4",
        runs: "1.0.0",
        story: ["version 1.0.0", "downloading 0", "downloading 100", "fail -4"],
        notes: "nothing to detect the change with between spans; the MD5 of what flash holds catches it: fail -4, old image runs",
      },
      before: (h, ctx) => {
        const f = h.run.server.faults;
        f.every({ kind: "header", name: "ETag", value: null });
        f.every({ kind: "header", name: "Last-Modified", value: null });
        f.push({ onRequest: 2, kind: "replace-file", bytes: sameSizeOther(h, ctx.seed) });
      },
    }),
    updateScenario({
      id: "net-ignores-range",
      name: "a server that ignores Range on every request (200, whole file)",
      group,
      timeoutSec: 90,
      expected: { ...done, notes: "the whole-file answer is usable: the agent must still finish (skipping what it has) and never merge" },
      before: (h) => h.run.server.faults.every({ kind: "ignore-range" }),
      // a working agent needs about a second; a livelock is called after 20
      waitMs: 20000,
      after: (h) => h.fact(`${h.run.server.requests.length} requests, ${h.bytesFetched} bytes fetched`),
    }),
    updateScenario({
      id: "net-chunked",
      name: "Transfer-Encoding: chunked on every response (997-byte chunks)",
      group,
      quick: true,
      expected: { ...done },
      before: (h) => h.run.server.faults.every({ kind: "chunked", chunkBytes: 997 }),
      after: (h) => nothingFetchedTwice(h),
    }),
    updateScenario({
      id: "net-close-delimited",
      name: "no Content-Length: every body ends when the connection closes",
      group,
      expected: { ...done },
      before: (h) => h.run.server.faults.every({ kind: "close-delimited" }),
      after: (h) => nothingFetchedTwice(h),
    }),
    updateScenario({
      id: "net-416-inside",
      name: "416 for a range inside the file (span 2)",
      group,
      expected: { ...done, notes: "the error body is never taken as firmware" },
      before: (h) => h.run.server.faults.push({ onRequest: 2, kind: "status", status: 416 }),
    }),
    updateScenario({
      id: "net-gzip",
      name: "Content-Encoding: gzip although identity was asked (span 2)",
      group,
      expected: { ...done, notes: "an encoded body is refused and the span asked again" },
      before: (h) => h.run.server.faults.push({ onRequest: 2, kind: "header", name: "Content-Encoding", value: "gzip" }),
    }),
    updateScenario({
      id: "net-captive-portal",
      name: "captive portal: every request answered 200 with an HTML page",
      group,
      timeoutSec: 120,
      waitMs: 100000,
      expected: {
        outcome: "failed",
        code: "-1",
        runs: "1.0.0",
        story: ["version 1.0.0", "downloading 0", "fail -1"],
        notes: "the page is never written to flash; after download.retryBudget tries: fail -1, old image runs",
      },
      before: (h) => h.run.server.faults.every({ kind: "status", status: 200, body: "<html><body>Please log in to the hotel Wi-Fi</body></html>\n" }),
      after: (h) => h.check(h.slotUntouched("ota_1"), "the HTML page reached the target slot"),
    }),
    updateScenario({
      id: "net-host-down",
      name: "firmware host refuses every connection",
      group,
      timeoutSec: 120,
      waitMs: 100000,
      expected: { outcome: "failed", code: "-1", runs: "1.0.0", story: ["version 1.0.0", "downloading 0", "fail -1"], notes: "retries with backoff, then fail -1; the target slot is never erased" },
      before: async (h) => {
        // a port nothing listens on, reachable for the board
        const port = await freePort();
        h.run.sim.addRoute({ host: "127.0.0.1", port, realPort: port });
        h.scratch.deadUrl = "http://127.0.0.1:" + port + "/fw.bin";
      },
      offer: (h) => h.offer({ url: () => h.scratch.deadUrl }),
      after: (h) => {
        h.check(h.slotUntouched("ota_1"), "the target slot was written");
        const fail = h.record.reports.find((r) => r.report?.progress?.state === "fail");
        const msg = String(fail?.report?.progress?.result_msg ?? "");
        h.check(/no progress after \d+ retries \((\d+) failed requests for this update in all\)/.test(msg), "the fail report does not count the failed requests: " + msg);
      },
    }),
  ];
}
