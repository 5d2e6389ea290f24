// require("net") and require("tls") as Espruino has them (libs/network/jswrap_net.c and the
// client half of socketserver.c), carried over real Node sockets to the routed local port:
// - connect() throws synchronously for an unknown host or an unrouted port;
// - 'data' gets binary strings of at most 536 bytes, one chunk per event-loop turn, and data
//   waits (with the real socket paused) while nobody listens for 'data';
// - write() stringifies its argument (a Uint8Array becomes "1,2,3"), queues it and sends at most
//   536 bytes per turn; 'drain' fires when the queue is empty; write() returns false;
// - a clean remote close gives 'end' then 'close'(false) with no 'error'; a reset or TLS failure
//   gives 'error' {code, message}, 'end', 'close'(true); end() closes once the queue is sent;
// - TLS verifies nothing and sends Espruino's fixed SNI.

import net from "node:net";
import tls from "node:tls";
import {
  ByteQueue,
  CHUNK_SIZE,
  ESPRUINO_SNI,
  HIGH_WATER,
  LOW_WATER,
  mapNodeError,
  type NetEnv,
  SOCKET_ERRORS,
  socketErrorText,
  toSendString,
} from "./socket-common";
import { bytesToBinary } from "./bytes";
import { NetLookupError, type Route } from "./virtual-network";

type CtxObject = Record<string, unknown>;

function parseTarget(options: unknown): { host: string | undefined; port: number } {
  if (typeof options === "string") {
    const m = /^(?:[a-z]+:\/\/)?([^:/]*)(?::(\d+))?/i.exec(options);
    return { host: m?.[1] || undefined, port: m?.[2] ? Number(m[2]) : 0 };
  }
  const o = (options ?? {}) as { host?: unknown; port?: unknown };
  return { host: o.host === undefined ? undefined : String(o.host), port: Number(o.port) | 0 };
}

/** Resolves like Espruino and converts the lookup failure into the context's InternalError. */
export function resolveOrThrow(env: NetEnv, host: string | undefined, port: number): Route {
  env.checkNetworkUp();
  try {
    return env.network.resolve(host ?? "127.0.0.1", port);
  } catch (e) {
    if (e instanceof NetLookupError) throw env.session.api.internalError(e.message);
    throw e;
  }
}

class Connection {
  readonly socket: CtxObject;
  private readonly node: net.Socket;
  private readonly recv = new ByteQueue();
  private send = "";
  private connected = false;
  private announceConnect = false;
  private remoteClosed = false;
  private localEnd = false;
  private errorCode = 0;
  private finished = false;
  /** Data nobody read before the close (Espruino's STREAM_BUFFER). */
  private held = "";
  private pumpScheduled = false;
  private readonly unown: () => void;

  constructor(
    private readonly env: NetEnv,
    route: Route,
    private readonly useTls: boolean,
  ) {
    const api = env.session.api;
    this.socket = api.object();
    this.socket.write = api.bridge((data?: unknown) => this.write(data), "write");
    this.socket.end = api.bridge((data?: unknown) => this.end(data), "end");

    this.node = useTls
      ? tls.connect({ host: route.realHost, port: route.realPort, rejectUnauthorized: false, servername: ESPRUINO_SNI })
      : net.connect({ host: route.realHost, port: route.realPort });
    this.node.on(useTls ? "secureConnect" : "connect", () => {
      this.connected = true;
      this.announceConnect = true;
      this.schedule();
    });
    this.node.on("data", (b: Buffer) => {
      this.recv.push(b);
      if (this.recv.bytes > HIGH_WATER) this.node.pause();
      this.schedule();
    });
    this.node.on("end", () => {
      this.remoteClosed = true;
      this.schedule();
    });
    this.node.on("error", (err: NodeJS.ErrnoException) => {
      if (!this.errorCode) this.errorCode = mapNodeError(err, this.connected, this.useTls);
      this.schedule();
    });
    this.node.on("close", () => {
      this.remoteClosed = true;
      this.unown();
      this.schedule();
    });
    this.unown = env.session.own(() => this.node.destroy());
    env.onDataListener(this.socket, () => this.onDataListener());
  }

  private onDataListener(): void {
    if (!this.finished) {
      this.schedule();
    } else if (this.held) {
      const held = this.held;
      this.held = "";
      this.env.session.io(() => this.env.session.api.dispatch(this.socket, "data", [held]));
    }
  }

  private write(data: unknown): boolean {
    if (this.finished) throw this.env.session.api.error("This socket is closed");
    if (data !== undefined) this.send += toSendString(this.env, data, this.useTls ? "tls socket write" : "socket write");
    this.schedule();
    return false;
  }

  private end(data: unknown): void {
    if (this.finished) return;
    if (data !== undefined) this.write(data);
    this.localEnd = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.pumpScheduled || this.finished) return;
    this.pumpScheduled = true;
    this.env.session.io(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** One idle-loop turn of Espruino's socketClientConnectionsIdle for this connection. */
  private pump(): void {
    if (this.finished) return;
    const api = this.env.session.api;
    if (this.announceConnect) {
      this.announceConnect = false;
      // Espruino queues 'drain' together with 'connect' when nothing is waiting to be sent, so it
      // fires even if the connect callback writes.
      const nothingQueued = !this.send;
      api.dispatch(this.socket, "connect", [this.socket]);
      if (nothingQueued) api.dispatch(this.socket, "drain", []);
    }
    if (this.connected && this.send && !this.node.destroyed) {
      const chunk = this.send.slice(0, CHUNK_SIZE);
      this.send = this.send.slice(chunk.length);
      this.node.write(Buffer.from(chunk, "latin1"));
      if (!this.send) api.dispatch(this.socket, "drain", []);
    }
    const listening = api.listenerCount(this.socket, "data") > 0;
    if (this.recv.bytes && listening) {
      api.dispatch(this.socket, "data", [bytesToBinary(this.recv.take(CHUNK_SIZE))]);
      if (this.recv.bytes < LOW_WATER && this.node.isPaused()) this.node.resume();
    }
    const drained = this.recv.bytes === 0 || !listening;
    const closing = this.errorCode !== 0 || this.remoteClosed || (this.localEnd && !this.send);
    if (closing && drained && !this.finished) {
      this.finish();
      return;
    }
    if (this.send && this.connected) this.schedule();
    else if (this.recv.bytes && listening) this.schedule();
  }

  private finish(): void {
    this.finished = true;
    const api = this.env.session.api;
    let code = this.errorCode;
    if (!code && this.remoteClosed && this.send) code = SOCKET_ERRORS.UNSENT_DATA;
    // Unread data stays in the socket's stream buffer for a 'data' listener added later.
    if (this.recv.bytes) this.held = bytesToBinary(this.recv.take(this.recv.bytes));
    // A clean close lets Node flush what write() already handed over; anything else is torn down.
    if (code === 0) this.node.end();
    else this.node.destroy();
    const hadError = code < 0 && code !== SOCKET_ERRORS.CLOSED;
    if (hadError) {
      const err = api.object();
      err.code = code;
      err.message = socketErrorText(code);
      api.dispatch(this.socket, "error", [err]);
    }
    api.dispatch(this.socket, "end", []);
    api.dispatch(this.socket, "close", [hadError]);
  }
}

export function createNetModule(env: NetEnv, useTls: boolean): CtxObject {
  const api = env.session.api;
  const mod = api.object();
  mod.connect = api.bridge((options: unknown, callback?: unknown) => {
    const target = parseTarget(options);
    const port = target.port || (useTls ? 443 : 0);
    const route = resolveOrThrow(env, target.host, port);
    const conn = new Connection(env, route, useTls);
    if (typeof callback === "function") {
      (conn.socket.on as (this: CtxObject, ev: string, fn: unknown) => void).call(conn.socket, "connect", callback);
    }
    return conn.socket;
  }, "connect");
  return mod;
}
