// MqttClient against real brokers on 127.0.0.1: aedes for interoperability (with MQTT.js as the
// other party), and small scripted TCP servers for the failures aedes will not produce.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { Aedes } from "aedes";
import mqtt from "mqtt";
import { MqttClient, type MqttOptions } from "../../src/core/mqtt/client";
import { createNodeClock, createNodeNetPort, type NodeNetPortOptions } from "../helpers/node-net-port";

// ---------- harness ----------

/** One framed packet as the scripted broker sees it: the first byte and the body after the length. */
interface RawPacket {
  header: number;
  body: string;
}

/** The broker side's framing: splits a byte stream into packets (the device parses inline, in the client). */
function packetSplitter() {
  let buf = "";
  return (chunk: string): RawPacket[] => {
    buf += chunk;
    const out: RawPacket[] = [];
    for (;;) {
      let len = 0;
      let mul = 1;
      let i = 1;
      let c = 128;
      while (c & 128 && i < buf.length) {
        c = buf.charCodeAt(i++);
        len += (c & 127) * mul;
        mul *= 128;
      }
      if (c & 128 || buf.length < i + len) return out;
      out.push({ header: buf.charCodeAt(0), body: buf.substring(i, i + len) });
      buf = buf.substring(i + len);
    }
  };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Broker {
  aedes: Aedes;
  port: number;
  /** Server-side sockets, so a test can cut the line. */
  conns: Set<net.Socket>;
  close(): Promise<void>;
}

async function startBroker(t: TestContext, port = 0, setup?: (a: Aedes) => void): Promise<Broker> {
  const aedes = await Aedes.createBroker();
  setup?.(aedes);
  const conns = new Set<net.Socket>();
  const server = net.createServer((s) => {
    conns.add(s);
    s.on("close", () => conns.delete(s));
    aedes.handle(s);
  });
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const s of conns) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => aedes.close(() => r()));
  };
  t.after(close);
  return { aedes, port: (server.address() as net.AddressInfo).port, conns, close };
}

async function mqttJs(t: TestContext, port: number) {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  t.after(() => c.endAsync(true));
  return c;
}

function device(
  t: TestContext,
  port: number,
  opts: Partial<MqttOptions> = {},
  extra: { net?: NodeNetPortOptions; random?: () => number } = {}
) {
  const netPort = createNodeNetPort(extra.net);
  const clock = createNodeClock();
  const delays: number[] = [];
  const rec = {
    logs: [] as string[],
    connects: 0,
    reasons: [] as string[],
    messages: [] as { topic: string; payload: string }[],
    delays,
  };
  const client = new MqttClient(
    {
      net: netPort,
      clock: {
        now: clock.now,
        after: (ms, fn) => {
          delays.push(ms);
          return clock.after(ms, fn);
        },
        cancel: clock.cancel,
      },
      random: extra.random ?? Math.random,
      log: (s) => rec.logs.push(s),
    },
    {
      host: "127.0.0.1",
      port,
      tls: false,
      clientId: "dev1",
      username: "user",
      password: "pass",
      keepaliveSec: 30,
      backoffMinMs: 20,
      backoffMaxMs: 80,
      connectTimeoutMs: 3000,
      ...opts,
    },
    (event, a, b) => {
      if (event === "up") rec.connects++;
      else if (event === "down") rec.reasons.push(a!);
      else rec.messages.push({ topic: a!, payload: b! });
    }
  );
  t.after(() => {
    client.run(false);
    clock.dispose();
    netPort.closeAll();
  });
  return { client, rec, clock, net: netPort };
}

/** A TCP server that frames what the device sends and lets the test script the answers. */
async function scriptedBroker(t: TestContext, onPacket: (p: RawPacket, s: net.Socket, connIndex: number) => void) {
  const sockets: net.Socket[] = [];
  const received: { conn: number; header: number; body: string }[] = [];
  const server = net.createServer((s) => {
    const index = sockets.length;
    sockets.push(s);
    s.setEncoding("latin1");
    s.on("error", () => {});
    const split = packetSplitter();
    s.on("data", (d: string) => {
      for (const p of split(d)) {
        received.push({ conn: index, header: p.header, body: p.body });
        onPacket(p, s, index);
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const send = (s: net.Socket, bytes: string) => s.write(bytes, "latin1");
  return { port: (server.address() as net.AddressInfo).port, sockets, received, send };
}

const CONNACK_OK = "\x20\x02\x00\x00";

// ---------- interoperability with aedes + MQTT.js ----------

test("connects with credentials, receives what MQTT.js publishes, and publishes QoS 0/1 that MQTT.js receives", async (t) => {
  const auth: { id: string; user?: string; pass?: string }[] = [];
  const broker = await startBroker(t, 0, (a) => {
    a.authenticate = (client, username, password, done) => {
      if (client.id === "dev1") auth.push({ id: client.id, user: username, pass: password?.toString("latin1") });
      done(null, true);
    };
  });
  let subscribed = false;
  broker.aedes.on("subscribe", (subs, client) => {
    if (client?.id === "dev1" && subs.some((s) => s.topic === "$ota/update/P/D" && s.qos === 1)) subscribed = true;
  });
  const peer = await mqttJs(t, broker.port);
  const heard: { topic: string; payload: string; qos: number }[] = [];
  peer.on("message", (topic, payload, packet) => heard.push({ topic, payload: payload.toString("utf8"), qos: packet.qos }));
  await peer.subscribeAsync("$ota/report/P/D", { qos: 1 });

  const { client, rec } = device(t, broker.port, { keepaliveSec: 60 });
  client.subscribe("$ota/update/P/D");
  client.run(true);
  client.run(true); // a second run(true) is ignored
  await waitFor("connect and subscribe", () => client.connected && subscribed);
  assert.deepEqual(auth, [{ id: "dev1", user: "user", pass: "pass" }]);
  assert.equal(rec.connects, 1);

  const firmware = JSON.stringify({ type: "update_firmware", version: "1.2.0", url: "https://x/y?sign=a%3Db" });
  await peer.publishAsync("$ota/update/P/D", firmware, { qos: 1 });
  await waitFor("message", () => rec.messages.length === 1);
  assert.deepEqual(rec.messages[0], { topic: "$ota/update/P/D", payload: firmware });

  let acked = 0;
  assert.equal(client.publish("$ota/report/P/D", '{"n":0}', 0), true);
  assert.equal(client.publish("$ota/report/P/D", '{"n":1}', 1, () => acked++), true);
  await waitFor("both publishes at MQTT.js and the PUBACK", () => heard.length === 2 && acked === 1);
  assert.deepEqual(
    heard.map((h) => h.payload),
    ['{"n":0}', '{"n":1}']
  );
  assert.equal(heard[1].qos, 1);
  assert.equal(client.outbox.length, 0);
  assert.deepEqual(rec.reasons, []);
});

test("QoS 1 messages cut off mid-flight are replayed with DUP after reconnect, in order, once each", async (t) => {
  let firstConn: unknown = null;
  const dupFlags: boolean[] = [];
  const broker = await startBroker(t, 0, (a) => {
    a.authorizePublish = (client, packet, cb) => {
      if (client?.id !== "dev1") return cb(null);
      if (firstConn === null) firstConn = client.conn;
      if (client.conn === firstConn) {
        // The line dies before the broker handles anything from the first connection.
        client.conn.destroy();
        return cb(new Error("line cut"));
      }
      dupFlags.push(!!packet.dup);
      cb(null);
    };
  });
  const peer = await mqttJs(t, broker.port);
  const heard: string[] = [];
  peer.on("message", (_topic, payload) => heard.push(payload.toString()));
  await peer.subscribeAsync("out", { qos: 1 });

  // A backoff long enough that the test can act while the line is down.
  const { client, rec } = device(t, broker.port, { backoffMinMs: 300, backoffMaxMs: 300 });
  client.run(true);
  await waitFor("connect", () => client.connected);
  const acks: number[] = [];
  for (let i = 1; i <= 5; i++) assert.equal(client.publish("out", "m" + i, 1, () => acks.push(i)), true);
  await waitFor("the cut", () => rec.reasons.length === 1);
  assert.equal(client.connected, false);
  // While the line is down: QoS 1 is queued behind the unacknowledged ones, QoS 0 is refused.
  assert.equal(client.publish("out", "m6", 1, () => acks.push(6)), true);
  assert.equal(client.publish("out", "lost", 0), false);
  assert.equal(client.outbox.length, 6);
  await waitFor("replay acknowledged", () => acks.length === 6);
  await waitFor("MQTT.js heard all", () => heard.length >= 6);
  assert.deepEqual(heard, ["m1", "m2", "m3", "m4", "m5", "m6"]);
  assert.deepEqual(acks, [1, 2, 3, 4, 5, 6]);
  // The five that had gone out once carry DUP; m6 is new on the second connection.
  assert.deepEqual(dupFlags, [true, true, true, true, true, false]);
  assert.equal(rec.connects, 2);
  assert.equal(client.outbox.length, 0);
});

test("a restarted broker on the same port gets the device back, with its subscription", async (t) => {
  let broker = await startBroker(t);
  const port = broker.port;
  const { client, rec } = device(t, port);
  client.subscribe("cmd");
  client.run(true);
  await waitFor("connect", () => client.connected);
  await broker.close();
  await waitFor("disconnect noticed", () => rec.reasons.length >= 1 && !client.connected);
  assert.equal(rec.reasons[0], "connection lost");

  // Keep it down for a few backoff rounds, then bring it back on the same port.
  await waitFor("failed attempts while down", () => rec.reasons.length >= 3);
  assert.ok(rec.reasons.slice(1).every((r) => r.indexOf("cannot connect to 127.0.0.1:" + port) === 0), rec.reasons.join("; "));
  let resubscribed = false;
  broker = await startBroker(t, port, (a) =>
    a.on("subscribe", (subs, c) => {
      if (c?.id === "dev1" && subs[0].topic === "cmd") resubscribed = true;
    })
  );
  await waitFor("reconnect and resubscribe", () => client.connected && resubscribed);
  const peer = await mqttJs(t, port);
  await peer.publishAsync("cmd", "hello", { qos: 1 });
  await waitFor("message after restart", () => rec.messages.length === 1);
  assert.equal(rec.messages[0].payload, "hello");
  assert.equal(rec.connects, 2);
});

test("a refused CONNACK is reported, retried with growing jittered backoff, and fresh credentials are used each time", async (t) => {
  let attempts = 0;
  const seen: string[] = [];
  const broker = await startBroker(t, 0, (a) => {
    a.authenticate = (_c, username, password, done) => {
      attempts++;
      seen.push(username + "/" + password?.toString());
      if (password?.toString() === "good") return done(null, true);
      const err = Object.assign(new Error("bad"), { returnCode: 4 as const });
      done(err, null);
    };
  });
  let calls = 0;
  const { client, rec } = device(
    t,
    broker.port,
    {
      backoffMinMs: 10,
      backoffMaxMs: 40,
      credentials: () => {
        calls++;
        return { username: "u" + calls, password: calls >= 4 ? "good" : "stale" };
      },
    },
    { random: () => 0.999999 } // deterministic jitter: always the top of the window
  );
  client.run(true);
  await waitFor("connected with fresh credentials", () => client.connected);
  assert.equal(attempts, 4);
  assert.deepEqual(seen, ["u1/stale", "u2/stale", "u3/stale", "u4/good"]);
  assert.deepEqual(rec.reasons, Array(3).fill("connection refused: bad user name or password"));
  // Backoff delays scheduled (connect timeouts are the 3000s): windows [10,20], [10,40], [10,40].
  const backoffs = rec.delays.filter((d) => d !== 3000);
  assert.deepEqual(backoffs.slice(0, 3), [19, 39, 39]);
});

test("Espruino-style synchronous connect errors are caught and retried", async (t) => {
  const broker = await startBroker(t);
  let throwsLeft = 2;
  const { client, rec } = device(t, broker.port, {}, {
    net: {
      beforeConnect: () => {
        if (throwsLeft > 0) {
          throwsLeft--;
          throw new Error("Unable to create socket");
        }
      },
    },
  });
  client.run(true);
  await waitFor("connect after two throws", () => client.connected);
  assert.deepEqual(rec.reasons, Array(2).fill("cannot connect to 127.0.0.1:" + broker.port + ": Unable to create socket"));
});

test("QoS 1 outbox is bounded: the oldest messages are dropped, the rest delivered in order", async (t) => {
  const broker = await startBroker(t);
  const peer = await mqttJs(t, broker.port);
  const heard: string[] = [];
  peer.on("message", (_t, p) => heard.push(p.toString()));
  await peer.subscribeAsync("q", { qos: 1 });
  const { client, rec } = device(t, broker.port, { maxOutbox: 3 });
  for (let i = 1; i <= 5; i++) assert.equal(client.publish("q", "m" + i, 1), true);
  assert.equal(client.publish("q", "x", 0), false);
  assert.equal(client.outbox.length, 3);
  assert.equal(rec.logs.filter((l) => /outbox full/.test(l)).length, 2);
  client.run(true);
  await waitFor("delivery", () => heard.length === 3);
  assert.deepEqual(heard, ["m3", "m4", "m5"]);
});

test("run(false) is idempotent, closes the socket and silences every callback", async (t) => {
  const broker = await startBroker(t);
  const { client, rec, net: netPort } = device(t, broker.port);
  client.run(true);
  await waitFor("connect", () => client.connected);
  let disconnectedAtBroker = false;
  broker.aedes.on("clientDisconnect", (c) => {
    if (c.id === "dev1") disconnectedAtBroker = true;
  });
  client.run(false);
  client.run(false);
  assert.equal(client.connected, false);
  await waitFor("broker sees the DISCONNECT", () => disconnectedAtBroker);
  await waitFor("socket closed", () => netPort.openSockets() === 0);
  await broker.close();
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(rec.reasons, []);
  assert.equal(rec.connects, 1);
  // run(true) after run(false) works again.
  const broker2 = await startBroker(t);
  const again = device(t, broker2.port);
  again.client.run(true);
  again.client.run(false);
  again.client.run(true);
  await waitFor("restart after stop", () => again.client.connected);
});

// ---------- failures only a scripted broker produces ----------

test("a broker that goes silent after CONNACK is detected by keepalive and the device reconnects", async (t) => {
  const fake = await scriptedBroker(t, (p, s) => {
    if (p.header >> 4 === 1) s.write(CONNACK_OK, "latin1"); // then never another byte
  });
  const { client, rec } = device(t, fake.port, { keepaliveSec: 1 });
  client.run(true);
  await waitFor("second connection", () => fake.sockets.length >= 2, 8000);
  const first = fake.received.filter((r) => r.conn === 0).map((r) => r.header);
  assert.deepEqual(first, [0x10, 0xc0], "CONNECT, then one PINGREQ that was never answered");
  assert.match(rec.reasons[0], /keepalive/);
  assert.equal(rec.connects >= 1, true);
});

test("PINGRESP keeps a quiet connection alive", async (t) => {
  const fake = await scriptedBroker(t, (p, s) => {
    const type = p.header >> 4;
    if (type === 1) s.write(CONNACK_OK, "latin1");
    if (type === 12) s.write("\xd0\x00", "latin1");
  });
  const { client, rec } = device(t, fake.port, { keepaliveSec: 1 });
  client.run(true);
  await waitFor("three pings answered", () => fake.received.filter((r) => r.header === 0xc0).length >= 3, 8000);
  assert.equal(fake.sockets.length, 1);
  assert.deepEqual(rec.reasons, []);
  assert.equal(client.connected, true);
});

test("an unacknowledged QoS 1 publish is retransmitted with DUP in the same session", async (t) => {
  let publishes = 0;
  const fake = await scriptedBroker(t, (p, s) => {
    const type = p.header >> 4;
    if (type === 1) s.write(CONNACK_OK, "latin1");
    if (type === 3 && ++publishes === 2) s.write("\x40\x02" + p.body.substring(p.body.length - 4, p.body.length - 2), "latin1");
  });
  const { client } = device(t, fake.port, { ackTimeoutMs: 100 });
  client.run(true);
  await waitFor("connect", () => client.connected);
  let acked = false;
  client.publish("t", "ab", 1, () => (acked = true));
  await waitFor("ack of the retransmission", () => acked);
  const pubs = fake.received.filter((r) => r.header >> 4 === 3);
  assert.deepEqual(
    pubs.map((r) => r.header),
    [0x32, 0x3a]
  );
  assert.equal(pubs[0].body, pubs[1].body, "same packet id, topic and payload");
  assert.equal(client.outbox.length, 0);
});

for (const [name, garbage] of [
  ["remaining length longer than 4 bytes", "\x30\xff\xff\xff\xff\x01"],
  ["packet above the size limit", "\x30\xa0\x8d\x06" /* remaining length 100000 */],
  ["packet type a broker never sends", "\x80\x02\x00\x01"],
  ["second CONNACK", CONNACK_OK],
  ["QoS 3 PUBLISH", "\x36\x05\x00\x01t\x00\x01"],
] as const) {
  test(`malformed input (${name}) closes and reconnects without throwing`, async (t) => {
    const fake = await scriptedBroker(t, (p, s, conn) => {
      if (p.header >> 4 !== 1) return;
      s.write(CONNACK_OK, "latin1");
      if (conn === 0) s.write(garbage, "latin1");
    });
    const { client, rec } = device(t, fake.port);
    client.run(true);
    await waitFor("reconnected", () => rec.connects === 2 && client.connected);
    assert.equal(rec.reasons.length, 1);
    assert.match(rec.reasons[0], /^protocol error: MQTT_PROTOCOL: /);
  });
}

test("before CONNACK, anything else is a protocol error; no CONNACK at all times out", async (t) => {
  const fake = await scriptedBroker(t, (p, s, conn) => {
    if (p.header >> 4 !== 1) return;
    if (conn === 0) s.write("\xd0\x00", "latin1");
    if (conn === 2) s.write(CONNACK_OK, "latin1");
    // conn 1: silence
  });
  const { client, rec } = device(t, fake.port, { connectTimeoutMs: 500 });
  client.run(true);
  await waitFor("connected on the third try", () => client.connected);
  assert.match(rec.reasons[0], /expected CONNACK, got packet type 13/);
  assert.equal(rec.reasons[1], "no CONNACK within 500 ms");
});

test("QoS 2 from a broker is acknowledged (PUBREC/PUBCOMP) and delivered once", async (t) => {
  const fake = await scriptedBroker(t, (p, s) => {
    const type = p.header >> 4;
    if (type === 1) {
      s.write(CONNACK_OK, "latin1");
      const pub = "\x00\x01t\x00\x07{}";
      s.write("\x34" + String.fromCharCode(pub.length) + pub, "latin1");
      s.write("\x3c" + String.fromCharCode(pub.length) + pub, "latin1"); // DUP resend
      s.write("\x62\x02\x00\x07", "latin1"); // PUBREL
    }
  });
  const { client, rec } = device(t, fake.port);
  client.run(true);
  await waitFor("PUBCOMP", () => fake.received.some((r) => r.header === 0x70));
  const answers = fake.received.filter((r) => r.header !== 0x10).map((r) => [r.header, r.body]);
  assert.deepEqual(answers, [
    [0x50, "\x00\x07"],
    [0x50, "\x00\x07"],
    [0x70, "\x00\x07"],
  ]);
  assert.deepEqual(rec.messages, [{ topic: "t", payload: "{}" }]);
  assert.equal(client.connected, true);
});

test("exceptions thrown by the application's handlers do not break the client", async (t) => {
  const fake = await scriptedBroker(t, (p, s) => {
    if (p.header >> 4 !== 1) return;
    s.write(CONNACK_OK, "latin1");
    s.write("\x30\x04\x00\x01ta\x30\x04\x00\x01tb", "latin1");
  });
  const seen: string[] = [];
  const clock = createNodeClock();
  const netPort = createNodeNetPort();
  const logs: string[] = [];
  const client = new MqttClient(
    { net: netPort, clock, random: () => 0x7fffffff, log: (l) => logs.push(l) },
    { host: "127.0.0.1", port: fake.port, tls: false, clientId: "c", keepaliveSec: 0 },
    (event, _t, p) => {
      if (event === "up") throw new Error("boom1");
      if (event === "message") {
        seen.push(p!);
        throw new Error("boom2");
      }
    }
  );
  t.after(() => {
    client.run(false);
    clock.dispose();
    netPort.closeAll();
  });
  client.run(true);
  await waitFor("both messages", () => seen.length === 2);
  assert.deepEqual(seen, ["a", "b"]);
  assert.equal(client.connected, true);
  assert.ok(logs.some((l) => /up event threw: boom1/.test(l)));
  assert.equal(logs.filter((l) => /message event threw: boom2/.test(l)).length, 2);
});

test("a refused subscription (SUBACK 0x80) is logged and asked for again on the next connection", async (t) => {
  const fake = await scriptedBroker(t, (p, s, conn) => {
    const type = p.header >> 4;
    if (type === 1) s.write(CONNACK_OK, "latin1");
    if (type === 8) {
      s.write("\x90\x03" + p.body.substring(0, 2) + (conn === 0 ? "\x80" : "\x01"), "latin1");
      if (conn === 0) setTimeout(() => s.destroy(), 20);
    }
  });
  const { client, rec } = device(t, fake.port);
  client.subscribe("$ota/update/P/D");
  client.subscribe("$ota/update/P/D"); // remembered once
  client.run(true);
  await waitFor("second connection subscribed", () => fake.received.filter((r) => r.header === 0x82).length === 2 && client.connected);
  const subs = fake.received.filter((r) => r.header === 0x82);
  assert.deepEqual(
    subs.map((r) => r.body.substring(2)),
    Array(2).fill("\x00\x0f$ota/update/P/D\x01")
  );
  assert.equal(rec.logs.filter((l) => /refused subscription to \$ota\/update\/P\/D/.test(l)).length, 1);
});
