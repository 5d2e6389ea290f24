// require("http") as Espruino's HTTP client behaves (libs/network/http/jswrap_http.c,
// libs/network/socketserver.c), carried over node:http/https to the routed local port:
// - request line plus "User-Agent: Espruino 2v29", "Connection: close", the caller's headers,
//   then "Host: name[:port]" unless the caller gave one; one connection per request;
// - the connection is made on the first write()/end() (http.get ends at once), and that is
//   where an unknown host or unrouted port throws, synchronously;
// - res.statusCode is a STRING, res.headers keeps the header case as sent;
// - body: 'data' binary strings of <= 536 bytes, one per event-loop turn, chunked decoding done,
//   then res 'end' and res 'close'(hadError);
// - a connection that closes early (FIN) just ends: 'end', 'close'(false), no 'error', so the
//   caller must count bytes; a reset is 'error' on the REQUEST, then res 'end', 'close'(true);
// - no timeout, no abort: req has no abort(), res has no destroy().

import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { bytesToBinary } from "./bytes";
import { resolveOrThrow } from "./net";
import {
  ByteQueue,
  CHUNK_SIZE,
  ESPRUINO_SNI,
  ESPRUINO_VERSION,
  HIGH_WATER,
  LOW_WATER,
  mapNodeError,
  type NetEnv,
  SOCKET_ERRORS,
  socketErrorText,
  toSendString,
} from "./socket-common";

type CtxObject = Record<string, unknown>;

interface RequestSpec {
  host: string | undefined;
  /** 0 when the caller gave none (Espruino then omits it from Host). */
  port: number;
  path: string;
  method: string;
  tls: boolean;
  headers: Array<[string, string]>;
}

function parseSpec(options: unknown, forceGet: boolean): RequestSpec {
  let o: Record<string, unknown>;
  if (typeof options === "string") {
    const u = new URL(options);
    o = {
      protocol: u.protocol,
      host: u.hostname,
      port: u.port ? Number(u.port) : 0,
      path: (u.pathname || "/") + u.search,
    };
  } else {
    o = (options ?? {}) as Record<string, unknown>;
  }
  const headers: Array<[string, string]> = [];
  const h = o.headers as Record<string, unknown> | undefined;
  if (h && typeof h === "object") for (const k of Object.keys(h)) headers.push([k, String(h[k])]);
  return {
    host: o.host === undefined ? undefined : String(o.host),
    port: Number(o.port) | 0,
    path: o.path === undefined ? "/" : String(o.path),
    method: forceGet ? "GET" : o.method === undefined ? "GET" : String(o.method),
    tls: o.protocol === "https:",
    headers,
  };
}

class HttpExchange {
  readonly req: CtxObject;
  private res: CtxObject | null = null;
  private nodeReq: http.ClientRequest | null = null;
  private nodeRes: http.IncomingMessage | null = null;
  private body = "";
  private started = false;
  private ended = false;
  private readonly recv = new ByteQueue();
  private complete = false;
  private errorCode = 0;
  private finished = false;
  /** Data nobody read before the end (Espruino's STREAM_BUFFER). */
  private held = "";
  private pumpScheduled = false;
  private responseAnnounced = false;
  private tlsUp = false;
  private unown: () => void = () => {};

  constructor(
    private readonly env: NetEnv,
    private readonly spec: RequestSpec,
    private readonly callback: unknown,
  ) {
    const api = env.session.api;
    this.req = api.object();
    this.req.write = api.bridge((data?: unknown) => this.write(data), "write");
    this.req.end = api.bridge((data?: unknown) => this.end(data), "end");
  }

  write(data: unknown): boolean {
    if (this.finished) throw this.env.session.api.error("This socket is closed");
    this.start();
    if (data !== undefined) this.body += toSendString(this.env, data, "http request write");
    return false;
  }

  end(data: unknown): void {
    if (data !== undefined) this.write(data);
    else this.start();
    if (this.ended) return;
    this.ended = true;
    // Node adds Content-Length for a body given to end(); Espruino would send it bare.
    this.nodeReq!.end(this.body ? Buffer.from(this.body, "latin1") : undefined);
  }

  /** Connects, failing synchronously like Espruino; the header goes out with end(). */
  private start(): void {
    if (this.started) return;
    const spec = this.spec;
    const port = spec.port || (spec.tls ? 443 : 80);
    const route = resolveOrThrow(this.env, spec.host, port);
    this.started = true;
    const headers: Record<string, string> = { "User-Agent": "Espruino " + ESPRUINO_VERSION, Connection: "close" };
    for (const [k, v] of spec.headers) headers[k] = v;
    if (!spec.headers.some(([k]) => k.toLowerCase() === "host")) {
      const host = spec.host ?? "127.0.0.1";
      headers.Host = spec.port > 0 && spec.port !== 80 ? host + ":" + spec.port : host;
    }
    const options: https.RequestOptions = {
      host: route.realHost,
      port: route.realPort,
      method: spec.method,
      path: spec.path,
      headers,
      agent: false,
      setHost: false,
    };
    if (spec.tls) {
      options.rejectUnauthorized = false;
      options.servername = ESPRUINO_SNI;
    }
    const nodeReq = spec.tls ? https.request(options) : http.request(options);
    this.nodeReq = nodeReq;
    this.unown = this.env.session.own(() => nodeReq.destroy());
    nodeReq.on("socket", (s: Socket) => {
      s.on("secureConnect", () => (this.tlsUp = true));
    });
    nodeReq.on("response", (res) => this.onResponse(res));
    nodeReq.on("error", (err: NodeJS.ErrnoException) => {
      if (this.complete || this.errorCode) return;
      // Errors with a syscall (read ECONNRESET...) or a specific code are real socket/TLS failures;
      // Node's own "socket hang up"/"aborted" mean the peer simply closed.
      if (err.syscall || (err.code && err.code !== "ECONNRESET")) this.errorCode = mapNodeError(err, this.tlsUp, spec.tls);
      else this.errorCode = this.nodeRes ? SOCKET_ERRORS.CLOSED : SOCKET_ERRORS.NO_RESP;
      this.schedule();
    });
    nodeReq.on("close", () => {
      if (!this.complete && !this.errorCode) this.errorCode = this.nodeRes ? SOCKET_ERRORS.CLOSED : SOCKET_ERRORS.NO_RESP;
      this.unown();
      this.schedule();
    });
  }

  private onResponse(res: http.IncomingMessage): void {
    this.nodeRes = res;
    const api = this.env.session.api;
    const r = api.object();
    r.statusCode = String(res.statusCode);
    r.statusMessage = res.statusMessage ?? "";
    r.httpVersion = res.httpVersion;
    const headers = api.object();
    for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers[res.rawHeaders[i]] = res.rawHeaders[i + 1];
    r.headers = headers;
    this.res = r;
    const te = String(res.headers["transfer-encoding"] ?? "").toLowerCase();
    if (res.headers["content-length"] === undefined && te !== "chunked" && res.statusCode !== 204 && res.statusCode !== 304) {
      this.env.violation(
        "HTTP " + res.statusCode + " for " + this.spec.path + " has neither Content-Length nor chunked encoding: Espruino may cut the body short",
      );
    }
    res.on("data", (b: Buffer) => {
      this.recv.push(b);
      if (this.recv.bytes > HIGH_WATER) res.pause();
      this.schedule();
    });
    res.on("end", () => {
      this.complete = true;
      this.schedule();
    });
    // 'aborted' follows the request's 'error' when the connection was reset, so only a clean
    // early close gets here first.
    const closedEarly = () => {
      if (!this.complete && !this.errorCode) this.errorCode = SOCKET_ERRORS.CLOSED;
      this.schedule();
    };
    res.on("aborted", closedEarly);
    res.on("error", closedEarly);
    this.env.onDataListener(r, () => this.onDataListener());
    this.schedule();
  }

  private onDataListener(): void {
    if (!this.finished) {
      this.schedule();
    } else if (this.held && this.res) {
      const res = this.res;
      const held = this.held;
      this.held = "";
      this.env.session.io(() => this.env.session.api.dispatch(res, "data", [held]));
    }
  }

  private schedule(): void {
    if (this.pumpScheduled || this.finished) return;
    this.pumpScheduled = true;
    this.env.session.io(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.finished) return;
    const api = this.env.session.api;
    if (this.res && !this.responseAnnounced) {
      this.responseAnnounced = true;
      if (typeof this.callback === "function") Reflect.apply(this.callback, undefined, [this.res]);
      // Espruino hands out the first body bytes on the turn after the callback.
      this.schedule();
      return;
    }
    const res = this.res;
    const listening = res !== null && api.listenerCount(res, "data") > 0;
    if (res && this.recv.bytes && listening) {
      api.dispatch(res, "data", [bytesToBinary(this.recv.take(CHUNK_SIZE))]);
      if (this.recv.bytes < LOW_WATER && this.nodeRes?.isPaused()) this.nodeRes.resume();
    }
    const drained = this.recv.bytes === 0 || !listening;
    if ((this.complete || this.errorCode) && drained) {
      this.finish();
      return;
    }
    if (this.recv.bytes && listening) this.schedule();
  }

  private finish(): void {
    this.finished = true;
    // Unread data stays in the response's stream buffer for a 'data' listener added later.
    if (this.recv.bytes) this.held = bytesToBinary(this.recv.take(this.recv.bytes));
    this.nodeReq?.destroy();
    this.unown();
    const api = this.env.session.api;
    const code = this.complete ? 0 : this.errorCode;
    const hadError = code < 0 && code !== SOCKET_ERRORS.CLOSED;
    if (hadError) {
      const err = api.object();
      err.code = code;
      err.message = socketErrorText(code);
      api.dispatch(this.req, "error", [err]);
    }
    if (this.res) {
      api.dispatch(this.res, "end", []);
      api.dispatch(this.res, "close", [hadError]);
    }
  }
}

export function createHttpModule(env: NetEnv): CtxObject {
  const api = env.session.api;
  const mod = api.object();
  mod.request = api.bridge((options: unknown, callback?: unknown) => {
    return new HttpExchange(env, parseSpec(options, false), callback).req;
  }, "request");
  mod.get = api.bridge((options: unknown, callback?: unknown) => {
    const ex = new HttpExchange(env, parseSpec(options, true), callback);
    ex.end(undefined);
    return ex.req;
  }, "get");
  return mod;
}
