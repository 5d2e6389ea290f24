// The HTTP side of `ota-cloud`: one firmware image served with Range by the `send` library
// (Range, If-Range, 416 and validators as a well-used static-file server does them). Every
// device gets its own URL path, /fw/<productId>/<deviceName>/<file>, so the bytes each
// device fetched can be counted, which gives the per-device throughput and the total
// fetched. The image is copied to a private directory first, so rebuilding the file
// during a run cannot change what devices download under an MD5 announced earlier. Like
// Tencent's COS, the ETag is the quoted MD5 (strong), which the agent sends back as If-Range.
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import send from "send";

export interface DeviceTraffic {
  /** Body bytes handed to the network. */
  bytes: number;
  requests: number;
  /** Recent (time, cumulative bytes) samples for the throughput. */
  samples: { t: number; bytes: number }[];
}

export interface FirmwareHost {
  port: number;
  /** The URL the cloud announces to one device; `n` makes every push's URL distinct (like a fresh signature). */
  url(deviceKey: string, n: number): string;
  traffic(deviceKey: string): DeviceTraffic;
  /** Bytes per second over the last `windowMs`. */
  throughput(deviceKey: string, windowMs?: number): number;
  close(): Promise<void>;
}

export interface FirmwareHostOptions {
  bytes: Uint8Array;
  /** File name in the URL. */
  name: string;
  /** Address put into URLs: the one boards reach this machine at. */
  publicHost: string;
  /** Address to listen on (default all interfaces) and port (default any free one). */
  listen?: string;
  port?: number;
}

const SAMPLE_KEEP_MS = 10000;

export async function startFirmwareHost(o: FirmwareHostOptions): Promise<FirmwareHost> {
  const dir = mkdtempSync(join(tmpdir(), "ota-cloud-fw-"));
  writeFileSync(join(dir, o.name), o.bytes);
  const etag = '"' + createHash("md5").update(o.bytes).digest("hex") + '"';
  const traffic = new Map<string, DeviceTraffic>();
  const trafficOf = (key: string): DeviceTraffic => {
    let t = traffic.get(key);
    if (!t) {
      t = { bytes: 0, requests: 0, samples: [] };
      traffic.set(key, t);
    }
    return t;
  };

  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const m = /^\/fw\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(path);
    if (!m || decodeURIComponent(m[3]) !== o.name || (req.method !== "GET" && req.method !== "HEAD")) {
      res.statusCode = 404;
      res.end("not found\n");
      return;
    }
    const t = trafficOf(decodeURIComponent(m[1]) + "/" + decodeURIComponent(m[2]));
    t.requests++;
    send(req, "/" + encodeURIComponent(o.name), { root: dir, index: false, cacheControl: false, dotfiles: "allow" })
      .on("headers", (r: http.ServerResponse) => r.setHeader("ETag", etag))
      .on("stream", (file: NodeJS.ReadableStream) => {
        file.on("data", (chunk: Buffer) => {
          t.bytes += chunk.length;
          const now = Date.now();
          t.samples.push({ t: now, bytes: t.bytes });
          while (t.samples.length > 2 && t.samples[0].t < now - SAMPLE_KEEP_MS) t.samples.shift();
        });
      })
      .pipe(res);
  });
  const sockets = new Set<Socket>();
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("clientError", (_e, s: Socket) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, o.listen ?? "0.0.0.0", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = o.publicHost.includes(":") ? `[${o.publicHost}]` : o.publicHost;

  return {
    port,
    url: (key, n) => {
      const [productId, deviceName] = key.split("/");
      return `http://${hostPart}:${port}/fw/${encodeURIComponent(productId)}/${encodeURIComponent(deviceName)}/${encodeURIComponent(o.name)}?push=${n}`;
    },
    traffic: trafficOf,
    throughput(key, windowMs = 3000) {
      const s = trafficOf(key).samples;
      if (s.length === 0) return 0;
      const now = Date.now();
      const last = s[s.length - 1];
      if (last.t < now - windowMs) return 0;
      const first = s.find((x) => x.t >= now - windowMs) ?? s[0];
      const before = s[s.indexOf(first) - 1];
      const from = before ?? first;
      const span = Math.max(now - from.t, 250);
      return ((last.bytes - from.bytes) * 1000) / span;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
