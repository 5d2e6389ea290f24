// A TCP proxy between the simulated board and the broker, for MQTT faults a real broker
// will not produce on request:
//  - freeze(): every open connection turns into a black hole (no byte passes either way,
//    the sockets stay open), as when a NAT entry or a Wi-Fi link dies silently; only the
//    keepalive can notice. New connections pass normally.
//  - inject(topic, payload): a QoS 0 PUBLISH on any topic, written to the board between
//    two whole broker packets, so the agent's own topic check is what has to stop it.
import net from "node:net";

function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 128;
    out.push(b);
  } while (n > 0);
  return out;
}

/** An MQTT 3.1.1 PUBLISH, QoS 0, no retain. */
export function publishPacket(topic: string, payload: string | Buffer): Buffer {
  const t = Buffer.from(topic, "utf8");
  const p = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  const body = Buffer.concat([Buffer.from([t.length >> 8, t.length & 255]), t, p]);
  return Buffer.concat([Buffer.from([0x30, ...remainingLength(body.length)]), body]);
}

/** Length of the first whole packet in `b`, or 0 when it is not complete yet. */
function packetLength(b: Buffer): number {
  let mult = 1;
  let len = 0;
  for (let i = 1; i <= 4; i++) {
    if (i >= b.length) return 0;
    len += (b[i] & 127) * mult;
    mult *= 128;
    if ((b[i] & 128) === 0) return i + 1 + len <= b.length ? i + 1 + len : 0;
  }
  throw new Error("malformed remaining length from the broker");
}

interface Link {
  device: net.Socket;
  broker: net.Socket;
  frozen: boolean;
  pending: Buffer;
}

export interface MqttProxy {
  port: number;
  /** Black-holes every connection open now. */
  freeze(): void;
  /** Writes a PUBLISH to every live connection; returns how many got it. */
  inject(topic: string, payload: string | Buffer): number;
  /** Connections the board opened so far. */
  connections(): number;
  close(): Promise<void>;
}

export async function startMqttProxy(brokerPort: number): Promise<MqttProxy> {
  const links = new Set<Link>();
  let opened = 0;
  const server = net.createServer((device) => {
    opened++;
    const broker = net.connect(brokerPort, "127.0.0.1");
    const link: Link = { device, broker, frozen: false, pending: Buffer.alloc(0) };
    links.add(link);
    const drop = () => {
      links.delete(link);
      device.destroy();
      broker.destroy();
    };
    device.on("data", (d) => {
      if (!link.frozen) broker.write(d);
    });
    broker.on("data", (d) => {
      if (link.frozen) return;
      link.pending = Buffer.concat([link.pending, d]);
      for (;;) {
        const n = packetLength(link.pending);
        if (n === 0) break;
        device.write(link.pending.subarray(0, n));
        link.pending = link.pending.subarray(n);
      }
    });
    // A frozen link stays open until the board gives up on it; the broker side may close.
    device.on("close", drop);
    device.on("error", drop);
    broker.on("close", () => {
      if (!link.frozen) drop();
    });
    broker.on("error", () => {
      if (!link.frozen) drop();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    freeze() {
      for (const l of links) l.frozen = true;
    },
    inject(topic, payload) {
      let n = 0;
      for (const l of links) {
        if (l.frozen || l.device.destroyed) continue;
        l.device.write(publishPacket(topic, payload));
        n++;
      }
      return n;
    },
    connections: () => opened,
    async close() {
      for (const l of links) {
        l.device.destroy();
        l.broker.destroy();
      }
      links.clear();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
