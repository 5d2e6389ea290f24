import { test } from "node:test";
import assert from "node:assert/strict";
import {
  connackReason,
  decodePacket,
  encodeConnect,
  encodeIdPacket,
  encodePublish,
  encodeRemainingLength,
  encodeSubscribe,
  PacketReader,
  utf8Decode,
  utf8EncodeBinary,
  PINGREQ_PACKET,
  DISCONNECT_PACKET,
  type RawPacket,
} from "../../src/core/mqtt/packets";
import { isOtaError } from "../../src/core/errors";

const bin = (bytes: number[]) => String.fromCharCode(...bytes);
const bytesOf = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
const str = (s: string) => bytesOf(s);

function readAll(r: PacketReader): RawPacket[] {
  const out: RawPacket[] = [];
  for (let p = r.read(); p; p = r.read()) out.push(p);
  return out;
}

function assertProtocolError(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (e: unknown) => isOtaError(e) && e.code === "MQTT_PROTOCOL" && pattern.test(e.message));
}

test("CONNECT carries protocol level 4, clean session, credentials and keepalive (MQTT 3.1.1 §3.1)", () => {
  const p = encodeConnect({ clientId: "AB", username: "u", password: "pw", keepaliveSec: 240 });
  // prettier-ignore
  const expected = [
    0x10, 21,
    0, 4, ...str("MQTT"), 4, 0xc2, 0, 240,
    0, 2, ...str("AB"),
    0, 1, ...str("u"),
    0, 2, ...str("pw"),
  ];
  assert.deepEqual(bytesOf(p), expected);
  const anon = encodeConnect({ clientId: "x", keepaliveSec: 0 });
  assert.deepEqual(bytesOf(anon), [0x10, 13, 0, 4, ...str("MQTT"), 4, 0x02, 0, 0, 0, 1, ...str("x")]);
  assertProtocolError(() => encodeConnect({ clientId: "x", keepaliveSec: 70000 }), /keepalive/);
});

test("SUBSCRIBE asks QoS 1 for each topic, with the reserved flags 0x82", () => {
  const p = encodeSubscribe(0x1234, ["a/b", "c"]);
  assert.deepEqual(bytesOf(p), [0x82, 12, 0x12, 0x34, 0, 3, ...str("a/b"), 1, 0, 1, ...str("c"), 1]);
  assertProtocolError(() => encodeSubscribe(0, ["a"]), /packet id/);
});

test("PUBLISH encodes QoS, DUP and packet id; QoS 0 has no id", () => {
  assert.deepEqual(bytesOf(encodePublish("t", "hi", 0, 99, false)), [0x30, 5, 0, 1, ...str("t"), ...str("hi")]);
  assert.deepEqual(bytesOf(encodePublish("t", "hi", 1, 258, false)), [0x32, 7, 0, 1, ...str("t"), 1, 2, ...str("hi")]);
  assert.deepEqual(bytesOf(encodePublish("t", "", 1, 7, true)), [0x3a, 5, 0, 1, ...str("t"), 0, 7]);
  // Binary payload bytes pass through untouched.
  assert.deepEqual(bytesOf(encodePublish("t", bin([0, 255, 128]), 0, 0, false)).slice(-3), [0, 255, 128]);
  assertProtocolError(() => encodePublish("t", "x", 2 as 1, 1, false), /QoS 2/);
  assertProtocolError(() => encodePublish("t", "x", 1, 65536, false), /packet id/);
});

test("fixed packets: PUBACK, PINGREQ, DISCONNECT", () => {
  assert.deepEqual(bytesOf(encodeIdPacket(4, 0xabcd)), [0x40, 2, 0xab, 0xcd]);
  assert.deepEqual(bytesOf(PINGREQ_PACKET), [0xc0, 0]);
  assert.deepEqual(bytesOf(DISCONNECT_PACKET), [0xe0, 0]);
});

test("remaining length varint round-trips at every byte-count boundary", () => {
  const cases: [number, number][] = [
    [0, 1], [127, 1], [128, 2], [16383, 2], [16384, 3], [2097151, 3], [2097152, 4], [268435455, 4],
  ];
  for (const [n, size] of cases) {
    const enc = encodeRemainingLength(n);
    assert.equal(enc.length, size, `length of ${n}`);
    // The reader decodes the same number: with a limit one below it, it names it in the error.
    const r = new PacketReader(n > 0 ? n - 1 : 0);
    r.feed("\xd0" + enc);
    if (n === 0) assert.deepEqual(r.read(), { header: 0xd0, body: "" });
    else assertProtocolError(() => r.read(), new RegExp(`packet of ${n} bytes exceeds`));
  }
  assert.deepEqual(bytesOf(encodeRemainingLength(321)), [0xc1, 0x02]);
  assertProtocolError(() => encodeRemainingLength(268435456), /out of range/);
});

test("PacketReader reassembles a packet fed one byte at a time", () => {
  const payload = "x".repeat(300); // 2-byte remaining length
  const wire = encodePublish("dev/ota", payload, 1, 42, false);
  const r = new PacketReader(8192);
  const got: RawPacket[] = [];
  for (let i = 0; i < wire.length; i++) {
    r.feed(wire[i]);
    got.push(...readAll(r));
    if (i < wire.length - 1) assert.equal(got.length, 0, `complete too early at byte ${i}`);
  }
  assert.equal(got.length, 1);
  const p = decodePacket(got[0]);
  assert.equal(p.type, 3);
  if (p.type !== 3) return;
  assert.equal(p.topic, "dev/ota");
  assert.equal(p.packetId, 42);
  assert.equal(p.payload, payload);
  assert.equal(r.pending(), 0);
});

test("PacketReader splits several packets in one chunk and keeps the tail for later", () => {
  const a = bin([0x20, 2, 0, 0]); // CONNACK accepted
  const b = encodePublish("t", "one", 0, 0, false);
  const c = bin([0x90, 3, 0, 5, 1]); // SUBACK
  const d = bin([0xd0, 0]); // PINGRESP
  const e = bin([0x40, 2, 0, 9]); // PUBACK
  const wire = a + b + c + d + e;
  const r = new PacketReader(8192);
  r.feed(wire.slice(0, wire.length - 2));
  const first = readAll(r).map(decodePacket);
  assert.deepEqual(first.map((p) => p.type), [2, 3, 9, 13]);
  assert.equal(r.pending(), 2);
  r.feed(wire.slice(wire.length - 2));
  assert.deepEqual(readAll(r).map(decodePacket), [{ type: 4, packetId: 9 }]);
});

test("PacketReader rejects a 5-byte remaining length and an oversize packet before buffering it", () => {
  const r = new PacketReader(8192);
  r.feed(bin([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
  assertProtocolError(() => r.read(), /longer than 4 bytes/);

  const big = new PacketReader(8192);
  big.feed(bin([0x30]) + encodeRemainingLength(8193)); // only the header has arrived
  assertProtocolError(() => big.read(), /8193 bytes exceeds limit 8192/);

  const edge = new PacketReader(8192);
  edge.feed(bin([0x30]) + encodeRemainingLength(8192) + "\x00\x01t" + "p".repeat(8189));
  const p = decodePacket(edge.read()!);
  assert.equal(p.type === 3 && p.payload.length, 8189);
});

test("CONNACK decodes session flag and return code; reasons are readable", () => {
  assert.deepEqual(decodePacket({ header: 0x20, body: bin([1, 0]) }), { type: 2, sessionPresent: true, returnCode: 0 });
  assert.deepEqual(decodePacket({ header: 0x20, body: bin([0, 4]) }), { type: 2, sessionPresent: false, returnCode: 4 });
  assert.equal(connackReason(4), "bad user name or password");
  assert.equal(connackReason(5), "not authorized");
  assert.equal(connackReason(0x87), "unknown return code 135");
  assertProtocolError(() => decodePacket({ header: 0x20, body: bin([0]) }), /CONNACK of 1 bytes/);
});

test("SUBACK reports granted QoS and 0x80 failures per topic", () => {
  assert.deepEqual(decodePacket({ header: 0x90, body: bin([0, 7, 1, 0x80, 0]) }), {
    type: 9,
    packetId: 7,
    returnCodes: [1, 0x80, 0],
  });
  assertProtocolError(() => decodePacket({ header: 0x90, body: bin([0, 7]) }), /SUBACK too short/);
});

test("PUBLISH from the broker: QoS 0, QoS 1 with DUP/retain, QoS 2 accepted, QoS 3 and truncation rejected", () => {
  assert.deepEqual(decodePacket({ header: 0x30, body: bin([0, 1, ...str("t"), ...str("{}")]) }), {
    type: 3, qos: 0, dup: false, retain: false, topic: "t", packetId: 0, payload: "{}",
  });
  assert.deepEqual(decodePacket({ header: 0x3b, body: bin([0, 1, ...str("t"), 0, 5]) }), {
    type: 3, qos: 1, dup: true, retain: true, topic: "t", packetId: 5, payload: "",
  });
  const q2 = decodePacket({ header: 0x34, body: bin([0, 1, ...str("t"), 0, 6, 0x41]) });
  assert.equal(q2.type === 3 && q2.qos, 2);
  assertProtocolError(() => decodePacket({ header: 0x36, body: bin([0, 1, ...str("t"), 0, 6]) }), /QoS 3/);
  assertProtocolError(() => decodePacket({ header: 0x32, body: bin([0, 9, ...str("t")]) }), /PUBLISH too short/);
  assertProtocolError(() => decodePacket({ header: 0x32, body: bin([0, 1, ...str("t"), 0, 0]) }), /packet id 0/);
});

test("packets a client never receives are protocol errors", () => {
  assertProtocolError(() => decodePacket({ header: 0x10, body: "" }), /type 1/);
  assertProtocolError(() => decodePacket({ header: 0x00, body: "" }), /type 0/);
  assertProtocolError(() => decodePacket({ header: 0xd0, body: "x" }), /PINGRESP with a body/);
  assertProtocolError(() => decodePacket({ header: 0x40, body: "x" }), /of 1 bytes/);
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
