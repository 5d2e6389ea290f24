// Espruino's HTTP client over the virtual network: string status codes, <= 536-byte binary
// chunks, Range requests, chunked decoding, synchronous failures, no abort, quiet early close.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { Device } from "../../src/host/runtime/device";
import { NorFlash } from "../../src/host/runtime/nor-flash";
import { VirtualNetwork } from "../../src/host/runtime/virtual-network";

async function waitFor(cond: () => boolean, what: string, ms = 4000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** 256 * 40 bytes: every byte value many times over, in a non-repeating order. */
const BODY = Buffer.from(Array.from({ length: 256 * 40 }, (_, i) => (i * 151 + (i >> 8) * 7) & 0xff));

interface Seen {
  method: string;
  url: string;
  rawHeaders: string[];
}

async function startServer(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", rawHeaders: req.rawHeaders });
    handler(req, res);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, seen, port: (server.address() as AddressInfo).port };
}

/** Serves BODY with Range support (only the "bytes=a-b" form the agent uses). */
function serveBody(req: http.IncomingMessage, res: http.ServerResponse): void {
  const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ""));
  if (m) {
    const a = Number(m[1]);
    const b = Math.min(Number(m[2]), BODY.length - 1);
    res.writeHead(206, { "Content-Length": b - a + 1, "Content-Range": `bytes ${a}-${b}/${BODY.length}` });
    res.end(BODY.subarray(a, b + 1));
  } else {
    res.writeHead(200, { "Content-Length": BODY.length, "X-Custom-Case": "kept" });
    res.end(BODY);
  }
}

/** A bundle that GETs `opts` and records status, headers, chunk sizes, body and events. */
function getter(opts: string): string {
  return `
    var r = { ev: [], sizes: [], body: "" };
    require("http").get(${opts}, function (res) {
      r.status = res.statusCode;
      r.statusType = typeof res.statusCode;
      r.headers = res.headers;
      r.hasDestroy = typeof res.destroy;
      res.on("data", function (d) { r.body += d; r.sizes.push(d.length); });
      res.on("end", function () { r.ev.push("end"); });
      res.on("close", function (hadError) { r.ev.push("close " + hadError); });
    }).on("error", function (e) { r.ev.push("error " + e.code + " " + e.message); });
  `;
}

function boot(bundle: string, network: VirtualNetwork): Device {
  const d = new Device({ bundle, network, flash: new NorFlash({ size: 4096 }) });
  d.boot();
  return d;
}

type Result = { ev: string[]; sizes: number[]; body: string; status: string; statusType: string; headers: Record<string, string>; hasDestroy: string };

test("GET delivers a string status and the exact bytes in chunks of at most 536", async (t) => {
  const { server, seen, port } = await startServer(serveBody);
  t.after(() => server.close());
  const network = new VirtualNetwork();
  network.route("ota.example.com", 8080, port);
  const d = boot(getter('"http://ota.example.com:8080/fw.bin?sig=1"'), network);
  t.after(() => d.stop());
  await waitFor(() => (d.evaluate("r.ev") as string[]).includes("close false"), "response close");
  const r = JSON.parse(d.evaluate("JSON.stringify(r)") as string) as Result;
  assert.equal(r.status, "200");
  assert.equal(r.statusType, "string");
  assert.equal(r.headers["X-Custom-Case"], "kept", "header names keep their case");
  assert.equal(r.hasDestroy, "undefined");
  assert.deepEqual(r.ev, ["end", "close false"]);
  assert.ok(r.sizes.every((n) => n > 0 && n <= 536), "sizes " + r.sizes.join(","));
  assert.ok(r.sizes.length >= Math.ceil(BODY.length / 536));
  assert.deepEqual(Buffer.from(r.body, "latin1"), BODY);
  // What the server saw: Espruino's request header.
  assert.equal(seen[0].method, "GET");
  assert.equal(seen[0].url, "/fw.bin?sig=1");
  const h = seen[0].rawHeaders;
  assert.deepEqual(h.slice(0, 4), ["User-Agent", "Espruino 2v29", "Connection", "close"]);
  assert.equal(h[h.indexOf("Host") + 1], "ota.example.com:8080");
});

test("a Range header passes through and gives 206 with the right slice", async (t) => {
  const { server, seen, port } = await startServer(serveBody);
  t.after(() => server.close());
  const network = new VirtualNetwork();
  network.route("cdn.example.com", 80, port);
  const d = boot(getter('{host: "cdn.example.com", port: 80, path: "/img", headers: {Range: "bytes=1000-5999"}}'), network);
  t.after(() => d.stop());
  await waitFor(() => (d.evaluate("r.ev") as string[]).includes("close false"), "response close");
  const r = JSON.parse(d.evaluate("JSON.stringify(r)") as string) as Result;
  assert.equal(r.status, "206");
  assert.deepEqual(Buffer.from(r.body, "latin1"), BODY.subarray(1000, 6000));
  const h = seen[0].rawHeaders;
  assert.equal(h[h.indexOf("Range") + 1], "bytes=1000-5999");
  assert.equal(h[h.indexOf("Host") + 1], "cdn.example.com", "port 80 is left out of Host");
});

test("a chunked response is decoded", async (t) => {
  const { server, port } = await startServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "application/octet-stream" }); // no length: Node sends it chunked
    let i = 0;
    const next = () => {
      if (i >= BODY.length) return res.end();
      res.write(BODY.subarray(i, i + 777));
      i += 777;
      setImmediate(next);
    };
    next();
  });
  t.after(() => server.close());
  const network = new VirtualNetwork();
  network.route("chunky.example.com", 80, port);
  const d = boot(getter('"http://chunky.example.com/"'), network);
  t.after(() => d.stop());
  await waitFor(() => (d.evaluate("r.ev") as string[]).includes("close false"), "response close");
  const r = JSON.parse(d.evaluate("JSON.stringify(r)") as string) as Result;
  assert.equal(r.headers["Transfer-Encoding"], "chunked");
  assert.deepEqual(Buffer.from(r.body, "latin1"), BODY);
  assert.ok(r.sizes.every((n) => n <= 536));
  assert.deepEqual(d.violations, []);
});

test("unknown host and unrouted port throw synchronously; request() throws only at end()", async (t) => {
  const network = new VirtualNetwork();
  network.route("ota.example.com", 80, 1);
  const d = boot("", network);
  t.after(() => d.stop());
  const tryIt = (code: string) => d.evaluate(`var m; try { ${code}; m = "no throw"; } catch (e) { m = e.message; } m`);
  assert.equal(tryIt('require("http").get("http://nowhere.example.com/x", function () {})'), "Unable to locate host");
  assert.equal(tryIt('require("http").get("http://ota.example.com:8080/x", function () {})'), "Unable to create socket");
  assert.equal(tryIt('var q = require("http").request({host: "nowhere.example.com", path: "/"}, function () {})'), "no throw");
  assert.equal(tryIt("q.end()"), "Unable to locate host");
  assert.equal(d.evaluate("typeof q.abort"), "undefined");
});

test("a body cut short by a clean close just ends: no 'error', close(false), fewer bytes", async (t) => {
  const { server, port } = await startServer((_req, res) => {
    res.writeHead(200, { "Content-Length": BODY.length });
    res.write(BODY.subarray(0, 3000), () => setTimeout(() => res.socket?.destroy(), 20));
  });
  t.after(() => server.close());
  const network = new VirtualNetwork();
  network.route("cut.example.com", 80, port);
  const d = boot(getter('"http://cut.example.com/"'), network);
  t.after(() => d.stop());
  await waitFor(() => (d.evaluate("r.ev") as string[]).some((e) => e.startsWith("close")), "response close");
  const r = JSON.parse(d.evaluate("JSON.stringify(r)") as string) as Result;
  assert.deepEqual(r.ev, ["end", "close false"]);
  assert.deepEqual(Buffer.from(r.body, "latin1"), BODY.subarray(0, 3000));
});

test("a reset mid-body is an 'error' on the request and close(true) on the response", async (t) => {
  const { server, port } = await startServer((_req, res) => {
    res.writeHead(200, { "Content-Length": BODY.length });
    res.write(BODY.subarray(0, 2000), () => setTimeout(() => res.socket?.resetAndDestroy(), 20));
  });
  t.after(() => server.close());
  const network = new VirtualNetwork();
  network.route("reset.example.com", 80, port);
  const d = boot(getter('"http://reset.example.com/"'), network);
  t.after(() => d.stop());
  await waitFor(() => (d.evaluate("r.ev") as string[]).some((e) => e.startsWith("close")), "response close");
  const r = JSON.parse(d.evaluate("JSON.stringify(r)") as string) as Result;
  assert.deepEqual(r.ev, ["error -9 connection reset", "end", "close true"]);
  assert.equal(r.body.length, 2000);
});

test("a response without Content-Length or chunking is flagged as unsafe on Espruino", async (t) => {
  const { server, port } = await startServer((req, res) => {
    res.useChunkedEncodingByDefault = false;
    res.writeHead(200, { Connection: "close" });
    res.end("until close");
  });
  t.after(() => server.close());
  const network = new VirtualNetwork();
  network.route("old.example.com", 80, port);
  const d = boot(getter('"http://old.example.com/"'), network);
  t.after(() => d.stop());
  await waitFor(() => (d.evaluate("r.ev") as string[]).includes("close false"), "response close");
  assert.equal(d.evaluate("r.body"), "until close");
  assert.equal(d.violations.length, 1);
  assert.match(d.violations[0], /neither Content-Length nor chunked/);
});

test("a download in flight stops dead at a power cut", async (t) => {
  const { server, port } = await startServer((_req, res) => {
    res.writeHead(200, { "Content-Length": BODY.length });
    res.write(BODY.subarray(0, 1000));
    setTimeout(() => res.writable && res.end(BODY.subarray(1000)), 40);
    res.on("error", () => {});
  });
  t.after(() => server.close());
  const network = new VirtualNetwork();
  network.route("slow.example.com", 80, port);
  const d = boot(getter('"http://slow.example.com/"') + 'setInterval(function () { print("alive"); }, 5);', network);
  t.after(() => d.stop());
  await waitFor(() => (d.evaluate("r.body.length") as number) >= 1000, "first bytes");
  d.powerCut();
  const logged = d.log.length;
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(d.log.length, logged, "no callback of the dead boot ran");
});
