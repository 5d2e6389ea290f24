// A small MQTT 3.1.1 client for the device, written against NetPort/ClockPort only.
// What it adds over "open a socket and send CONNECT":
// - it never gives up: any failure (sync throw from connect, refused CONNACK, socket close,
//   timeout, garbage from the broker) ends the attempt and schedules another with capped
//   exponential backoff and jitter, so a fleet does not reconnect in lockstep;
// - QoS 1 publishes sit in a bounded outbox until PUBACK and are replayed in order (with DUP)
//   after an ack timeout and on every reconnect;
// - subscriptions are remembered and re-sent before anything else on every connection, so a
//   publish made from the "up" event is processed by the broker after the SUBSCRIBE;
// - each connection attempt has a generation number; callbacks from an older socket are
//   ignored, and nothing is called back after run(false).
// Clean session is always used (Tencent supports no persistent sessions worth relying on),
// so replayed QoS 1 messages can arrive twice at the receiver: at-least-once, as MQTT says.
//
// Shape, for Espruino's memory (this client stays loaded all the time): one client per load
// of the module (the resident session makes one), so its state lives in module-level variables
// and its few functions sit at the module's top level, where each costs about a third less than
// a closure; the broker's packets are parsed inline in the socket's data handler. One timer
// serves the state the client is in: the connect timeout while connecting, keepalive and ack
// timeouts while connected, the retry delay while backing off. Outbox entries are
// { i: packet id, p: encoded PUBLISH (DUP set once it went out), t: time sent on this
// connection or -1, a: onAck }.

import { otaError, errorText } from "../errors";
import { ClockPort, NetPort, Socket, SocketHandlers, TimerId } from "../ports";
import { mqttField, mqttFrame } from "./packets";

export interface MqttPorts {
  net: NetPort;
  clock: ClockPort;
  /** A random 32-bit integer (SystemPort.random) or a number in [0, 1); used for backoff jitter. */
  random: () => number;
  log: (line: string) => void;
}

export interface MqttCredentials {
  /** Replaces MqttOptions.clientId for this connection (so the client need not keep one). */
  clientId?: string;
  username: string;
  password: string;
}

export interface MqttOptions {
  host: string;
  port: number;
  tls: boolean;
  /** Unused when `credentials` returns a clientId. */
  clientId: string;
  username?: string;
  password?: string;
  /** 0 disables keepalive. Tencent accepts 0..900 and drops a client silent for 1.5x this. */
  keepaliveSec: number;
  /** From net.connect until CONNACK (DNS, TCP, TLS handshake). Default 20000. */
  connectTimeoutMs?: number;
  /** A QoS 1 publish without PUBACK for this long is sent again with DUP. Default 10000. */
  ackTimeoutMs?: number;
  /** Backoff floor; the first retry waits between 1x and 2x this. Default 1000. */
  backoffMinMs?: number;
  /** Backoff ceiling. Default 60000. */
  backoffMaxMs?: number;
  /** QoS 1 messages kept for delivery; the oldest is dropped beyond this. Default 16. */
  maxOutbox?: number;
  /** A broker packet larger than this is a protocol error. Default 8192. */
  maxPacketBytes?: number;
  /** Called once TCP is up on every connection attempt, so short-lived tokens are signed fresh. Overrides username/password. */
  credentials?: () => MqttCredentials;
}

/**
 * What the client tells its user, through one function (on Espruino each function costs RAM):
 * ("up") after every CONNACK; ("down", reason) after a lost connection and after every failed
 * attempt (the client retries by itself); ("message", topic, payload) for each PUBLISH, `payload`
 * a binary string (UTF-8 bytes as sent; see utf8Decode in ./packets).
 */
export type MqttEvents = (event: "up" | "down" | "message", a?: string, b?: string) => void;

/** What `new MqttClient(ports, options, events)` gives. */
export interface MqttClient {
  /** True between a successful CONNACK and the loss of that connection. */
  connected: boolean;
  /**
   * run(true) starts connecting (immediately) and does nothing if already started; run(false)
   * disconnects and stays down until run(true): idempotent, no event fires afterwards, the
   * outbox and subscriptions are kept. One method for both: each function costs RAM on Espruino.
   */
  run(on: boolean): void;
  /**
   * Subscribes at QoS 1 now (if connected) and again after every reconnect. The same function
   * as publish, which a missing payload makes a subscription (one function less on Espruino).
   */
  subscribe(topic: string): void;
  /**
   * Publishes a binary-string payload. QoS 0 is sent only while connected (false otherwise).
   * QoS 1 is queued until PUBACK, then `onAck` runs; false only if the message cannot be encoded.
   */
  publish(topic: string, payload: string, qos: 0 | 1, onAck?: () => void): boolean;
  /** QoS 1 messages not yet acknowledged, oldest first (read-only for the caller; its length is what tests and tools want). */
  readonly outbox: ArrayLike<unknown>;
}

interface OutboxEntry {
  i: number;
  p: string;
  t: number;
  a?: () => void;
}

/** The socket handlers of one connection attempt, `g` its generation. */
interface ConnHandlers extends SocketHandlers {
  g: number;
}

interface PendingSubscribe {
  i: number;
  s: string[];
}

/** States of the one client (a const enum: inlined as numbers, no object on the device). */
const enum St {
  Stopped,
  Connecting,
  Connected,
  Backoff,
}

let net: NetPort;
let clock: ClockPort;
let random: () => number;
let log: (line: string) => void;
let events: MqttEvents;
let host = "";
let port = 0;
let tls = false;
let clientId = "";
let username: string | undefined;
let password: string | undefined;
let credentials: (() => MqttCredentials) | undefined;
let kaSec = 0;
let ka = 0;
let connectMs = 0;
let ackMs = 0;
let backoffMin = 0;
let backoffMax = 0;
let maxOutbox = 0;
let maxPacket = 0;

let client: MqttClient | undefined;
let st: St = St.Stopped;
/** Bumped whenever a connection ends, never reset (not even by a new client): socket callbacks carrying an older value are stale. */
let gen = 0;
let sock: Socket | null = null;
let tcpUp = false;
/** Bytes received and not yet parsed into packets. */
let buf = "";
/** The one timer (see the top); null once fired or cancelled, since Espruino reuses ids. */
let timer: TimerId | null = null;
/** When `timer` fires while connected. */
let timerAt = 0;
let attempts = 0;
let lastSent = 0;
let lastRecv = 0;
/** When the outstanding PINGREQ went out, -1 if none. */
let pingAt = -1;
let nextId = 0;
let subs: string[] = [];
let pendingSubs: PendingSubscribe[] = [];
let outbox: OutboxEntry[] = [];
let qos2Ids: number[] = [];

/** Sends on the current socket; a throwing socket ends the connection (returns false). */
function write(data: string): boolean {
  const s = sock;
  if (!s) return false;
  try {
    s.write(data);
  } catch (e) {
    end("write failed: " + errorText(e));
    return false;
  }
  lastSent = clock.now();
  return true;
}

/**
 * The one exit path of a connection or attempt: tear down without notifying anyone (later
 * callbacks from the socket are ignored), then for a `reason` tell the app and retry later;
 * "" is run(false), which stays down.
 */
function end(reason: string): void {
  if (st === St.Stopped) return;
  gen++;
  const s = sock;
  sock = null;
  client!.connected = false;
  tcpUp = false;
  buf = "";
  pingAt = -1;
  if (timer !== null) clock.cancel(timer);
  timer = null;
  pendingSubs = [];
  qos2Ids = [];
  for (let i = 0; i < outbox.length; i++) outbox[i].t = -1;
  if (s) {
    try {
      s.close();
    } catch (e) {}
  }
  if (!reason) {
    st = St.Stopped;
    attempts = 0;
    return;
  }
  st = St.Backoff;
  log("mqtt: " + reason);
  try {
    events("down", reason);
  } catch (e) {
    log("mqtt: down event threw: " + errorText(e));
  }
  if (st !== St.Backoff || timer !== null) return;
  // The policy of ../backoff, written out (one function fewer in the resident): the window
  // doubles from backoffMin up to backoffMax, the delay is uniform over it. attempts + 1: even
  // the first retry is jittered ([min, 2*min]), so a fleet that lost the broker at the same
  // moment does not come back in lockstep.
  let ceiling = backoffMin;
  for (let i = 0; i <= attempts && ceiling < backoffMax; i++) ceiling *= 2;
  if (ceiling > backoffMax) ceiling = backoffMax;
  const r = random();
  attempts++;
  timer = clock.after(Math.floor(backoffMin + (r >= 0 && r < 1 ? r : (r >>> 0) / 4294967296) * (ceiling - backoffMin)), run);
}

/**
 * The API's run(true) and run(false). Called without an argument, the one timer (see the top):
 * connect timeout, end of a backoff (a new attempt), or keepalive / ack timeouts, by state.
 * run(null), while connected (after a CONNACK or a QoS 1 publish), and the timer then: sends
 * every outbox entry not sent on this connection or unacknowledged for ackMs (again with DUP),
 * then arms the timer for the earliest deadline. Writes do not touch the timer; one that fires
 * early (because data went out meanwhile) just re-arms. One function for all of it, since each
 * function costs RAM on Espruino.
 */
function run(on?: boolean | null): void {
  if (on === false) {
    if (st === St.Connected && sock) {
      try {
        sock.write("\xe0\x00"); // DISCONNECT
      } catch (e) {}
    }
    end("");
    return;
  }
  if (on === undefined) {
    timer = null;
    if (st === St.Connecting) {
      end(tcpUp ? "no CONNACK within " + connectMs + " ms" : "connect timed out after " + connectMs + " ms");
      return;
    }
    if (st === St.Backoff) st = St.Stopped;
    else if (st !== St.Connected) return;
  }
  if (st === St.Connected && on !== true) {
    const g = gen;
    let now = clock.now();
    if (ka > 0) {
      if (pingAt >= 0) {
        if (now - pingAt >= ka / 2) {
          end("broker silent for " + (now - lastRecv) + " ms (keepalive)");
          return;
        }
      } else if (now - lastSent >= ka || now - lastRecv >= ka) {
        // Pinging on receive silence too: a device that only publishes QoS 0 would otherwise
        // never notice a dead link.
        if (!write("\xc0\x00")) return; // PINGREQ
        pingAt = now;
      }
    }
    let next = -1;
    for (let i = 0; i < outbox.length; i++) {
      const e = outbox[i];
      if (e.t < 0 || clock.now() - e.t >= ackMs) {
        if (!write(e.p) || g !== gen) return;
        if (!(e.p.charCodeAt(0) & 8)) e.p = String.fromCharCode(e.p.charCodeAt(0) | 8) + e.p.substring(1);
        e.t = lastSent;
      }
      if (next < 0 || e.t + ackMs < next) next = e.t + ackMs;
    }
    if (ka > 0) {
      const k = pingAt >= 0 ? pingAt + ka / 2 : (lastSent < lastRecv ? lastSent : lastRecv) + ka;
      if (next < 0 || k < next) next = k;
    }
    if (next < 0) return;
    if (timer !== null) {
      if (timerAt <= next) return;
      clock.cancel(timer);
    }
    now = next - clock.now();
    timerAt = next;
    timer = clock.after(now < 1 ? 1 : now, run);
    return;
  }
  if (st !== St.Stopped || on === null) return;
  const g = ++gen;
  st = St.Connecting;
  tcpUp = false;
  buf = "";
  if (!(kaSec >= 0 && kaSec <= 65535)) {
    end("cannot build CONNECT: MQTT_PROTOCOL: keepalive " + kaSec + " out of range 0..65535");
    return;
  }
  if (tls && !net.hasTls) {
    end("TLS is not available on this platform");
    return;
  }
  timer = clock.after(connectMs, run);
  const h: ConnHandlers = { g: g, onConnect: onConnect, onData: onData, onClose: onClose };
  let s: Socket;
  try {
    s = net.connect(host, port, tls, h);
  } catch (e) {
    // Espruino throws synchronously for an unknown host or a refused connection.
    if (g === gen) end("cannot connect to " + host + ":" + port + ": " + errorText(e));
    return;
  }
  if (g !== gen) {
    // A handler already ended this attempt from inside connect().
    try {
      s.close();
    } catch (e) {}
    return;
  }
  sock = s;
  if (tcpUp) h.onConnect();
}

/**
 * The API's publish and subscribe, one function for both (each function costs RAM on Espruino):
 * with a payload, publish (see MqttClient.publish); without one, subscribe(topic); with no
 * topic either, the re-subscription to everything on a new connection. Subscriptions are one
 * SUBSCRIBE at QoS 1.
 */
function send(topic?: string, payload?: string, qos?: 0 | 1, onAck?: () => void): boolean {
  const sub = payload === undefined;
  let topics = subs.slice();
  if (sub && topic !== undefined) {
    if (subs.indexOf(topic) >= 0) return true;
    subs.push(topic);
    if (st !== St.Connected) return true;
    topics = [topic];
  }
  if (!sub && qos !== 1 && st !== St.Connected) return false;
  let id = 0;
  if (sub || qos === 1) {
    // Packet ids cycle through 1..65535, skipping ids still waiting for an answer.
    for (let used = true; used; ) {
      id = nextId = nextId >= 65535 ? 1 : nextId + 1;
      used = false;
      for (let i = 0; i < outbox.length && !used; i++) used = outbox[i].i === id;
      for (let i = 0; i < pendingSubs.length && !used; i++) used = pendingSubs[i].i === id;
    }
  }
  let packet: string;
  try {
    if (sub) {
      packet = String.fromCharCode(id >> 8, id & 255);
      for (let i = 0; i < topics.length; i++) packet += mqttField(topics[i]) + "\x01";
      packet = mqttFrame(0x82, packet);
    } else packet = mqttFrame(id ? 0x32 : 0x30, mqttField(topic!) + (id ? String.fromCharCode(id >> 8, id & 255) : "") + payload);
  } catch (e) {
    log("mqtt: cannot " + (sub ? "subscribe to " + topics.join(",") : "publish to " + topic) + ": " + errorText(e));
    return false;
  }
  if (sub) {
    pendingSubs.push({ i: id, s: topics });
    return write(packet);
  }
  if (!id) return write(packet);
  const entry: OutboxEntry = { i: id, p: packet, t: -1 };
  if (onAck) entry.a = onAck;
  outbox.push(entry);
  if (outbox.length > maxOutbox) {
    // The topic is read back from the dropped PUBLISH: after the remaining length, 2 bytes of length.
    const old = outbox.splice(0, 1)[0].p;
    let k = 1;
    while (old.charCodeAt(k++) & 128) {}
    log("mqtt: outbox full, dropped unacknowledged message to " + old.substr(k + 2, (old.charCodeAt(k) << 8) | old.charCodeAt(k + 1)));
  }
  if (st === St.Connected) run(null);
  return true;
}

/**
 * The socket handlers: `this` is the attempt's handler object, whose `g` is the attempt's
 * generation (callbacks from an older socket are stale). CONNECT, credentials included, is
 * built, sent and dropped inside onConnect, so nothing secret stays in memory.
 */
function onConnect(this: ConnHandlers): void {
  const g = this.g;
  if (g !== gen) return;
  tcpUp = true;
  // Up inside net.connect(): run() calls this again once the socket is known.
  if (!sock) return;
  let packet = "";
  try {
    let cid = clientId;
    let user = username;
    let pass = password;
    if (credentials) {
      // Signed here, per connection: Tencent's signature carries a fresh connId and expiry.
      const c = credentials();
      if (c.clientId) cid = c.clientId;
      user = c.username;
      pass = c.password;
    }
    // CONNECT, protocol level 4, clean session; username/password only when given.
    let flags = 2;
    let tail = mqttField(cid);
    if (user !== undefined) {
      flags |= 128;
      tail += mqttField(user);
    }
    if (pass !== undefined) {
      flags |= 64;
      tail += mqttField(pass);
    }
    packet = mqttFrame(0x10, "\x00\x04MQTT\x04" + String.fromCharCode(flags, kaSec >> 8, kaSec & 255) + tail);
  } catch (e) {
    end("cannot build CONNECT: " + errorText(e));
    return;
  }
  write(packet);
}

function onData(this: ConnHandlers, data: string): void {
  const g = this.g;
  if (g !== gen) return;
  lastRecv = clock.now();
  pingAt = -1;
  buf = buf ? buf + data : data;
  try {
    while (g === gen) {
      // Frame one packet; an oversize one is refused as soon as its header shows it,
      // so it is never buffered.
      const b = buf;
      const n = b.length;
      let len = 0;
      let mul = 1;
      let at = 1;
      let c = 128;
      while (c & 128) {
        if (at > 4) throw otaError("MQTT_PROTOCOL", "remaining length longer than 4 bytes");
        if (at >= n) return;
        c = b.charCodeAt(at++);
        len += (c & 127) * mul;
        mul *= 128;
      }
      if (len > maxPacket) throw otaError("MQTT_PROTOCOL", "packet of " + len + " bytes exceeds limit " + maxPacket);
      if (n < at + len) return;
      buf = b.substring(at + len);
      const header = b.charCodeAt(0);
      const type = header >> 4;
      const body = b.substring(at, at + len);
      // The packet id of PUBACK..PUBCOMP and SUBACK; PUBLISH has its own below.
      let id = (body.charCodeAt(0) << 8) | body.charCodeAt(1);
      let qos = 0;
      let topicLen = 0;
      // Check the packet is well formed first, then that it is expected now.
      if (type === 3) {
        qos = (header >> 1) & 3;
        if (qos === 3) throw otaError("MQTT_PROTOCOL", "PUBLISH with QoS 3");
        topicLen = body.length < 2 ? 0 : id;
        at = 2 + topicLen;
        if (body.length < 2 || body.length < at + (qos ? 2 : 0)) throw otaError("MQTT_PROTOCOL", "PUBLISH too short (" + body.length + " bytes)");
        id = 0;
        if (qos) {
          id = (body.charCodeAt(at) << 8) | body.charCodeAt(at + 1);
          at += 2;
          if (!id) throw otaError("MQTT_PROTOCOL", "PUBLISH with packet id 0");
        }
      } else if (type === 2 || (type >= 4 && type <= 7) || type === 11) {
        // CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: exactly 2 bytes.
        if (len !== 2) throw otaError("MQTT_PROTOCOL", (type === 2 ? "CONNACK" : "packet type " + type) + " of " + len + " bytes");
      } else if (type === 9) {
        if (len < 3) throw otaError("MQTT_PROTOCOL", "SUBACK too short (" + len + " bytes)");
      } else if (type === 13) {
        if (len) throw otaError("MQTT_PROTOCOL", "PINGRESP with a body");
      } else throw otaError("MQTT_PROTOCOL", "unexpected packet type " + type + " from broker");

      if (st === St.Connecting) {
        if (type !== 2) throw otaError("MQTT_PROTOCOL", "expected CONNACK, got packet type " + type);
        const rc = body.charCodeAt(1);
        if (rc) {
          // Tencent answers 4 for a wrong or expired signature.
          end("connection refused: " + (rc < 6 ? ["accepted", "unacceptable protocol version", "client identifier rejected", "server unavailable", "bad user name or password", "not authorized"][rc] : "unknown return code " + rc));
          return;
        }
        if (timer !== null) clock.cancel(timer);
        timer = null;
        st = St.Connected;
        client!.connected = true;
        attempts = 0;
        log("mqtt: connected to " + host + ":" + port);
        if (subs.length) send();
        if (g === gen) run(null);
        if (g !== gen) return;
        try {
          events("up");
        } catch (e) {
          log("mqtt: up event threw: " + errorText(e));
        }
      } else if (type === 3) {
        let fresh = true;
        // The reply carries the id bytes as received.
        const idBytes = body.substr(at - 2, 2);
        if (qos === 1) {
          if (!write("\x40\x02" + idBytes)) return; // PUBACK
        } else if (qos === 2) {
          // Tencent never sends QoS 2; answering PUBREC/PUBCOMP keeps other brokers happy.
          fresh = qos2Ids.indexOf(id) < 0;
          if (fresh) {
            qos2Ids.push(id);
            // At most 16 remembered ids: a misbehaving broker cannot grow the list without bound.
            if (qos2Ids.length > 16) qos2Ids.splice(0, 1);
          }
          if (!write("\x50\x02" + idBytes)) return; // PUBREC
        }
        if (fresh) {
          try {
            events("message", body.substr(2, topicLen), body.substring(at));
          } catch (e) {
            log("mqtt: message event threw: " + errorText(e));
          }
        }
      } else if (type === 4) {
        // PUBACK: only for a message sent on this connection.
        for (let i = 0; i < outbox.length; i++) {
          const e = outbox[i];
          if (e.i !== id || e.t < 0) continue;
          outbox.splice(i, 1);
          if (e.a) {
            try {
              e.a();
            } catch (err) {
              log("mqtt: onAck threw: " + (err && (err as Error).message ? (err as Error).message : err));
            }
          }
          break;
        }
      } else if (type === 9) {
        for (let i = 0; i < pendingSubs.length; i++) {
          const p = pendingSubs[i];
          if (p.i !== id) continue;
          pendingSubs.splice(i, 1);
          for (let k = 0; k < p.s.length; k++) {
            // Granted QoS 0..2, or 0x80 for failure.
            if (!(body.charCodeAt(2 + k) <= 2)) log("mqtt: broker refused subscription to " + p.s[k] + "; retrying on next connect");
          }
          break;
        }
      } else if (type === 6) {
        // PUBREL
        const k = qos2Ids.indexOf(id);
        if (k >= 0) qos2Ids.splice(k, 1);
        write("\x70\x02" + body); // PUBCOMP
      } else if (type === 2) throw otaError("MQTT_PROTOCOL", "second CONNACK");
      // PINGRESP needs nothing beyond the receive bookkeeping; PUBREC/PUBCOMP/UNSUBACK
      // answer requests this client never makes, so they are ignored.
    }
  } catch (e) {
    if (g === gen) end("protocol error: " + errorText(e));
  }
}

function onClose(this: ConnHandlers): void {
  if (this.g === gen) end(st === St.Connected ? "connection lost" : tcpUp ? "closed by broker before CONNACK" : "cannot connect to " + host + ":" + port);
}

/**
 * A factory: the object it returns is the client. session.ts calls it without `new`, which on
 * Espruino would give it a prototype object kept for as long as the resident runs. One client
 * per load of this module: a new one stops and replaces the previous one.
 */
export const MqttClient = function (ports: MqttPorts, opts: MqttOptions, ev: MqttEvents): MqttClient {
  if (client) run(false);
  net = ports.net;
  clock = ports.clock;
  random = ports.random;
  log = ports.log;
  events = ev;
  host = opts.host;
  port = opts.port;
  tls = opts.tls;
  clientId = opts.clientId;
  username = opts.username;
  password = opts.password;
  credentials = opts.credentials;
  kaSec = opts.keepaliveSec;
  ka = kaSec * 1000;
  connectMs = opts.connectTimeoutMs || 20000;
  ackMs = opts.ackTimeoutMs || 10000;
  backoffMin = opts.backoffMinMs || 1000;
  backoffMax = opts.backoffMaxMs || 60000;
  // A ceiling below the floor is lifted to it, as ../backoff does.
  if (backoffMax < backoffMin) backoffMax = backoffMin;
  maxOutbox = opts.maxOutbox || 16;
  maxPacket = opts.maxPacketBytes || 8192;
  attempts = 0;
  nextId = 0;
  subs = [];
  outbox = [];
  client = { connected: false, run: run, outbox: outbox, subscribe: send, publish: send };
  return client;
} as { (ports: MqttPorts, opts: MqttOptions, events: MqttEvents): MqttClient; new (ports: MqttPorts, opts: MqttOptions, events: MqttEvents): MqttClient };
