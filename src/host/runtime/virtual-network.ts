// The device's view of the network: names and ports it may reach, each mapped to a real server
// on this machine. Espruino resolves the host and connects synchronously inside net.connect /
// http.get, so an unknown name or a closed port throws right there; the routing table lets the
// runtime decide that synchronously too, before any real socket exists.

import net from "node:net";

export interface Route {
  /** Where the real server listens. */
  realHost: string;
  realPort: number;
  /** Whether the real server speaks TLS (informational; the client's choice decides the protocol). */
  tls: boolean;
}

export interface RouteOptions {
  tls?: boolean;
  realHost?: string;
}

/** Espruino's synchronous connection errors (socketserver.c clientRequestConnect). */
export class NetLookupError extends Error {
  constructor(message: "Unable to locate host" | "Unable to create socket") {
    super(message);
    this.name = "NetLookupError";
  }
}

function key(host: string, port: number): string {
  return host.toLowerCase() + ":" + port;
}

export class VirtualNetwork {
  private readonly routes = new Map<string, Route>();

  route(host: string, port: number, realPort: number, opts: RouteOptions = {}): void {
    this.routes.set(key(host, port), { realHost: opts.realHost ?? "127.0.0.1", realPort, tls: opts.tls ?? false });
  }

  unroute(host: string, port: number): void {
    this.routes.delete(key(host, port));
  }

  /** Whether DNS would answer for this name (some port of it is routed, or it is an IP literal). */
  knowsHost(host: string): boolean {
    if (net.isIP(host)) return true;
    const prefix = host.toLowerCase() + ":";
    for (const k of this.routes.keys()) if (k.startsWith(prefix)) return true;
    return false;
  }

  /** Throws NetLookupError exactly where Espruino's connect would throw. */
  resolve(host: string, port: number): Route {
    if (!this.knowsHost(host)) throw new NetLookupError("Unable to locate host");
    const route = this.routes.get(key(host, port));
    if (!route) throw new NetLookupError("Unable to create socket");
    return route;
  }
}
