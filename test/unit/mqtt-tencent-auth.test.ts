import { test } from "node:test";
import assert from "node:assert/strict";
import { sha256Bytes } from "../../src/core/crypto/sha256";
import net from "node:net";
import { once } from "node:events";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { Aedes } from "aedes";
import {
  tencentCredentials,
  tencentHost,
  TENCENT_NO_CLOCK_EXPIRY,
  type TencentAuthOptions,
} from "../../src/core/mqtt/tencent-auth";
import { MqttClient } from "../../src/core/mqtt/client";
import { isOtaError } from "../../src/core/errors";
import { createNodeClock, createNodeNetPort } from "../helpers/node-net-port";

const SECRET = "VGhpcyBpcyBhIGRldmljZSBzZWNyZXQh"; // base64 of "This is a device secret!"
const BASE: TencentAuthOptions = {
  productId: "E69UADXUYY",
  deviceName: "dev_01",
  deviceSecretBase64: SECRET,
  connId: "aZ09x",
  expiry: 1700000600,
};

const nativeSha256 = (d: Uint8Array) => new Uint8Array(createHash("sha256").update(d).digest());

/** What the platform computes to check a password. */
function expectedPassword(secretB64: string, username: string): string {
  return createHmac("sha256", Buffer.from(secretB64, "base64")).update(username, "latin1").digest("hex") + ";hmacsha256";
}

test("username, client id and password follow Tencent's key-authentication format", () => {
  const c = tencentCredentials(BASE, sha256Bytes);
  assert.equal(c.clientId, "E69UADXUYYdev_01");
  assert.equal(c.username, "E69UADXUYYdev_01;12010126;aZ09x;1700000600");
  assert.equal(c.password, expectedPassword(SECRET, c.username));
  assert.match(c.password, /^[0-9a-f]{64};hmacsha256$/);
});

test("the native SHA-256 path and the JS fallback give the same password, also for the C SDK's app id", () => {
  for (let i = 0; i < 5; i++) {
    const opts = { ...BASE, deviceSecretBase64: randomBytes(16 + i * 7).toString("base64"), sdkAppId: "21010406", expiry: 2147483647 - i };
    const js = tencentCredentials(opts, sha256Bytes);
    const native = tencentCredentials(opts, nativeSha256);
    assert.equal(js.username, `E69UADXUYYdev_01;21010406;aZ09x;${2147483647 - i}`);
    assert.equal(js.password, expectedPassword(opts.deviceSecretBase64, js.username));
    assert.equal(native.password, js.password);
  }
});

test("input the platform would refuse is a clear MQTT_CREDENTIALS error", () => {
  const bad: [Partial<TencentAuthOptions>, RegExp][] = [
    [{ productId: "" }, /required/],
    [{ deviceName: "a;b" }, /must not contain ';'/],
    [{ connId: "abcd" }, /5 characters/],
    [{ connId: "ab-cd" }, /\[a-zA-Z0-9\]/],
    [{ expiry: 0 }, /expiry/],
    [{ expiry: 1700000000.5 }, /expiry/],
    [{ deviceSecretBase64: "" }, /empty/],
    [{ deviceSecretBase64: "not base64!" }, /not valid base64/],
  ];
  for (const [patch, pattern] of bad) {
    assert.throws(
      () => tencentCredentials({ ...BASE, ...patch }, sha256Bytes),
      (e: unknown) => isOtaError(e) && e.code === "MQTT_CREDENTIALS" && pattern.test(e.message),
      JSON.stringify(patch)
    );
  }
});

/** The connId and expiry fields of credentials signed without them, as the device signs. */
function drawn(random: () => number, unixNowSec: number): { connId: string; expiry: number } {
  const { connId, expiry, ...rest } = BASE;
  void connId;
  void expiry;
  const c = tencentCredentials({ ...rest, random, unixNowSec }, sha256Bytes);
  const parts = c.username.split(";");
  assert.equal(c.password, expectedPassword(SECRET, c.username));
  return { connId: parts[2], expiry: Number(parts[3]) };
}

test("without a connId, one of 5 alphanumerics is drawn from either kind of random source", () => {
  assert.equal(drawn(() => 0, 0).connId, "AAAAA");
  assert.equal(drawn(() => 0.999999, 0).connId, "99999");
  assert.equal(drawn(() => -1, 0).connId, "99999"); // 0xffffffff as a 32-bit integer
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const id = drawn(() => (Math.random() * 4294967296) | 0, 0).connId;
    assert.match(id, /^[a-zA-Z0-9]{5}$/);
    seen.add(id);
  }
  assert.ok(seen.size > 45, "ids vary");
});

test("without an expiry: a set clock gives now + 1 hour, an unset clock the 32-bit maximum, never more", () => {
  assert.equal(drawn(Math.random, 0).expiry, TENCENT_NO_CLOCK_EXPIRY);
  assert.equal(drawn(Math.random, 86400 * 3).expiry, TENCENT_NO_CLOCK_EXPIRY); // a few days after the epoch: never synced
  assert.equal(drawn(Math.random, 1750000000).expiry, 1750003600);
  assert.equal(drawn(Math.random, 1750000000.7).expiry, 1750003600);
  assert.equal(drawn(Math.random, 2147482000).expiry, TENCENT_NO_CLOCK_EXPIRY);
  assert.equal(TENCENT_NO_CLOCK_EXPIRY, 2 ** 31 - 1);
  assert.equal(tencentHost("E69UADXUYY"), "E69UADXUYY.iotcloud.tencentdevices.com");
});

test("MqttClient signs every connection afresh and a broker checking like Tencent accepts it", async (t) => {
  const connIds: string[] = [];
  const aedes = await Aedes.createBroker();
  aedes.authenticate = (client, username, password, done) => {
    const parts = (username ?? "").split(";");
    const ok =
      client.id === "E69UADXUYYdev_01" &&
      parts.length === 4 &&
      parts[0] === client.id &&
      Number(parts[3]) > Date.now() / 1000 &&
      password?.toString("latin1") === expectedPassword(SECRET, username!);
    connIds.push(parts[2]);
    done(ok ? null : Object.assign(new Error("auth"), { returnCode: 4 as const }), ok);
  };
  const conns = new Set<net.Socket>();
  const server = net.createServer((s) => {
    conns.add(s);
    s.on("close", () => conns.delete(s));
    aedes.handle(s);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const clock = createNodeClock();
  const netPort = createNodeNetPort();
  let connected = 0;
  const client = new MqttClient(
    { net: netPort, clock, random: Math.random, log: () => {} },
    {
      host: "127.0.0.1",
      port: (server.address() as net.AddressInfo).port,
      tls: false,
      clientId: "E69UADXUYYdev_01",
      keepaliveSec: 240,
      backoffMinMs: 10,
      backoffMaxMs: 20,
      credentials: () =>
        tencentCredentials({ productId: BASE.productId, deviceName: BASE.deviceName, deviceSecretBase64: SECRET, random: Math.random, unixNowSec: Date.now() / 1000 }, nativeSha256),
    },
    (event) => {
      if (event === "up") connected++;
    }
  );
  t.after(async () => {
    client.run(false);
    clock.dispose();
    netPort.closeAll();
    for (const s of conns) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => aedes.close(() => r()));
  });
  client.run(true);
  const until = async (cond: () => boolean) => {
    const end = Date.now() + 5000;
    while (!cond()) {
      if (Date.now() > end) throw new Error("timeout");
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  await until(() => connected === 1);
  for (const s of conns) s.destroy(); // force a reconnect
  await until(() => connected === 2);
  assert.equal(connIds.length, 2);
  assert.notEqual(connIds[0], connIds[1], "a new conn id per connection");
});
