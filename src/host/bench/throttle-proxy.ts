// A TCP proxy that is the firmware link: every byte from the server to the device passes
// through one token bucket of `bytesPerSecond`, shared by all connections (one radio link),
// so a simulated update can be timed against the ideal `image size / link rate`. The log has
// one entry per request, so a kept-alive connection still shows its gaps between spans.
import net from "node:net";

export interface LinkExchange {
  /** performance.now() times: the device connected (its first request) or sent another request on the connection; the link starting to send the first byte, the last byte delivered. */
  opened: number;
  firstByte: number;
  lastByte: number;
  bytes: number;
}

export interface ThrottleProxy {
  port: number;
  /** One per request the device sent: a new connection or another request on a kept one. */
  exchanges: LinkExchange[];
  /** TCP connections the device opened. */
  connections: number;
  /** Server-to-device bytes that went through. */
  bytes: number;
  close(): Promise<void>;
}

/** Largest piece written at once: at 2 MB/s, 8 KB is 4 ms of link time. */
const PIECE = 8192;

export async function startThrottleProxy(targetPort: number, bytesPerSecond: number): Promise<ThrottleProxy> {
  const sockets = new Set<net.Socket>();
  /** When the link is free again (ms, performance.now clock). */
  let linkFreeAt = 0;
  const state = { bytes: 0 };
  const exchanges: LinkExchange[] = [];
  let connections = 0;

  /**
   * Sends `data`, which reached the proxy at `arrived`, on `to` at the link rate; resolves once it
   * has been handed to the socket. A piece waiting for the link starts the moment the link is free,
   * even when this process's timer fires late: the late write catches up, as a radio clocking out
   * its queue loses no time to the proxy's scheduling (a link idles only when it has nothing to send).
   */
  async function paced(to: net.Socket, data: Buffer, log: LinkExchange, arrived: number): Promise<void> {
    for (let i = 0; i < data.length; i += PIECE) {
      const piece = data.subarray(i, Math.min(data.length, i + PIECE));
      const now = performance.now();
      const start = Math.max(arrived, linkFreeAt);
      linkFreeAt = start + (piece.length * 1000) / bytesPerSecond;
      // the piece is on the wire when its last byte has been clocked out
      const wait = linkFreeAt - now;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (to.destroyed) return;
      state.bytes += piece.length;
      log.bytes += piece.length;
      // the first byte went out when its piece's slot began: the link was busy from then on
      if (!log.firstByte) log.firstByte = start;
      log.lastByte = performance.now();
      to.write(piece);
    }
  }

  const server = net.createServer((client) => {
    sockets.add(client);
    // the pacing is the link: without this the kernel holds each sub-MSS piece until the device
    // ACKs the last one (Nagle), and on a long-lived connection the device's delayed ACKs add up
    // to ~15 ms per span that no radio link has
    client.setNoDelay(true);
    connections++;
    let log: LinkExchange = { opened: performance.now(), firstByte: 0, lastByte: 0, bytes: 0 };
    exchanges.push(log);
    const upstream = net.connect(targetPort, "127.0.0.1");
    upstream.setNoDelay(true);
    sockets.add(upstream);
    let chain = Promise.resolve();
    // the server's bytes queue here (the link's buffer) with the time they arrived
    upstream.on("data", (d: Buffer) => {
      const to = log;
      const arrived = performance.now();
      chain = chain.then(() => paced(client, d, to, arrived));
    });
    // an end or reset from the server reaches the device after the data before it
    upstream.on("end", () => void chain.then(() => client.end()));
    upstream.on("close", () => void chain.then(() => client.destroy()));
    upstream.on("error", () => undefined);
    client.on("data", (d: Buffer) => {
      // a request after a response on the same connection: the next span
      if (log.bytes > 0) {
        log = { opened: performance.now(), firstByte: 0, lastByte: 0, bytes: 0 };
        exchanges.push(log);
      }
      upstream.write(d);
    });
    client.on("end", () => upstream.end());
    client.on("close", () => upstream.destroy());
    client.on("error", () => undefined);
    client.on("close", () => sockets.delete(client));
    upstream.on("close", () => sockets.delete(upstream));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    exchanges,
    get connections() {
      return connections;
    },
    get bytes() {
      return state.bytes;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
