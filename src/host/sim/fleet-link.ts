// One simulated board's link to one server: a TCP proxy on 127.0.0.1 that the board's
// virtual network routes to instead of the server. Towards the device it delivers the
// server's bytes in small pieces, late and rate-limited, and it cuts or stalls connections
// as the link's behaviour says; towards the server it forwards as is. Seeded, so a fleet
// run can be repeated.
import net from "node:net";
import type { LinkBehaviour } from "./fleet-profiles";
import { seededRandom } from "../seeded-random";

export interface LinkStats {
  connections: number;
  cuts: number;
  stalls: number;
  drops: number;
  bytesToDevice: number;
}

export interface Link {
  port: number;
  stats: LinkStats;
  close(): Promise<void>;
}

const PIECE = 4096;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function startLink(serverPort: number, b: LinkBehaviour, seed: number): Promise<Link> {
  const random = seededRandom(seed);
  const stats: LinkStats = { connections: 0, cuts: 0, stalls: 0, drops: 0, bytesToDevice: 0 };
  const open = new Set<net.Socket>();

  const server = net.createServer((device) => {
    stats.connections++;
    const upstream = net.connect(serverPort, "127.0.0.1");
    device.setNoDelay(true);
    upstream.setNoDelay(true);
    open.add(device);
    open.add(upstream);
    let closed = false;
    const closeBoth = () => {
      if (closed) return;
      closed = true;
      clearTimeout(dropTimer);
      device.destroy();
      upstream.destroy();
    };
    device.on("close", () => {
      open.delete(device);
      closeBoth();
    });
    upstream.on("close", () => {
      open.delete(upstream);
      // let what is queued for the device go out before it sees the close
      void queue.then(() => (stalled ? undefined : device.end()));
    });
    device.on("error", closeBoth);
    upstream.on("error", closeBoth);
    device.on("data", (d) => upstream.write(d));

    // what happens to this connection, decided up front
    const roll = random();
    const faultAt = Math.floor(random() * Math.max(1, b.cutWithinBytes));
    const fault: "cut" | "stall" | null = roll < b.cutChance ? "cut" : roll < b.cutChance + b.stallChance ? "stall" : null;
    let dropTimer: NodeJS.Timeout | undefined;
    if (b.dropMeanMs > 0) {
      const after = -Math.log(1 - random()) * b.dropMeanMs;
      dropTimer = setTimeout(() => {
        stats.drops++;
        closeBoth();
      }, after);
    }

    let sent = 0;
    let stalled = false;
    let queue = Promise.resolve();
    const deliver = async (data: Buffer) => {
      for (let i = 0; i < data.length && !closed && !stalled; i += PIECE) {
        let piece = data.subarray(i, Math.min(data.length, i + PIECE));
        if (fault && sent + piece.length > faultAt) piece = piece.subarray(0, Math.max(0, faultAt - sent));
        const [lo, hi] = b.latencyMs;
        const wait = lo + random() * (hi - lo) + (b.bytesPerSecond > 0 ? (piece.length * 1000) / b.bytesPerSecond : 0);
        if (wait >= 1) await sleep(wait);
        if (closed) return;
        if (piece.length) {
          device.write(piece);
          sent += piece.length;
          stats.bytesToDevice += piece.length;
        }
        if (fault && sent >= faultAt) {
          if (fault === "cut") {
            stats.cuts++;
            closeBoth();
          } else {
            // the device hears nothing more; it has to notice and give up by itself
            stats.stalls++;
            stalled = true;
            upstream.destroy();
          }
          return;
        }
      }
    };
    upstream.on("data", (d: Buffer) => {
      upstream.pause();
      queue = queue.then(() => deliver(d)).then(() => {
        if (!closed && !stalled) upstream.resume();
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    stats,
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
