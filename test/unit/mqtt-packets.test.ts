// The MQTT wire format as the device sends and parses it. The client frames packets with
// mqttFrame/mqttField and parses the broker's inline, so these tests drive a real MqttClient
// over a synchronous fake socket and a manual clock and look at the bytes on the line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MqttClient, type MqttOptions } from "../../src/core/mqtt/client";
import { mqttField, mqttFrame, utf8Decode, utf8EncodeBinary, MAX_REMAINING_LENGTH } from "../../src/core/mqtt/packets";
import { isOtaError } from "../../src/core/errors";
import type { SocketHandlers, TimerId } from "../../src/core/ports";

const bin = (bytes: number[]) => String.fromCharCode(...bytes);
const bytesOf = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
const str = (s: string) => bytesOf(s);

function assertProtocolError(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (e: unknown) => isOtaError(e) && e.code === "MQTT_PROTOCOL" && pattern.test(e.message));
}

/** The remaining-length bytes for `n` body bytes: mqttFrame reads only body.length before appending the body. */
function lengthBytes(n: number): string {
  return mqttFrame(0, { length: n } as string).slice(1, -"[object Object]".length);
}

const CONNACK_OK = bin([0x20, 2, 0, 0]);

/** A client on a fake socket: `sent` is every write on the current connection, `feed` delivers broker bytes. */
function line(opts: Partial<MqttOptions> = {}) {
  let now = 0;
  let nextTimer = 1;
  const timers: { id: TimerId; at: number; fn: () => void }[] = [];
  let handlers: SocketHandlers | null = null;
  const rec = {
    sent: [] as string[],
    logs: [] as string[],
    reasons: [] as string[],
    messages: [] as { topic: string; payload: string }[],
    connects: 0,
    closes: 0,
  };
  const client = new MqttClient(
    {
      net: {
        hasTls: false,
        connect(_host, _port, _tls, h) {
          handlers = h;
          rec.sent = [];
          let closed = false;
          return {
            write: (d: string) => {
              if (!closed) rec.sent.push(d);
            },
            close: () => {
              if (closed) return;
              closed = true;
              rec.closes++;
              h.onClose();
            },
          };
        },
      },
      clock: {
        now: () => now,
        after: (ms, fn) => {
          timers.push({ id: nextTimer, at: now + ms, fn });
          return nextTimer++;
        },
        cancel: (id) => {
          const k = timers.findIndex((t) => t.id === id);
          assert.ok(k >= 0, "cancel of a timer that fired or never existed");
          timers.splice(k, 1);
        },
      },
      random: () => 0,
      log: (l) => rec.logs.push(l),
    },
    { host: "h", port: 1883, tls: false, clientId: "AB", username: "u", password: "pw", keepaliveSec: 240, ...opts },
    (event, a, b) => {
      if (event === "up") rec.connects++;
      else if (event === "down") rec.reasons.push(a!);
      else rec.messages.push({ topic: a!, payload: b! });
    }
  );
  return {
    client,
    rec,
    /** TCP up: the client sends CONNECT. */
    up: () => handlers!.onConnect(),
    feed: (bytes: string) => handlers!.onData(bytes),
    /** Start, TCP up, CONNACK accepted; `sent` then holds what followed CONNECT. */
    connect() {
      client.run(true);
      handlers!.onConnect();
      handlers!.onData(CONNACK_OK);
      rec.sent.splice(0, 1);
    },
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const t = timers[0];
        if (!t || t.at > end) break;
        timers.shift();
        now = t.at;
        t.fn();
      }
      now = end;
    },
  };
}

test("CONNECT carries protocol level 4, clean session, credentials and keepalive (MQTT 3.1.1 §3.1)", () => {
  const a = line();
  a.client.run(true);
  a.up();
  // prettier-ignore
  const expected = [
    0x10, 21,
    0, 4, ...str("MQTT"), 4, 0xc2, 0, 240,
    0, 2, ...str("AB"),
    0, 1, ...str("u"),
    0, 2, ...str("pw"),
  ];
  assert.deepEqual(a.rec.sent.map(bytesOf), [expected]);
  const anon = line({ clientId: "x", username: undefined, password: undefined, keepaliveSec: 0 });
  anon.client.run(true);
  anon.up();
  assert.deepEqual(anon.rec.sent.map(bytesOf), [[0x10, 13, 0, 4, ...str("MQTT"), 4, 0x02, 0, 0, 0, 1, ...str("x")]]);
  const bad = line({ keepaliveSec: 70000 });
  bad.client.run(true);
  assert.deepEqual(bad.rec.reasons, ["cannot build CONNECT: MQTT_PROTOCOL: keepalive 70000 out of range 0..65535"]);
});

test("credentials are signed when TCP is up, once per connection, and may carry the client id", () => {
  let signed = 0;
  const a = line({
    clientId: "",
    credentials: () => {
      signed++;
      return { clientId: "PIDdev", username: "u" + signed, password: "p" };
    },
  });
  a.client.run(true);
  // Nothing is built (or held) while the TCP/TLS connection is still being opened.
  assert.equal(signed, 0);
  assert.deepEqual(a.rec.sent, []);
  a.up();
  assert.equal(signed, 1);
  // prettier-ignore
  assert.deepEqual(a.rec.sent.map(bytesOf), [[0x10, 25, 0, 4, ...str("MQTT"), 4, 0xc2, 0, 240, 0, 6, ...str("PIDdev"), 0, 2, ...str("u1"), 0, 1, ...str("p")]]);
  const throwing = line({
    credentials: () => {
      throw new Error("bad secret");
    },
  });
  throwing.client.run(true);
  throwing.up();
  assert.deepEqual(throwing.rec.reasons, ["cannot build CONNECT: bad secret"]);
  assert.equal(throwing.rec.closes, 1);
});

test("SUBSCRIBE asks QoS 1 for each topic, with the reserved flags 0x82", () => {
  const a = line();
  a.client.subscribe("a/b");
  a.client.subscribe("c");
  a.connect();
  assert.deepEqual(a.rec.sent.map(bytesOf), [[0x82, 12, 0, 1, 0, 3, ...str("a/b"), 1, 0, 1, ...str("c"), 1]]);
  // While connected, a new topic goes out on its own with the next packet id.
  a.client.subscribe("d");
  assert.deepEqual(bytesOf(a.rec.sent[1]), [0x82, 6, 0, 2, 0, 1, ...str("d"), 1]);
});

test("PUBLISH encodes QoS, DUP and packet id; QoS 0 has no id", () => {
  const a = line({ ackTimeoutMs: 1000 });
  a.connect();
  a.client.publish("t", "hi", 0);
  a.client.publish("t", "hi", 1);
  // Binary payload bytes pass through untouched.
  a.client.publish("t", bin([0, 255, 128]), 0);
  assert.deepEqual(a.rec.sent.map(bytesOf), [
    [0x30, 5, 0, 1, ...str("t"), ...str("hi")],
    [0x32, 7, 0, 1, ...str("t"), 0, 1, ...str("hi")],
    [0x30, 6, 0, 1, ...str("t"), 0, 255, 128],
  ]);
  // Unacknowledged for the ack timeout: the same packet again, with DUP.
  a.advance(1000);
  assert.deepEqual(bytesOf(a.rec.sent[3]), [0x3a, 7, 0, 1, ...str("t"), 0, 1, ...str("hi")]);
  // Packet ids are 16 bits: id 258 is 1, 2 on the wire.
  const b = line();
  b.connect();
  for (let i = 1; i <= 258; i++) {
    b.client.publish("t", "", 1);
    b.feed(bin([0x40, 2, i >> 8, i & 255]));
  }
  assert.deepEqual(bytesOf(b.rec.sent[257]), [0x32, 5, 0, 1, ...str("t"), 1, 2]);
  assert.equal(b.client.outbox.length, 0);
});

test("fixed packets: PUBACK, PINGREQ, DISCONNECT", () => {
  const a = line({ keepaliveSec: 10 });
  a.connect();
  a.feed(bin([0x32, 5, 0, 1, ...str("t"), 0xab, 0xcd]));
  a.advance(10000);
  a.client.run(false);
  assert.deepEqual(a.rec.sent.map(bytesOf), [[0x40, 2, 0xab, 0xcd], [0xc0, 0], [0xe0, 0]]);
});

test("remaining length varint round-trips at every byte-count boundary", () => {
  const cases: [number, number][] = [
    [0, 1], [127, 1], [128, 2], [16383, 2], [16384, 3], [2097151, 3], [2097152, 4], [268435455, 4],
  ];
  for (const [n, size] of cases) {
    const enc = lengthBytes(n);
    assert.equal(enc.length, size, `length of ${n}`);
    if (n === 0) continue;
    // The client decodes the same number: with a limit one below it, it names it in the error.
    const a = line({ maxPacketBytes: n - 1 });
    a.connect();
    a.feed("\xd0" + enc);
    assert.deepEqual(a.rec.reasons, [`protocol error: MQTT_PROTOCOL: packet of ${n} bytes exceeds limit ${n - 1}`]);
  }
  assert.equal(mqttFrame(0xd0, ""), "\xd0\x00");
  assert.deepEqual(bytesOf(lengthBytes(321)), [0xc1, 0x02]);
  assert.equal(MAX_REMAINING_LENGTH, 268435455);
  assertProtocolError(() => mqttFrame(0x30, { length: 268435456 } as string), /remaining length 268435456 out of range/);
  assert.deepEqual(bytesOf(mqttField("ab")), [0, 2, ...str("ab")]);
  assertProtocolError(() => mqttField("x".repeat(65536)), /string field longer than 65535 bytes/);
});

test("a packet fed one byte at a time is parsed once, when its last byte arrives", () => {
  const a = line();
  a.connect();
  const payload = "x".repeat(300); // 2-byte remaining length
  const wire = mqttFrame(0x32, mqttField("dev/ota") + bin([0, 42]) + payload);
  for (let i = 0; i < wire.length; i++) {
    a.feed(wire[i]);
    if (i < wire.length - 1) assert.equal(a.rec.messages.length, 0, `complete too early at byte ${i}`);
  }
  assert.deepEqual(a.rec.messages, [{ topic: "dev/ota", payload }]);
  assert.deepEqual(a.rec.sent.map(bytesOf), [[0x40, 2, 0, 42]]);
  assert.deepEqual(a.rec.reasons, []);
});

test("several packets in one chunk are all handled, and a partial tail waits for the rest", () => {
  const a = line();
  a.client.subscribe("s");
  let acked = 0;
  a.client.publish("q", "m", 1, () => acked++); // queued with id 1; the SUBSCRIBE on connecting gets id 2
  a.client.run(true);
  a.up();
  const wire =
    CONNACK_OK +
    mqttFrame(0x30, mqttField("t") + "one") +
    bin([0x90, 3, 0, 2, 0x80]) + // SUBACK: refused
    bin([0xd0, 0]) + // PINGRESP
    bin([0x40, 2, 0, 1]); // PUBACK
  a.feed(wire.slice(0, wire.length - 2));
  assert.equal(a.rec.connects, 1);
  assert.deepEqual(a.rec.messages, [{ topic: "t", payload: "one" }]);
  assert.equal(a.rec.logs.filter((l) => /refused subscription to s;/.test(l)).length, 1);
  assert.equal(acked, 0);
  assert.equal(a.client.outbox.length, 1);
  a.feed(wire.slice(wire.length - 2));
  assert.equal(acked, 1);
  assert.equal(a.client.outbox.length, 0);
  assert.deepEqual(a.rec.reasons, []);
});

test("a 5-byte remaining length and an oversize packet are refused before the packet is buffered", () => {
  const a = line();
  a.connect();
  a.feed(bin([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
  assert.deepEqual(a.rec.reasons, ["protocol error: MQTT_PROTOCOL: remaining length longer than 4 bytes"]);

  const big = line();
  big.connect();
  big.feed(bin([0x30]) + lengthBytes(8193)); // only the header has arrived
  assert.deepEqual(big.rec.reasons, ["protocol error: MQTT_PROTOCOL: packet of 8193 bytes exceeds limit 8192"]);

  const edge = line();
  edge.connect();
  edge.feed(bin([0x30]) + lengthBytes(8192) + "\x00\x01t" + "p".repeat(8189));
  assert.equal(edge.rec.messages.length, 1);
  assert.equal(edge.rec.messages[0].payload.length, 8189);
  assert.deepEqual(edge.rec.reasons, []);
});

test("CONNACK: the session flag is ignored, refusals are readable, a malformed one is an error", () => {
  const present = line();
  present.client.run(true);
  present.up();
  present.feed(bin([0x20, 2, 1, 0]));
  assert.equal(present.client.connected, true);
  for (const [code, reason] of [
    [4, "bad user name or password"],
    [5, "not authorized"],
    [0x87, "unknown return code 135"],
  ] as const) {
    const a = line();
    a.client.run(true);
    a.up();
    a.feed(bin([0x20, 2, 0, code]));
    assert.deepEqual(a.rec.reasons, ["connection refused: " + reason]);
    assert.equal(a.client.connected, false);
  }
  const short = line();
  short.client.run(true);
  short.up();
  short.feed(bin([0x20, 1, 0]));
  assert.deepEqual(short.rec.reasons, ["protocol error: MQTT_PROTOCOL: CONNACK of 1 bytes"]);
});

test("SUBACK reports granted QoS and 0x80 failures per topic", () => {
  const a = line();
  for (const t of ["a", "b", "c"]) a.client.subscribe(t);
  a.connect();
  a.feed(bin([0x90, 5, 0, 1, 1, 0x80, 0]));
  assert.deepEqual(a.rec.logs.filter((l) => /refused/.test(l)), ["mqtt: broker refused subscription to b; retrying on next connect"]);
  const short = line();
  short.connect();
  short.feed(bin([0x90, 2, 0, 7]));
  assert.deepEqual(short.rec.reasons, ["protocol error: MQTT_PROTOCOL: SUBACK too short (2 bytes)"]);
});

test("PUBLISH from the broker: QoS 0, QoS 1 with DUP/retain, QoS 2 accepted, QoS 3 and truncation rejected", () => {
  const a = line();
  a.connect();
  a.feed(bin([0x30, 5, 0, 1, ...str("t"), ...str("{}")]));
  a.feed(bin([0x3b, 5, 0, 1, ...str("t"), 0, 5]));
  a.feed(bin([0x34, 6, 0, 1, ...str("t"), 0, 6, 0x41]));
  assert.deepEqual(a.rec.messages, [
    { topic: "t", payload: "{}" },
    { topic: "t", payload: "" },
    { topic: "t", payload: "A" },
  ]);
  assert.deepEqual(a.rec.sent.map(bytesOf), [[0x40, 2, 0, 5], [0x50, 2, 0, 6]]);
  for (const [packet, error] of [
    [bin([0x36, 5, 0, 1, ...str("t"), 0, 6]), "PUBLISH with QoS 3"],
    [bin([0x32, 3, 0, 9, ...str("t")]), "PUBLISH too short (3 bytes)"],
    [bin([0x32, 1, 0]), "PUBLISH too short (1 bytes)"],
    [bin([0x32, 5, 0, 1, ...str("t"), 0, 0]), "PUBLISH with packet id 0"],
  ] as const) {
    const b = line();
    b.connect();
    b.feed(packet);
    assert.deepEqual(b.rec.reasons, ["protocol error: MQTT_PROTOCOL: " + error]);
    assert.deepEqual(b.rec.messages, []);
  }
});

test("packets a client never receives are protocol errors", () => {
  for (const [packet, error] of [
    [bin([0x10, 0]), "unexpected packet type 1 from broker"],
    [bin([0x00, 0]), "unexpected packet type 0 from broker"],
    [bin([0xd0, 1]) + "x", "PINGRESP with a body"],
    [bin([0x40, 1]) + "x", "packet type 4 of 1 bytes"],
  ] as const) {
    const a = line();
    a.connect();
    a.feed(packet);
    assert.deepEqual(a.rec.reasons, ["protocol error: MQTT_PROTOCOL: " + error]);
  }
});

test("utf8Decode matches Node's decoder for valid text and replaces invalid bytes", () => {
  const text = '{"msg":"升级 ok € 😀 é"}';
  const wire = Buffer.from(text, "utf8").toString("latin1");
  assert.equal(utf8Decode(wire), text);
  assert.equal(utf8EncodeBinary(text), wire);
  // Stray continuation, truncated 3-byte sequence, overlong form, surrogate, 0xFF: each is U+FFFD,
  // and the ASCII after them survives.
  assert.equal(utf8Decode(bin([0x61, 0x80, 0x62])), "a\ufffdb");
  assert.equal(utf8Decode(bin([0xe4, 0xb8, 0x41])), "\ufffdA");
  assert.equal(utf8Decode(bin([0xc0, 0xaf, 0x41])), "\ufffd\ufffdA");
  assert.equal(utf8Decode(bin([0xed, 0xa0, 0x80, 0x41])), "\ufffdA");
  assert.equal(utf8Decode(bin([0xff, 0x41])), "\ufffdA");
  assert.equal(utf8Decode(bin([0xf0, 0x9f])), "\ufffd");
});

test("utf8Decode/utf8EncodeBinary round-trip random text through Node's UTF-8 codec", () => {
  let seed = 12345;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  for (let k = 0; k < 200; k++) {
    let text = "";
    const len = rnd(40);
    for (let i = 0; i < len; i++) {
      const kind = rnd(4);
      let cp = kind === 0 ? rnd(0x80) : kind === 1 ? 0x80 + rnd(0x780) : kind === 2 ? 0x800 + rnd(0xf800) : 0x10000 + rnd(0x100000);
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x41;
      text += String.fromCodePoint(cp);
    }
    const wire = Buffer.from(text, "utf8").toString("latin1");
    assert.equal(utf8Decode(wire), text);
    assert.equal(utf8EncodeBinary(text), wire);
  }
  // Random bytes never throw, and every ASCII byte survives in order.
  for (let k = 0; k < 200; k++) {
    let bytes = "";
    for (let i = 0; i < 30; i++) bytes += String.fromCharCode(rnd(256));
    const out = utf8Decode(bytes);
    const ascii = (s: string) => s.replace(/[^\x00-\x7f]/g, "");
    assert.equal(ascii(out), ascii(bytes));
  }
});

test("where strings hold bytes (Espruino: fromCharCode keeps 8 bits), UTF-8 helpers leave the bytes alone", () => {
  const original = String.fromCharCode;
  String.fromCharCode = (...codes: number[]) => original(...codes.map((c) => c & 255));
  try {
    assert.equal(utf8Decode("a\xc3\xa9\xff"), "a\xc3\xa9\xff");
    assert.equal(utf8EncodeBinary("a\xe9"), "a\xe9");
  } finally {
    String.fromCharCode = original;
  }
  assert.equal(utf8Decode("a\xc3\xa9"), "aé");
});
