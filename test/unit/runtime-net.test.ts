// Espruino's net/tls sockets over the virtual network: synchronous connect failures, 8-bit
// string data in <= 536-byte chunks, Espruino's event order, and no life after a power cut.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { once } from "node:events";
import { Device } from "../../src/host/runtime/device";
import { NorFlash } from "../../src/host/runtime/nor-flash";
import { VirtualNetwork } from "../../src/host/runtime/virtual-network";

// Self-signed P-256 test certificate (Espruino verifies nothing, so any certificate will do).
const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgo3eDho61vVqlg6VH
HnRgAeYYzkdJ+B+ms0Nc6anFC3uhRANCAART/h+VAt4tn8FtCnwM/Ahwa9CW3BpP
LQUUNuxOzLsPunix/CqjZ2u0W20tGcLj24lOXs8qLpB3brmWsAxekspW
-----END PRIVATE KEY-----`;
const CERT = `-----BEGIN CERTIFICATE-----
MIIBfDCCASOgAwIBAgIUc3siciVBA7D9blqcBtWcZX7O9H8wCgYIKoZIzj0EAwIw
EzERMA8GA1UEAwwIb3RhLnRlc3QwIBcNMjYxMTIzMTgzNzMzWhgPMjEyNjEwMzAx
ODM3MzNaMBMxETAPBgNVBAMMCG90YS50ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEU/4flQLeLZ/BbQp8DPwIcGvQltwaTy0FFDbsTsy7D7p4sfwqo2drtFtt
LRnC49uJTl7PKi6Qd265lrAMXpLKVqNTMFEwHQYDVR0OBBYEFFdFkXHzmfA65uxI
a74wZiaHZmUZMB8GA1UdIwQYMBaAFFdFkXHzmfA65uxIa74wZiaHZmUZMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgZnfKE03LdZ2fGu9YPqyqkDNn
9vRNUwtgK55JU0vYeOACID5WcZP3rccS/dCeLz+gcWhJjGXA9Tv+xn+0yzY9g5os
-----END CERTIFICATE-----`;

async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function listen(server: net.Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

function allBytes(n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
}

/** A server at feed.example.com:7000 that sends 3000 bytes at once and closes. */
async function feed(t: { after(fn: () => void): void }) {
  const payload = allBytes(3000);
  const server = net.createServer((s) => s.end(payload));
  const port = await listen(server);
  t.after(() => server.close());
  const network = new VirtualNetwork();
  network.route("feed.example.com", 7000, port);
  return { payload, network };
}

/** Bundle helper: records every socket event into global `ev` and the data into `got`. */
const RECORDER = `
  var ev = [], got = "", sizes = [];
  function record(sock) {
    sock.on("data", function (d) { got += d; sizes.push(d.length); if (ev[ev.length - 1] !== "data") ev.push("data"); });
    sock.on("end", function () { ev.push("end"); });
    sock.on("error", function (e) { ev.push("error " + e.code + " " + e.message); });
    sock.on("close", function (hadError) { ev.push("close " + hadError); });
  }
`;

function device(bundle: string, network: VirtualNetwork): Device {
  const d = new Device({ bundle, network, flash: new NorFlash({ size: 4096 }) });
  d.boot();
  return d;
}

test("connect throws synchronously for an unknown host or an unrouted port", (t) => {
  const network = new VirtualNetwork();
  network.route("broker.example.com", 1883, 1); // the port is never used
  const d = device("", network);
  t.after(() => d.stop());
  const attempt = (host: string, port: number) =>
    d.evaluate(`
      var r;
      try { require("net").connect({host: ${JSON.stringify(host)}, port: ${port}}, function () {}); r = "no throw"; }
      catch (e) { r = (e instanceof InternalError) + " " + e.message; }
      r
    `);
  assert.equal(attempt("nowhere.example.com", 1883), "true Unable to locate host");
  assert.equal(attempt("broker.example.com", 8883), "true Unable to create socket");
  assert.equal(attempt("10.0.0.9", 80), "true Unable to create socket");
});

test("received bytes arrive as binary strings of at most 536 bytes, then end and close(false)", async (t) => {
  const { payload, network } = await feed(t);
  const d = device(
    RECORDER +
      `var s = require("net").connect({host: "feed.example.com", port: 7000}, function (sock) { ev.push("connect " + (sock === s)); });
       record(s);`,
    network,
  );
  t.after(() => d.stop());
  await waitFor(() => (d.evaluate("ev") as string[]).includes("close false"), "close");
  assert.deepEqual(d.evaluate("ev.join(',')"), "connect true,data,end,close false");
  const sizes = d.evaluate("sizes") as number[];
  assert.ok(sizes.every((n) => n > 0 && n <= 536), "chunk sizes " + sizes.join(","));
  assert.ok(sizes.length >= 6);
  const got = Buffer.from(d.evaluate("got") as string, "latin1");
  assert.deepEqual(got, payload);
});

test("write() sends 8-bit strings, stringifies typed arrays like Espruino, and drains", async (t) => {
  const received: Buffer[] = [];
  const server = net.createServer((s) => {
    s.on("data", (b) => received.push(b));
    s.on("end", () => s.end());
  });
  const port = await listen(server);
  t.after(() => server.close());
  const network = new VirtualNetwork();
  network.route("sink.example.com", 9, port);
  const big = "x".repeat(2000);
  const d = device(
    RECORDER +
      `var s = require("net").connect({host: "sink.example.com", port: 9}, function () {
         s.write("\\x00\\x80\\xff|");
         s.write(new Uint8Array([1, 2, 3]));
         var r = s.write("|${big}");
         ev.push("write returned " + r);
       });
       var drains = 0;
       s.on("drain", function () { drains++; if (drains === 2) s.end(); });
       record(s);`,
    network,
  );
  t.after(() => d.stop());
  await waitFor(() => (d.evaluate("ev") as string[]).includes("close false"), "close");
  assert.deepEqual(Buffer.concat(received), Buffer.concat([Buffer.from([0, 0x80, 0xff]), Buffer.from("|1,2,3|" + big)]));
  assert.deepEqual(d.evaluate("ev.join(',')"), "write returned false,end,close false");
  assert.equal(d.evaluate("drains"), 2, "once on connect with nothing queued, once after the writes");
});

test("data waits while nobody listens and is delivered once a 'data' listener is added", async (t) => {
  const server = net.createServer((s) => s.end("hello"));
  const port = await listen(server);
  t.after(() => server.close());
  const network = new VirtualNetwork();
  network.route("late.example.com", 1, port);
  const d = device(
    `var got = "";
     var s = require("net").connect({host: "late.example.com", port: 1}, function () {
       setTimeout(function () { s.on("data", function (d) { got += d; }); }, 1);
     });`,
    network,
  );
  t.after(() => d.stop());
  await waitFor(() => d.evaluate("got") === "hello", "late data");
});

test("a connection reset is an 'error' with Espruino's code, then close(true)", async (t) => {
  const server = net.createServer((s) => {
    s.write("partial");
    setTimeout(() => s.resetAndDestroy(), 10);
  });
  const port = await listen(server);
  t.after(() => server.close());
  const network = new VirtualNetwork();
  network.route("flaky.example.com", 80, port);
  const d = device(RECORDER + `record(require("net").connect({host: "flaky.example.com", port: 80}));`, network);
  t.after(() => d.stop());
  await waitFor(() => (d.evaluate("ev") as string[]).includes("close true"), "close(true)");
  assert.deepEqual(d.evaluate("ev.join(',')"), "data,error -9 connection reset,end,close true");
  assert.equal(d.evaluate("got"), "partial");
});

test("tls.connect talks TLS without checking the certificate and sends Espruino's SNI", async (t) => {
  let sni: string | false | null | undefined;
  const server = tls.createServer({ key: KEY, cert: CERT }, (s) => {
    sni = (s as tls.TLSSocket).servername;
    s.on("data", (b) => s.end(Buffer.concat([Buffer.from("echo:"), b])));
  });
  const port = await listen(server);
  t.after(() => server.close());
  const network = new VirtualNetwork();
  network.route("secure.example.com", 8883, port, { tls: true });
  const d = device(
    RECORDER + `var s = require("tls").connect({host: "secure.example.com", port: 8883}, function () { s.write("hi\\xfe"); }); record(s);`,
    network,
  );
  t.after(() => d.stop());
  await waitFor(() => (d.evaluate("ev") as string[]).includes("close false"), "tls close");
  assert.equal(d.evaluate("got"), "echo:hi\xfe");
  assert.equal(sni, "mbed TLS Server 1");
});

test("sockets and timers of a powered-off context never fire, and the server sees the socket die", async (t) => {
  let serverSocketClosed = false;
  let accepted = false;
  const server = net.createServer((s) => {
    accepted = true;
    s.on("close", () => (serverSocketClosed = true));
    s.on("error", () => {});
    setTimeout(() => s.writable && s.write("too late"), 150);
  });
  const port = await listen(server);
  t.after(() => server.close());
  const network = new VirtualNetwork();
  network.route("slow.example.com", 80, port);
  const d = device(
    `require("net").connect({host: "slow.example.com", port: 80}, function (s) {
       print("connected");
       s.on("data", function () { print("data after power cut!"); });
       s.on("close", function () { print("close after power cut!"); });
       setTimeout(function () { print("timer after power cut!"); }, 150);
     });`,
    network,
  );
  t.after(() => d.stop());
  await waitFor(() => d.log.includes("connected") && accepted, "connection");
  d.powerCut();
  await waitFor(() => serverSocketClosed, "server notices the dead socket");
  await new Promise((r) => setTimeout(r, 250));
  assert.deepEqual(d.log, ["connected"]);
});

test("a 0 ms timer set while a socket read is handled runs before the next read is handled, as Espruino's idle loop orders them", async (t) => {
  // 3000 bytes at once: several 536-byte reads are ready together, so without that order the
  // host would hand them all over before any of the timers
  const { payload, network } = await feed(t);
  const d = device(
    `var order = [], reads = 0, closed = false;
     var s = require("net").connect({host: "feed.example.com", port: 7000});
     s.on("data", function (d) { var n = ++reads; order.push("read " + n); setTimeout(function () { order.push("timer " + n); }, 0); });
     s.on("close", function () { closed = true; });`,
    network,
  );
  t.after(() => d.stop());
  await waitFor(() => d.evaluate("closed") === true, "close");
  await new Promise((r) => setTimeout(r, 20));
  const reads = d.evaluate("reads") as number;
  assert.ok(reads >= 6, "reads " + reads);
  const expected: string[] = [];
  for (let n = 1; n <= reads; n++) expected.push("read " + n, "timer " + n);
  assert.equal(d.evaluate("order.join(',')"), expected.join(","));
});
