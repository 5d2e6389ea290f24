import { test, after } from "node:test";
import assert from "node:assert/strict";
import { parseUrl } from "../../src/core/http/url";
import { fetchRange } from "../../src/core/http/range-request";
import { isOtaError } from "../../src/core/errors";
import { fakeNet } from "../helpers/http-fake-net";
import { createNodeClock } from "../helpers/node-net-port";
import { runFetch } from "../helpers/http-fixtures";

const clock = createNodeClock();
after(() => clock.dispose());

/** The Host header fetchRange sends for `url` (the request builds it from parseUrl's parts). */
async function hostHeader(url: string): Promise<string> {
  const net = fakeNet({ pieces: [] });
  await runFetch({ net, clock }, { url, start: 0, end: 0, totalSize: 1, stallTimeoutMs: 1000, requestTimeoutMs: 1000 }, { lingerMs: 0 });
  const line = net.written[0].split("\r\n").find((l) => l.startsWith("Host: "));
  assert.ok(line !== undefined);
  return line.substring(6);
}

test("http and https URLs split into host, default port and verbatim path+query", () => {
  assert.deepEqual(parseUrl("http://example.com/fw/app.bin"), { tls: false, host: "example.com", port: 80, path: "/fw/app.bin" });
  assert.deepEqual(parseUrl("https://ota-1255858890.cos.ap-guangzhou.myqcloud.com/a%20b.bin?sign=q%3Dx&t=1#frag"), {
    tls: true,
    host: "ota-1255858890.cos.ap-guangzhou.myqcloud.com",
    port: 443,
    path: "/a%20b.bin?sign=q%3Dx&t=1",
  });
  assert.deepEqual(parseUrl("HTTPS://h:8443"), { tls: true, host: "h", port: 8443, path: "/" });
  assert.deepEqual(parseUrl("http://h?x=1"), { tls: false, host: "h", port: 80, path: "/?x=1" });
  assert.deepEqual(parseUrl("http://10.0.0.2:8080/"), { tls: false, host: "10.0.0.2", port: 8080, path: "/" });
});

test("IPv6 literals lose their brackets in host and get them back in the Host header", async () => {
  const u = parseUrl("http://[::1]:8080/x");
  assert.deepEqual(u, { tls: false, host: "::1", port: 8080, path: "/x" });
  assert.equal(await hostHeader("http://[::1]:8080/x"), "[::1]:8080");
  assert.equal(await hostHeader("https://[fe80::2]/"), "[fe80::2]");
});

test("Host header carries the port only when it is not the scheme default", async () => {
  assert.equal(await hostHeader("http://a.b/x"), "a.b");
  assert.equal(await hostHeader("http://a.b:443/x"), "a.b:443");
  assert.equal(await hostHeader("https://a.b:443/x"), "a.b");
  assert.equal(await hostHeader("http://a.b:80/x"), "a.b");
});

test("anything else is MSG_INVALID", () => {
  const bad = [
    "ftp://h/x",
    "h/x",
    "http:/h/x",
    "http://user:pw@h/x",
    "http://@h/x",
    "http:///x",
    "http://h:0/x",
    "http://h:65536/x",
    "http://h:8a/x",
    "http://h/a b",
    "http://h/x\r\nInjected: 1",
    "http://h/\u00e9",
    "http://[::1/x",
    "http://[::1]x/",
    "http://[]/",
    "http://[127.0.0.1]/",
    "http://h]/",
  ];
  for (const u of bad) {
    assert.throws(
      () => parseUrl(u),
      (e: unknown) => isOtaError(e) && e.code === "MSG_INVALID",
      u,
    );
  }
  assert.throws(() => parseUrl(42 as unknown as string), (e: unknown) => isOtaError(e) && e.code === "MSG_INVALID");
  // and fetchRange refuses such a URL before it connects
  const net = fakeNet({ pieces: [] });
  assert.throws(
    () => fetchRange({ net, clock }, { url: "http://h/a b", start: 0, end: 0, totalSize: 1, stallTimeoutMs: 1, requestTimeoutMs: 1 }, { onData() {}, onDone() {} }),
    (e: unknown) => isOtaError(e) && e.code === "MSG_INVALID",
  );
  assert.equal(net.connects.length, 0);
});
