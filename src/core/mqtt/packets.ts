// MQTT 3.1.1 packets as binary strings (one char per byte), the form Espruino's sockets
// deliver and accept. Only what a Tencent IoT Hub device needs: the client side of
// CONNECT/SUBSCRIBE/PUBLISH (QoS 0/1)/PING/DISCONNECT, plus enough of QoS 2 to answer a
// broker that sends it anyway (Tencent never does).
// Decoders throw otaError("MQTT_PROTOCOL") on malformed input; the client catches that and
// reconnects, so a bad broker never crashes the device.

import { otaError } from "../errors";

// Packet types (high nibble of the first byte).
export const CONNECT = 1;
export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const PUBREC = 5;
export const PUBREL = 6;
export const PUBCOMP = 7;
export const SUBSCRIBE = 8;
export const SUBACK = 9;
export const UNSUBACK = 11;
export const PINGREQ = 12;
export const PINGRESP = 13;
export const DISCONNECT = 14;

/** Largest value the 4-byte remaining-length varint can carry. */
export const MAX_REMAINING_LENGTH = 268435455;

export const PINGREQ_PACKET = "\xc0\x00";
export const DISCONNECT_PACKET = "\xe0\x00";

export interface ConnectOptions {
  clientId: string;
  username?: string;
  password?: string;
  keepaliveSec: number;
}

export interface ConnackPacket {
  type: 2;
  sessionPresent: boolean;
  returnCode: number;
}

export interface PublishPacket {
  type: 3;
  qos: number;
  dup: boolean;
  retain: boolean;
  topic: string;
  /** 0 for QoS 0. */
  packetId: number;
  /** Binary string exactly as received; see utf8Decode. */
  payload: string;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK: a type and a packet id. */
export interface IdPacket {
  type: 4 | 5 | 6 | 7 | 11;
  packetId: number;
}

export interface SubackPacket {
  type: 9;
  packetId: number;
  /** One per requested topic: granted QoS 0..2, or 0x80 for failure. */
  returnCodes: number[];
}

export interface PingrespPacket {
  type: 13;
}

export type BrokerPacket = ConnackPacket | PublishPacket | IdPacket | SubackPacket | PingrespPacket;

/** One framed packet before decoding: the first byte and the body after the length. */
export interface RawPacket {
  header: number;
  body: string;
}

const CONNACK_REASONS = [
  "accepted",
  "unacceptable protocol version",
  "client identifier rejected",
  "server unavailable",
  "bad user name or password",
  "not authorized",
];

/** Readable text for a CONNACK return code (Tencent answers 4 for a wrong or expired signature). */
export function connackReason(code: number): string {
  return code >= 0 && code < CONNACK_REASONS.length ? CONNACK_REASONS[code] : "unknown return code " + code;
}

function protocolError(detail: string): Error {
  return otaError("MQTT_PROTOCOL", detail);
}

export function encodeRemainingLength(n: number): string {
  if (n < 0 || n > MAX_REMAINING_LENGTH) throw protocolError("remaining length " + n + " out of range");
  let s = "";
  do {
    let b = n % 128;
    n = (n - b) / 128;
    if (n > 0) b = b | 128;
    s += String.fromCharCode(b);
  } while (n > 0);
  return s;
}

function u16(n: number): string {
  return String.fromCharCode((n >> 8) & 255, n & 255);
}

/** A length-prefixed MQTT string field; `s` must already be a binary string (see utf8EncodeBinary). */
function field(s: string): string {
  if (s.length > 65535) throw protocolError("string field longer than 65535 bytes");
  return u16(s.length) + s;
}

function frame(header: number, body: string): string {
  return String.fromCharCode(header) + encodeRemainingLength(body.length) + body;
}

function checkPacketId(id: number): void {
  if (!(id >= 1 && id <= 65535)) throw protocolError("packet id " + id + " out of range 1..65535");
}

/** CONNECT with clean session; username/password only when given. */
export function encodeConnect(o: ConnectOptions): string {
  let flags = 2;
  let tail = field(o.clientId);
  if (o.username !== undefined) {
    flags |= 128;
    tail += field(o.username);
  }
  if (o.password !== undefined) {
    flags |= 64;
    tail += field(o.password);
  }
  const ka = o.keepaliveSec;
  if (!(ka >= 0 && ka <= 65535)) throw protocolError("keepalive " + ka + " out of range 0..65535");
  return frame(0x10, "\x00\x04MQTT\x04" + String.fromCharCode(flags) + u16(ka) + tail);
}

/** SUBSCRIBE for one or more topic filters, all at QoS 1. */
export function encodeSubscribe(packetId: number, topics: string[]): string {
  checkPacketId(packetId);
  let body = u16(packetId);
  for (let i = 0; i < topics.length; i++) body += field(topics[i]) + "\x01";
  return frame(0x82, body);
}

/** PUBLISH; `payload` is a binary string. packetId is ignored for QoS 0. */
export function encodePublish(topic: string, payload: string, qos: number, packetId: number, dup: boolean): string {
  if (qos !== 0 && qos !== 1) throw protocolError("publish QoS " + qos + " not supported");
  let body = field(topic);
  if (qos) {
    checkPacketId(packetId);
    body += u16(packetId);
  }
  return frame(0x30 | (dup ? 8 : 0) | (qos << 1), body + payload);
}

/** PUBACK, PUBREC, PUBCOMP (type 4, 5, 7); PUBREL needs flags 2 and is not sent by a device. */
export function encodeIdPacket(type: number, packetId: number): string {
  checkPacketId(packetId);
  return String.fromCharCode(type << 4, 2) + u16(packetId);
}

/**
 * Reassembles packets from socket chunks: a chunk may hold part of a packet or several.
 * `read()` returns the next complete packet or null; it throws otaError("MQTT_PROTOCOL")
 * for a bad remaining length or a packet above `maxBytes`, as soon as the header shows it,
 * so an oversize packet is never buffered.
 */
export class PacketReader {
  private buf = "";
  private maxBytes: number;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  feed(chunk: string): void {
    this.buf = this.buf ? this.buf + chunk : chunk;
  }

  /** Bytes received but not yet returned as packets. */
  pending(): number {
    return this.buf.length;
  }

  read(): RawPacket | null {
    const b = this.buf;
    const n = b.length;
    let len = 0;
    let mul = 1;
    let i = 1;
    let c = 128;
    while (c & 128) {
      if (i > 4) throw protocolError("remaining length longer than 4 bytes");
      if (i >= n) return null;
      c = b.charCodeAt(i++);
      len += (c & 127) * mul;
      mul *= 128;
    }
    if (len > this.maxBytes) throw protocolError("packet of " + len + " bytes exceeds limit " + this.maxBytes);
    if (n < i + len) return null;
    this.buf = b.substring(i + len);
    return { header: b.charCodeAt(0), body: b.substring(i, i + len) };
  }
}

function need(body: string, n: number, what: string): void {
  if (body.length < n) throw protocolError(what + " too short (" + body.length + " bytes)");
}

function readU16(s: string, at: number): number {
  return (s.charCodeAt(at) << 8) | s.charCodeAt(at + 1);
}

/** Turns a framed packet from the broker into a typed one. */
export function decodePacket(p: RawPacket): BrokerPacket {
  const type = p.header >> 4;
  const body = p.body;
  if (type === PUBLISH) {
    const qos = (p.header >> 1) & 3;
    if (qos === 3) throw protocolError("PUBLISH with QoS 3");
    need(body, 2, "PUBLISH");
    const tlen = readU16(body, 0);
    let at = 2 + tlen;
    need(body, at + (qos ? 2 : 0), "PUBLISH");
    let id = 0;
    if (qos) {
      id = readU16(body, at);
      at += 2;
      if (!id) throw protocolError("PUBLISH with packet id 0");
    }
    return {
      type: 3,
      qos: qos,
      dup: (p.header & 8) !== 0,
      retain: (p.header & 1) !== 0,
      topic: body.substring(2, 2 + tlen),
      packetId: id,
      payload: body.substring(at),
    };
  }
  if (type === CONNACK) {
    if (body.length !== 2) throw protocolError("CONNACK of " + body.length + " bytes");
    return { type: 2, sessionPresent: (body.charCodeAt(0) & 1) !== 0, returnCode: body.charCodeAt(1) };
  }
  if (type === PUBACK || type === PUBREC || type === PUBREL || type === PUBCOMP || type === UNSUBACK) {
    if (body.length !== 2) throw protocolError("packet type " + type + " of " + body.length + " bytes");
    return { type: type, packetId: readU16(body, 0) } as IdPacket;
  }
  if (type === SUBACK) {
    need(body, 3, "SUBACK");
    const codes: number[] = [];
    for (let i = 2; i < body.length; i++) codes.push(body.charCodeAt(i));
    return { type: 9, packetId: readU16(body, 0), returnCodes: codes };
  }
  if (type === PINGRESP) {
    if (body.length) throw protocolError("PINGRESP with a body");
    return { type: 13 };
  }
  throw protocolError("unexpected packet type " + type + " from broker");
}

/**
 * False where strings hold bytes: on Espruino 2v29 String.fromCharCode keeps only the low
 * 8 bits (measured: fromCharCode(0x100) gives "\0"), so decoding there would mangle text.
 */
function unicodeStrings(): boolean {
  return String.fromCharCode(0x100).charCodeAt(0) === 0x100;
}

/**
 * UTF-8 bytes (binary string) to a JS string. Invalid or truncated sequences become U+FFFD
 * rather than throwing, since payloads come from the network.
 * Where strings hold bytes (Espruino) the UTF-8 bytes already are the string the app works
 * with (JSON.parse keeps them), so the input is returned unchanged.
 */
export function utf8Decode(s: string): string {
  if (!unicodeStrings()) return s;
  let out = "";
  const n = s.length;
  let i = 0;
  // ASCII runs are copied with one substring each: per-character concatenation is slow on Espruino.
  let run = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      i++;
      continue;
    }
    if (run < i) out += s.substring(run, i);
    i++;
    let extra = 0;
    let cp = 0;
    let min = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
      cp = c & 0x1f;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
      cp = c & 0x0f;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
      cp = c & 0x07;
      min = 0x10000;
    }
    let j = 0;
    while (j < extra && i + j < n) {
      const d = s.charCodeAt(i + j);
      if ((d & 0xc0) !== 0x80) break;
      cp = (cp << 6) | (d & 0x3f);
      j++;
    }
    if (!extra || j < extra || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      // Skip only the continuation bytes that belonged to the bad sequence, so the next
      // valid character is not swallowed.
      out += "\ufffd";
    } else if (cp >= 0x10000) {
      cp -= 0x10000;
      out += String.fromCharCode(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else {
      out += String.fromCharCode(cp);
    }
    i += j;
    run = i;
  }
  return run ? out + s.substring(run) : s;
}

/** A JS string to UTF-8 bytes (binary string), for callers that publish Unicode text; identity where strings hold bytes. */
export function utf8EncodeBinary(s: string): string {
  if (!unicodeStrings()) return s;
  let out = "";
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out += s.charAt(i);
      continue;
    }
    if (c < 0x800) {
      out += String.fromCharCode(0xc0 | (c >> 6), 0x80 | (c & 63));
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        out += String.fromCharCode(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    out += String.fromCharCode(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return out;
}
