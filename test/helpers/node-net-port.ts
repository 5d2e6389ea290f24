// NetPort and ClockPort over node:net / node:tls and real timers, so device code that only
// knows src/core/ports.ts can talk to real servers in unit tests.
// Like Espruino's sockets, data travels as binary strings (latin1 = one char per byte), and
// a failed connection shows up as onClose without onConnect.

import net from "node:net";
import tls from "node:tls";
import type { ClockPort, NetPort, Socket, SocketHandlers, TimerId } from "../../src/core/ports";

export interface NodeNetPortOptions {
  /** Verify the server certificate on TLS connections (default false, as on Espruino). */
  rejectUnauthorized?: boolean;
  /** Called for every connect; throw from it to imitate Espruino's synchronous connect errors. */
  beforeConnect?: (host: string, port: number) => void;
}

export interface NodeNetPort extends NetPort {
  /** Sockets currently open (tests use this to check nothing leaks). */
  openSockets(): number;
  /** Destroys every socket this port opened. */
  closeAll(): void;
}

export function createNodeNetPort(options: NodeNetPortOptions = {}): NodeNetPort {
  const live = new Set<net.Socket>();
  return {
    hasTls: true,
    connect(host: string, port: number, useTls: boolean, handlers: SocketHandlers): Socket {
      if (options.beforeConnect) options.beforeConnect(host, port);
      const s: net.Socket = useTls
        ? tls.connect({ host, port, rejectUnauthorized: options.rejectUnauthorized ?? false, servername: net.isIP(host) ? undefined : host })
        : net.connect({ host, port });
      live.add(s);
      let closed = false;
      s.setEncoding("latin1");
      s.setNoDelay(true);
      s.on(useTls ? "secureConnect" : "connect", () => {
        if (!closed) handlers.onConnect();
      });
      s.on("data", (d: string) => {
        if (!closed) handlers.onData(d);
      });
      // Errors always end in "close"; swallowing them here keeps Node from throwing.
      s.on("error", () => {});
      s.on("close", () => {
        live.delete(s);
        if (closed) return;
        closed = true;
        handlers.onClose();
      });
      return {
        write(data: string): void {
          if (!s.destroyed) s.write(data, "latin1");
        },
        close(): void {
          s.destroy();
        },
      };
    },
    openSockets: () => live.size,
    closeAll(): void {
      for (const s of live) s.destroy();
    },
  };
}

export interface NodeClock extends ClockPort {
  /** Cancels every pending timer (call when a test ends). */
  dispose(): void;
  /** Timers scheduled and not yet fired or cancelled. */
  pending(): number;
}

export function createNodeClock(): NodeClock {
  const timers = new Map<TimerId, NodeJS.Timeout>();
  let nextId = 1;
  const origin = performance.now();
  return {
    now: () => performance.now() - origin,
    after(ms: number, fn: () => void): TimerId {
      const id = nextId++;
      timers.set(
        id,
        setTimeout(() => {
          timers.delete(id);
          fn();
        }, ms)
      );
      return id;
    },
    cancel(id: TimerId): void {
      const t = timers.get(id);
      if (t) clearTimeout(t);
      timers.delete(id);
    },
    dispose(): void {
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    },
    pending: () => timers.size,
  };
}
