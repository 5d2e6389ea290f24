// A small MQTT 3.1.1 client for the device, written against NetPort/ClockPort only.
// What it adds over "open a socket and send CONNECT":
// - it never gives up: any failure (sync throw from connect, refused CONNACK, socket close,
//   timeout, garbage from the broker) ends the attempt and schedules another with capped
//   exponential backoff and jitter, so a fleet does not reconnect in lockstep;
// - QoS 1 publishes sit in a bounded outbox until PUBACK and are replayed in order (with DUP)
//   after an ack timeout and on every reconnect;
// - subscriptions are remembered and re-sent before anything else on every connection, so a
//   publish made from onConnected is processed by the broker after the SUBSCRIBE;
// - each connection attempt has a generation number; callbacks from an older socket or timer
//   are ignored, and nothing is called back after stop().
// Clean session is always used (Tencent supports no persistent sessions worth relying on),
// so replayed QoS 1 messages can arrive twice at the receiver: at-least-once, as MQTT says.

import { backoffDelay } from "../backoff";
import { otaError } from "../errors";
import { ClockPort, NetPort, Socket, TimerId } from "../ports";
import {
  connackReason,
  decodePacket,
  encodeConnect,
  encodeIdPacket,
  encodePublish,
  encodeSubscribe,
  BrokerPacket,
  PacketReader,
  CONNACK,
  DISCONNECT_PACKET,
  PINGREQ_PACKET,
  PUBACK,
  PUBCOMP,
  PUBLISH,
  PUBREC,
  PUBREL,
  SUBACK,
} from "./packets";
import { unitRandom } from "./random";

export interface MqttPorts {
  net: NetPort;
  clock: ClockPort;
  /** A random 32-bit integer (SystemPort.random) or a number in [0, 1); used for backoff jitter. */
  random: () => number;
  log: (line: string) => void;
}

export interface MqttCredentials {
  username: string;
  password: string;
}

export interface MqttOptions {
  host: string;
  port: number;
  tls: boolean;
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
  /** Called before every connection attempt, so short-lived tokens can be re-signed. Overrides username/password. */
  credentials?: () => MqttCredentials;
}

export interface MqttEvents {
  onConnected(): void;
  /** After a lost connection and after every failed attempt; the client retries by itself. */
  onDisconnected(reason: string): void;
  /** `payload` is a binary string (UTF-8 bytes as sent); see utf8Decode in ./packets. */
  onMessage(topic: string, payload: string): void;
}

type State = "stopped" | "connecting" | "connected" | "backoff";

interface OutboxEntry {
  id: number;
  topic: string;
  /** Encoded PUBLISH without DUP. */
  packet: string;
  /** Time of the last transmission on the current connection, -1 if not sent on it. */
  sentAt: number;
  /** Whether it was ever transmitted, so later transmissions carry DUP. */
  dup: boolean;
  onAck?: () => void;
}

interface PendingSubscribe {
  id: number;
  topics: string[];
}

function errText(e: unknown): string {
  return e && (e as Error).message ? (e as Error).message : String(e);
}

/** Remembered QoS 2 ids waiting for PUBREL; a misbehaving broker cannot grow this without bound. */
const MAX_QOS2_IDS = 16;

export class MqttClient {
  /** True between a successful CONNACK and the loss of that connection. */
  connected = false;

  private ports: MqttPorts;
  private opts: MqttOptions;
  private events: MqttEvents;
  private keepaliveMs: number;
  private connectTimeoutMs: number;
  private ackTimeoutMs: number;
  private backoffMinMs: number;
  private backoffMaxMs: number;
  private maxOutbox: number;
  private maxPacketBytes: number;

  private state: State = "stopped";
  /** Bumped whenever a connection ends; callbacks carrying an older value are stale. */
  private gen = 0;
  private sock: Socket | null = null;
  private tcpUp = false;
  private connectPacket = "";
  private reader: PacketReader | null = null;
  private connectTimer: TimerId | null = null;
  private backoffTimer: TimerId | null = null;
  private serviceTimer: TimerId | null = null;
  private serviceAt = 0;
  private attempts = 0;
  private lastSent = 0;
  private lastRecv = 0;
  /** When the outstanding PINGREQ went out, -1 if none. */
  private pingAt = -1;
  private nextId = 0;
  private subs: string[] = [];
  private pendingSubs: PendingSubscribe[] = [];
  private outbox: OutboxEntry[] = [];
  private qos2Ids: number[] = [];

  constructor(ports: MqttPorts, opts: MqttOptions, events: MqttEvents) {
    this.ports = ports;
    this.opts = opts;
    this.events = events;
    this.keepaliveMs = opts.keepaliveSec * 1000;
    this.connectTimeoutMs = opts.connectTimeoutMs || 20000;
    this.ackTimeoutMs = opts.ackTimeoutMs || 10000;
    this.backoffMinMs = opts.backoffMinMs || 1000;
    this.backoffMaxMs = opts.backoffMaxMs || 60000;
    if (this.backoffMaxMs < this.backoffMinMs) this.backoffMaxMs = this.backoffMinMs;
    this.maxOutbox = opts.maxOutbox || 16;
    this.maxPacketBytes = opts.maxPacketBytes || 8192;
  }

  /** Starts connecting (immediately); does nothing if already started. */
  start(): void {
    if (this.state !== "stopped") return;
    this.attempts = 0;
    this.open();
  }

  /** Disconnects and stays down until start(). Idempotent; no event fires afterwards. Keeps the outbox and subscriptions. */
  stop(): void {
    if (this.state === "stopped") return;
    const s = this.connected ? this.sock : null;
    this.state = "stopped";
    if (s) {
      try {
        s.write(DISCONNECT_PACKET);
      } catch (e) {}
    }
    this.teardown();
    if (this.backoffTimer !== null) this.ports.clock.cancel(this.backoffTimer);
    this.backoffTimer = null;
  }

  /** Subscribes at QoS 1 now (if connected) and again after every reconnect. */
  subscribe(topic: string): void {
    if (this.subs.indexOf(topic) >= 0) return;
    this.subs.push(topic);
    if (this.connected) this.sendSubscribe([topic]);
  }

  /**
   * Publishes a binary-string payload. QoS 0 is sent only while connected (false otherwise).
   * QoS 1 is queued until PUBACK, then `onAck` runs; false only if the message cannot be encoded.
   */
  publish(topic: string, payload: string, qos: 0 | 1, onAck?: () => void): boolean {
    if (qos !== 1) {
      if (!this.connected) return false;
      let p0: string;
      try {
        p0 = encodePublish(topic, payload, 0, 0, false);
      } catch (e) {
        this.ports.log("mqtt: cannot publish to " + topic + ": " + errText(e));
        return false;
      }
      return this.write(p0);
    }
    const id = this.allocId();
    let packet: string;
    try {
      packet = encodePublish(topic, payload, 1, id, false);
    } catch (e) {
      this.ports.log("mqtt: cannot publish to " + topic + ": " + errText(e));
      return false;
    }
    const entry: OutboxEntry = { id: id, topic: topic, packet: packet, sentAt: -1, dup: false, onAck: onAck };
    this.outbox.push(entry);
    if (this.outbox.length > this.maxOutbox) {
      const old = this.outbox.splice(0, 1)[0];
      this.ports.log("mqtt: outbox full, dropped unacknowledged message to " + old.topic);
    }
    if (this.connected) this.transmit(entry);
    return true;
  }

  /** QoS 1 messages not yet acknowledged. */
  outboxSize(): number {
    return this.outbox.length;
  }

  private open(): void {
    const gen = ++this.gen;
    const o = this.opts;
    this.state = "connecting";
    this.tcpUp = false;
    this.reader = new PacketReader(this.maxPacketBytes);
    let user = o.username;
    let pass = o.password;
    try {
      if (o.credentials) {
        const c = o.credentials();
        user = c.username;
        pass = c.password;
      }
      this.connectPacket = encodeConnect({ clientId: o.clientId, username: user, password: pass, keepaliveSec: o.keepaliveSec });
    } catch (e) {
      this.lost("cannot build CONNECT: " + errText(e));
      return;
    }
    if (o.tls && !this.ports.net.hasTls) {
      this.lost("TLS is not available on this platform");
      return;
    }
    this.connectTimer = this.ports.clock.after(this.connectTimeoutMs, () => {
      if (gen !== this.gen) return;
      this.connectTimer = null;
      this.lost(this.tcpUp ? "no CONNACK within " + this.connectTimeoutMs + " ms" : "connect timed out after " + this.connectTimeoutMs + " ms");
    });
    let sock: Socket;
    try {
      sock = this.ports.net.connect(o.host, o.port, o.tls, {
        onConnect: () => {
          if (gen !== this.gen) return;
          this.tcpUp = true;
          if (this.sock) this.write(this.connectPacket);
        },
        onData: (d: string) => {
          if (gen === this.gen) this.received(d);
        },
        onClose: () => {
          if (gen !== this.gen) return;
          this.lost(this.connected ? "connection lost" : this.tcpUp ? "closed by broker before CONNACK" : "cannot connect to " + o.host + ":" + o.port);
        },
      });
    } catch (e) {
      // Espruino throws synchronously for an unknown host or a refused connection.
      if (gen === this.gen) this.lost("cannot connect to " + o.host + ":" + o.port + ": " + errText(e));
      return;
    }
    if (gen !== this.gen) {
      // A handler already ended this attempt from inside connect().
      try {
        sock.close();
      } catch (e) {}
      return;
    }
    this.sock = sock;
    if (this.tcpUp) this.write(this.connectPacket);
  }

  /** Ends the current connection without notifying anyone; later callbacks from it are ignored. */
  private teardown(): void {
    const clock = this.ports.clock;
    this.gen++;
    const s = this.sock;
    this.sock = null;
    this.connected = false;
    this.tcpUp = false;
    this.reader = null;
    this.pingAt = -1;
    if (this.connectTimer !== null) clock.cancel(this.connectTimer);
    if (this.serviceTimer !== null) clock.cancel(this.serviceTimer);
    this.connectTimer = null;
    this.serviceTimer = null;
    this.pendingSubs.splice(0);
    this.qos2Ids.splice(0);
    for (let i = 0; i < this.outbox.length; i++) this.outbox[i].sentAt = -1;
    if (s) {
      try {
        s.close();
      } catch (e) {}
    }
  }

  /** The one exit path of a connection or attempt: tear down, tell the app, retry later. */
  private lost(reason: string): void {
    if (this.state === "stopped") return;
    this.teardown();
    this.state = "backoff";
    this.ports.log("mqtt: " + reason);
    try {
      this.events.onDisconnected(reason);
    } catch (e) {
      this.ports.log("mqtt: onDisconnected threw: " + errText(e));
    }
    if (this.state !== "backoff" || this.backoffTimer !== null) return;
    // attempts + 1: even the first retry is jittered ([min, 2*min]), so a fleet that lost
    // the broker at the same moment does not come back in lockstep.
    const delay = backoffDelay(this.attempts + 1, this.backoffMinMs, this.backoffMaxMs, unitRandom(this.ports.random()));
    this.attempts++;
    this.backoffTimer = this.ports.clock.after(delay, () => {
      this.backoffTimer = null;
      if (this.state === "backoff") this.open();
    });
  }

  /** Sends on the current socket; a throwing socket ends the connection (returns false). */
  private write(data: string): boolean {
    const s = this.sock;
    if (!s) return false;
    try {
      s.write(data);
    } catch (e) {
      this.lost("write failed: " + errText(e));
      return false;
    }
    this.lastSent = this.ports.clock.now();
    return true;
  }

  private received(data: string): void {
    const gen = this.gen;
    const reader = this.reader;
    if (!reader) return;
    this.lastRecv = this.ports.clock.now();
    this.pingAt = -1;
    reader.feed(data);
    try {
      while (gen === this.gen) {
        const raw = reader.read();
        if (!raw) break;
        this.handle(decodePacket(raw));
      }
    } catch (e) {
      if (gen === this.gen) this.lost("protocol error: " + errText(e));
    }
  }

  private handle(p: BrokerPacket): void {
    if (this.state === "connecting") {
      if (p.type !== CONNACK) throw otaError("MQTT_PROTOCOL", "expected CONNACK, got packet type " + p.type);
      if (p.returnCode !== 0) {
        this.lost("connection refused: " + connackReason(p.returnCode));
        return;
      }
      this.connectionReady();
      return;
    }
    if (p.type === PUBLISH) {
      let fresh = true;
      if (p.qos === 1) {
        if (!this.write(encodeIdPacket(PUBACK, p.packetId))) return;
      } else if (p.qos === 2) {
        // Tencent never sends QoS 2; answering PUBREC/PUBCOMP keeps other brokers happy.
        fresh = this.qos2Ids.indexOf(p.packetId) < 0;
        if (fresh) {
          this.qos2Ids.push(p.packetId);
          if (this.qos2Ids.length > MAX_QOS2_IDS) this.qos2Ids.splice(0, 1);
        }
        if (!this.write(encodeIdPacket(PUBREC, p.packetId))) return;
      }
      if (!fresh) return;
      try {
        this.events.onMessage(p.topic, p.payload);
      } catch (e) {
        this.ports.log("mqtt: onMessage threw: " + errText(e));
      }
      return;
    }
    if (p.type === PUBACK) {
      this.acknowledged(p.packetId);
      return;
    }
    if (p.type === SUBACK) {
      this.subscribed(p.packetId, p.returnCodes);
      return;
    }
    if (p.type === PUBREL) {
      const k = this.qos2Ids.indexOf(p.packetId);
      if (k >= 0) this.qos2Ids.splice(k, 1);
      this.write(encodeIdPacket(PUBCOMP, p.packetId));
      return;
    }
    if (p.type === CONNACK) throw otaError("MQTT_PROTOCOL", "second CONNACK");
    // PINGRESP needs nothing beyond the receive bookkeeping; PUBREC/PUBCOMP/UNSUBACK answer
    // requests this client never makes, so they are ignored.
  }

  private connectionReady(): void {
    const gen = this.gen;
    if (this.connectTimer !== null) this.ports.clock.cancel(this.connectTimer);
    this.connectTimer = null;
    this.state = "connected";
    this.connected = true;
    this.attempts = 0;
    this.ports.log("mqtt: connected to " + this.opts.host + ":" + this.opts.port);
    if (this.subs.length) this.sendSubscribe(this.subs.slice());
    for (let i = 0; i < this.outbox.length && gen === this.gen; i++) this.transmit(this.outbox[i]);
    if (gen !== this.gen) return;
    this.scheduleService();
    try {
      this.events.onConnected();
    } catch (e) {
      this.ports.log("mqtt: onConnected threw: " + errText(e));
    }
  }

  private sendSubscribe(topics: string[]): void {
    const id = this.allocId();
    let packet: string;
    try {
      packet = encodeSubscribe(id, topics);
    } catch (e) {
      this.ports.log("mqtt: cannot subscribe to " + topics.join(",") + ": " + errText(e));
      return;
    }
    this.pendingSubs.push({ id: id, topics: topics });
    this.write(packet);
  }

  private subscribed(id: number, codes: number[]): void {
    for (let i = 0; i < this.pendingSubs.length; i++) {
      const s = this.pendingSubs[i];
      if (s.id !== id) continue;
      this.pendingSubs.splice(i, 1);
      for (let k = 0; k < s.topics.length; k++) {
        if (!(codes[k] <= 2)) this.ports.log("mqtt: broker refused subscription to " + s.topics[k] + "; retrying on next connect");
      }
      return;
    }
  }

  private acknowledged(id: number): void {
    for (let i = 0; i < this.outbox.length; i++) {
      const e = this.outbox[i];
      if (e.id !== id || e.sentAt < 0) continue;
      this.outbox.splice(i, 1);
      if (e.onAck) {
        try {
          e.onAck();
        } catch (err) {
          this.ports.log("mqtt: onAck threw: " + errText(err));
        }
      }
      return;
    }
  }

  private transmit(e: OutboxEntry): boolean {
    const p = e.dup ? String.fromCharCode(e.packet.charCodeAt(0) | 8) + e.packet.substring(1) : e.packet;
    if (!this.write(p)) return false;
    e.dup = true;
    e.sentAt = this.lastSent;
    this.armService(e.sentAt + this.ackTimeoutMs);
    return true;
  }

  /** Packet ids cycle through 1..65535, skipping ids still waiting for an answer. */
  private allocId(): number {
    for (;;) {
      this.nextId = this.nextId >= 65535 ? 1 : this.nextId + 1;
      const id = this.nextId;
      let used = false;
      for (let i = 0; i < this.outbox.length && !used; i++) used = this.outbox[i].id === id;
      for (let i = 0; i < this.pendingSubs.length && !used; i++) used = this.pendingSubs[i].id === id;
      if (!used) return id;
    }
  }

  /**
   * One timer per connection serves keepalive and ack timeouts: it fires at the earliest
   * deadline, does what is due and re-arms. Writes do not touch it; a timer that fires early
   * (because data went out meanwhile) just re-arms.
   */
  private service(): void {
    this.serviceTimer = null;
    if (!this.connected) return;
    const gen = this.gen;
    const now = this.ports.clock.now();
    const ka = this.keepaliveMs;
    if (ka > 0) {
      if (this.pingAt >= 0) {
        if (now - this.pingAt >= ka / 2) {
          this.lost("broker silent for " + (now - this.lastRecv) + " ms (keepalive)");
          return;
        }
      } else if (now - this.lastSent >= ka || now - this.lastRecv >= ka) {
        // Pinging on receive silence too: a device that only publishes QoS 0 would otherwise
        // never notice a dead link.
        if (!this.write(PINGREQ_PACKET)) return;
        this.pingAt = now;
      }
    }
    for (let i = 0; i < this.outbox.length && gen === this.gen; i++) {
      const e = this.outbox[i];
      if (e.sentAt >= 0 && now - e.sentAt >= this.ackTimeoutMs) this.transmit(e);
    }
    if (gen === this.gen) this.scheduleService();
  }

  private scheduleService(): void {
    let next = -1;
    const ka = this.keepaliveMs;
    if (ka > 0) next = this.pingAt >= 0 ? this.pingAt + ka / 2 : (this.lastSent < this.lastRecv ? this.lastSent : this.lastRecv) + ka;
    for (let i = 0; i < this.outbox.length; i++) {
      const s = this.outbox[i].sentAt;
      if (s >= 0 && (next < 0 || s + this.ackTimeoutMs < next)) next = s + this.ackTimeoutMs;
    }
    if (next >= 0) this.armService(next);
  }

  private armService(at: number): void {
    const clock = this.ports.clock;
    if (this.serviceTimer !== null) {
      if (this.serviceAt <= at) return;
      clock.cancel(this.serviceTimer);
    }
    const gen = this.gen;
    let wait = at - clock.now();
    if (wait < 1) wait = 1;
    this.serviceAt = at;
    this.serviceTimer = clock.after(wait, () => {
      if (gen === this.gen) this.service();
    });
  }
}
