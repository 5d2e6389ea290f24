// Simulated firmware host (the cloud's COS bucket): files served with Range by the `send`
// library, so Range, If-Range and 416 follow a well-used implementation rather than ours,
// and a fault layer that owns the raw socket after `send` has decided what to answer.
// The fault layer writes the bytes itself, so it can lie in headers, change framing, cut,
// stall or trickle exactly where a test says (see faults.ts).
import http from "node:http";
import https from "node:https";
import net from "node:net";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import crypto from "node:crypto";
import send from "send";
import { FaultPlan, type CutPoint, type Fault } from "./faults";

export { FaultPlan };
export type { Fault, FaultRule, CutPoint } from "./faults";

export interface RequestLog {
  /** 1-based request number (what FaultRule.onRequest refers to). */
  n: number;
  path: string;
  /** The query string as requested ("" when none): tells which signed URL a client used. */
  query: string;
  range: string | null;
  ifRange: string | null;
  /** Status written (0 until the head is written). */
  status: number;
  contentRange: string | null;
  /** Body bytes (after framing) handed to the socket. */
  bytesSent: number;
  /** Kinds of the faults applied. */
  faults: string[];
  /** How the response ended. */
  end: "pending" | "complete" | "reset" | "stalled" | "short" | "client-closed";
  /** 1-based number of the TCP connection it came on, in the order the server accepted them. */
  connection: number;
}

/**
 * What the server does with a connection after a response. "keep-alive": HTTP/1.1's default,
 * kept open unless the response's framing or a fault ends it; with
 * `maxRequests` the n-th response on a connection says `Connection: close` and closes, as
 * nginx's keepalive_requests does. "close": `Connection: close` and close after every response.
 * "silent-close": closes after every response without saying so (a server that ignores keep-alive).
 */
export interface ConnectionPolicy {
  mode: "keep-alive" | "close" | "silent-close";
  maxRequests?: number;
}

export interface FirmwareServer {
  url(filePath: string): string;
  port: number;
  /** Publishes (or replaces) a file. The ETag defaults to the quoted MD5 of the bytes (strong, as COS does). */
  setFile(filePath: string, bytes: Uint8Array, opts?: { etag?: string }): void;
  faults: FaultPlan;
  /** Read at each request; may be changed at any time. Default keep-alive without a limit. */
  connections: ConnectionPolicy;
  requests: RequestLog[];
  /** TCP connections that carried a request so far. */
  connectionCount(): number;
  /** Resolves once no response is still being written (a stalled one counts as finished). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

interface Published {
  etag: string;
}

const CRLF = "\r\n";

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function titleCase(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

/** Body bytes to send before the cut, or -1 when the cut point is outside this body. */
function cutOf(f: Fault, first: number, last: number): number {
  const c = f as CutPoint;
  if (c.bytes !== undefined) return c.bytes;
  const at = c.atOffset as number;
  return first >= 0 && at >= first && at <= last ? at - first : -1;
}

/** Writes one raw HTTP response to a socket under the faults of its request. */
class FaultyResponse {
  private queue: Buffer[] = [];
  private ended = false;
  private wake: (() => void) | null = null;
  private started = false;
  private dead = false;
  private trickle: { pieceBytes: number; delayMs: number } | null = null;
  private piecesWritten = 0;
  private cutKind = "";
  private readonly onClose = () => {
    this.dead = true;
    if (this.log.end === "pending") this.log.end = "client-closed";
    this.kick();
    this.done();
  };

  /** `closeAfter`: end the connection after this response; `announce`: say so with `Connection: close`. */
  constructor(
    private socket: net.Socket,
    private log: RequestLog,
    private faults: Fault[],
    private plan: FaultPlan,
    private done: () => void,
    private closeAfter: boolean,
    private announce: boolean,
  ) {
    for (const f of faults) if (f.kind === "trickle") this.trickle = f;
    socket.on("close", this.onClose);
  }

  /** Takes over `res`: whatever `send` writes lands here instead of in node's HTTP writer. */
  capture(res: http.ServerResponse): void {
    const self = this;
    const toBuffer = (chunk: unknown, enc?: unknown): Buffer | null => {
      if (chunk === undefined || chunk === null || typeof chunk === "function") return null;
      if (typeof chunk === "string") return Buffer.from(chunk, typeof enc === "string" ? (enc as BufferEncoding) : "utf8");
      return Buffer.from(chunk as Uint8Array);
    };
    res.write = function (chunk: unknown, enc?: unknown): boolean {
      self.begin(res);
      const b = toBuffer(chunk, enc);
      if (b) self.queue.push(b);
      self.kick();
      return true;
    } as typeof res.write;
    res.end = function (chunk?: unknown, enc?: unknown): http.ServerResponse {
      self.begin(res);
      const b = toBuffer(chunk, enc);
      if (b) self.queue.push(b);
      self.ended = true;
      self.kick();
      return res;
    } as typeof res.end;
  }

  /** A response made up here (status faults). */
  sendStatus(status: number, headers: Record<string, string>, body: string): void {
    this.start(status, headers, -1, -1);
    this.queue.push(Buffer.from(body, "latin1"));
    this.ended = true;
    this.kick();
  }

  private kick(): void {
    const w = this.wake;
    this.wake = null;
    if (w) w();
  }

  private begin(res: http.ServerResponse): void {
    if (this.started) return;
    const headers: Record<string, string> = {};
    for (const name of res.getHeaderNames()) {
      const v = res.getHeader(name);
      if (v !== undefined) headers[name] = Array.isArray(v) ? v.join(", ") : String(v);
    }
    let first = 0;
    const m = /^bytes (\d+)-(\d+)\//.exec(headers["content-range"] || "");
    if (res.statusCode === 206 && m) first = parseInt(m[1], 10);
    let last = -1;
    if (res.statusCode === 206 && m) last = parseInt(m[2], 10);
    else if (res.statusCode === 200 && headers["content-length"]) last = parseInt(headers["content-length"], 10) - 1;
    // offset-armed faults are decided now that the body's file range is known
    const armed = last >= first ? this.plan.takeForRange(first, last) : [];
    if (armed.length > 0) {
      this.faults = this.faults.concat(armed);
      for (const f of armed) this.log.faults.push(f.kind);
    }
    this.start(res.statusCode, headers, first, last);
  }

  /** `first`..`last`: the file range of the body (-1 when it is not file data). */
  private start(status: number, headers: Record<string, string>, first: number, last: number): void {
    this.started = true;
    const hasBody = status === 200 || status === 206;
    let framing: "length" | "chunked" | "close" = "length";
    let chunkBytes = 1000;
    let extra = 0;
    let cut = Infinity;
    for (const f of this.faults) {
      if (f.kind === "content-range") headers["content-range"] = f.value;
      else if (f.kind === "header") {
        if (f.value === null) delete headers[f.name.toLowerCase()];
        else headers[f.name.toLowerCase()] = f.value;
      } else if (hasBody && f.kind === "chunked") {
        framing = "chunked";
        if (f.chunkBytes) chunkBytes = f.chunkBytes;
      } else if (hasBody && f.kind === "close-delimited") framing = "close";
      else if (hasBody && f.kind === "extra-bytes") extra += f.bytes;
      else if (f.kind === "reset-after" || f.kind === "stall-after" || f.kind === "short-body") {
        const at = cutOf(f, first, last);
        if (at >= 0 && at < cut) {
          cut = at;
          this.cutKind = f.kind === "reset-after" && f.rst ? "rst" : f.kind;
        }
      }
    }
    if (framing !== "length") delete headers["content-length"];
    else if (extra > 0 && headers["content-length"] !== undefined) {
      headers["content-length"] = String(parseInt(headers["content-length"], 10) + extra);
    }
    if (framing === "chunked") headers["transfer-encoding"] = "chunked";
    // a body that ends with the connection cannot leave it open
    if (framing === "close") this.closeAfter = true;
    if (this.announce || framing === "close") headers["connection"] = "close";
    else delete headers["connection"];
    this.log.status = status;
    this.log.contentRange = headers["content-range"] ?? null;
    let head = "HTTP/1.1 " + status + " " + (http.STATUS_CODES[status] || "Unknown") + CRLF;
    for (const name of Object.keys(headers)) head += titleCase(name) + ": " + headers[name] + CRLF;
    void this.pump(Buffer.from(head + CRLF, "latin1"), framing, chunkBytes, extra, cut);
  }

  private async pump(head: Buffer, framing: string, chunkBytes: number, extra: number, cut: number): Promise<void> {
    try {
      await this.out(head);
      let budget = cut;
      for (;;) {
        if (this.dead) return;
        let b = this.queue.shift();
        if (!b) {
          if (!this.ended) {
            await new Promise<void>((r) => (this.wake = r));
            continue;
          }
          if (extra <= 0) break;
          b = Buffer.alloc(extra, 0xa5);
          extra = 0;
        }
        if (b.length > budget) b = b.subarray(0, budget);
        budget -= b.length;
        if (framing === "chunked") {
          for (let i = 0; i < b.length; i += chunkBytes) {
            const part = b.subarray(i, Math.min(b.length, i + chunkBytes));
            await this.out(Buffer.concat([Buffer.from(part.length.toString(16) + CRLF), part, Buffer.from(CRLF)]));
            this.log.bytesSent += part.length;
          }
        } else {
          await this.out(b);
          this.log.bytesSent += b.length;
        }
        if (budget <= 0) return this.cutNow();
      }
      if (framing === "chunked") await this.out(Buffer.from("0" + CRLF + CRLF));
      for (const f of this.faults) if (f.kind === "garbage-after") await this.out(Buffer.from(f.data, "latin1"));
      this.log.end = "complete";
      if (this.closeAfter) {
        // closed both ways, as a server closes its descriptor: a request already on its way gets a reset
        this.socket.destroySoon();
        return;
      }
      // the connection lives on for the next request: this response no longer watches it
      this.socket.off("close", this.onClose);
      this.done();
    } catch {
      // the client went away mid-write: the close handler records it
    }
  }

  private cutNow(): void {
    if (this.cutKind === "stall-after") {
      this.log.end = "stalled";
      this.done();
      return;
    }
    if (this.cutKind === "short-body") {
      this.log.end = "short";
      this.socket.end();
      return;
    }
    this.log.end = "reset";
    if (this.cutKind !== "rst") {
      this.socket.destroy();
      return;
    }
    try {
      this.socket.resetAndDestroy();
    } catch {
      // TLS sockets have no RST of their own
      this.socket.destroy();
    }
  }

  /** Writes raw bytes, in trickle pieces when asked, resolving once the socket took them. */
  private async out(b: Buffer): Promise<void> {
    const t = this.trickle;
    if (!t) return this.write(b);
    for (let i = 0; i < b.length; i += t.pieceBytes) {
      if (this.piecesWritten++ > 0) await sleep(t.delayMs);
      await this.write(b.subarray(i, Math.min(b.length, i + t.pieceBytes)));
    }
  }

  private write(b: Buffer): Promise<void> {
    if (this.dead || this.socket.destroyed) return Promise.reject(new Error("socket closed"));
    return new Promise((resolve, reject) => {
      this.socket.write(b, (err) => (err ? reject(err) : resolve()));
    });
  }
}

export async function startFirmwareServer(opts?: { tls?: { key: string | Buffer; cert: string | Buffer } }): Promise<FirmwareServer> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "fw-server-"));
  const files = new Map<string, Published>();
  const requests: RequestLog[] = [];
  const faults = new FaultPlan();
  const sockets = new Set<net.Socket>();
  /** Per connection: its number and the requests it carried so far. */
  const perSocket = new WeakMap<net.Socket, { n: number; requests: number }>();
  let accepted = 0;
  const policy = { connections: { mode: "keep-alive" } as ConnectionPolicy };
  let inFlight = 0;
  let idleWaiters: (() => void)[] = [];
  let mtimeSeconds = Math.floor(Date.now() / 1000) - 100000;

  function settle(): void {
    inFlight--;
    if (inFlight === 0) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
    }
  }

  function setFile(filePath: string, bytes: Uint8Array, o?: { etag?: string }): void {
    if (!filePath.startsWith("/") || filePath.includes("..")) throw new Error("setFile: bad path " + filePath);
    const full = path.join(root, filePath);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full, bytes);
    // every version gets its own Last-Modified second, so a date validator changes too
    mtimeSeconds += 10;
    fs.utimesSync(full, mtimeSeconds, mtimeSeconds);
    const etag = o?.etag ?? '"' + crypto.createHash("md5").update(bytes).digest("hex") + '"';
    files.set(filePath, { etag });
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const socket = req.socket;
    const n = requests.length + 1;
    const parsed = new URL(req.url || "/", "http://x");
    const pathname = parsed.pathname;
    const header = (name: string): string | null => {
      const v = req.headers[name];
      return typeof v === "string" ? v : null;
    };
    const conn = perSocket.get(socket) ?? { n: ++accepted, requests: 0 };
    perSocket.set(socket, conn);
    conn.requests++;
    const p = policy.connections;
    const capped = p.mode === "keep-alive" && p.maxRequests !== undefined && conn.requests >= p.maxRequests;
    const log: RequestLog = {
      n,
      connection: conn.n,
      path: pathname,
      query: parsed.search,
      range: header("range"),
      ifRange: header("if-range"),
      status: 0,
      contentRange: null,
      bytesSent: 0,
      faults: [],
      end: "pending",
    };
    requests.push(log);
    const chosen = faults.takeForRequest(n);
    log.faults = chosen.map((f) => f.kind);
    inFlight++;
    let settled = false;
    const writer = new FaultyResponse(
      socket,
      log,
      chosen,
      faults,
      () => {
        if (!settled) {
          settled = true;
          settle();
        }
      },
      p.mode !== "keep-alive" || capped,
      p.mode === "close" || capped,
    );
    for (const f of chosen) if (f.kind === "replace-file") setFile(pathname, f.bytes, { etag: f.etag });
    const status = chosen.find((f) => f.kind === "status");
    if (status && status.kind === "status") {
      const headers: Record<string, string> = { "content-type": "text/plain" };
      const body = status.body ?? (http.STATUS_CODES[status.status] || "error") + "\n";
      headers["content-length"] = String(Buffer.byteLength(body, "latin1"));
      if (status.retryAfter !== undefined) headers["retry-after"] = status.retryAfter;
      writer.sendStatus(status.status, headers, body);
      return;
    }
    if (chosen.some((f) => f.kind === "ignore-range")) {
      delete req.headers["range"];
      delete req.headers["if-range"];
    }
    writer.capture(res);
    const stream = send(req, pathname, { root, cacheControl: false, dotfiles: "deny", index: false });
    stream.on("headers", (r: http.ServerResponse) => {
      const f = files.get(pathname);
      if (f) r.setHeader("ETag", f.etag);
    });
    stream.pipe(res);
  }

  const server: http.Server = opts?.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handle) : http.createServer(handle);
  server.on(opts?.tls ? "secureConnection" : "connection", (s: net.Socket) => {
    sockets.add(s);
    s.setNoDelay(true);
    s.on("close", () => sockets.delete(s));
  });
  server.on("clientError", (_e: Error, s: net.Socket) => s.destroy());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const scheme = opts?.tls ? "https" : "http";

  return {
    port,
    url: (filePath: string) => scheme + "://127.0.0.1:" + port + filePath,
    setFile,
    faults,
    get connections() {
      return policy.connections;
    },
    set connections(c: ConnectionPolicy) {
      policy.connections = c;
    },
    requests,
    connectionCount: () => accepted,
    settled: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => idleWaiters.push(r))),
    close: async () => {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
