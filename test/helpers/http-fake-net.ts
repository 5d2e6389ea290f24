// A scripted NetPort for the HTTP client tests that need exact control over what arrives
// in which socket read (split points, byte-by-byte delivery) or over the port's own
// behaviour (throwing connect, close() reporting synchronously as the Espruino port does).
import type { NetPort, Socket, SocketHandlers } from "../../src/core/ports";

export interface FakeReply {
  /** Raw response, one socket read per piece, delivered once the request has been written. */
  pieces: string[];
  /** Close from the server side after the last piece (default true). */
  closeAfter?: boolean;
  /** connect() throws this message synchronously (Espruino: unknown host, refused). */
  throwOnConnect?: string;
  /** Report onClose without onConnect (asynchronous connection failure). */
  refuse?: boolean;
  /** close() calls onClose before returning, like src/espruino/ports.ts. */
  syncCloseCallback?: boolean;
  /** close() never leads to onClose (a platform that loses the event). */
  swallowClose?: boolean;
  hasTls?: boolean;
}

export interface FakeNet extends NetPort {
  /** Everything written by the client, per connection. */
  written: string[];
  connects: { host: string; port: number; tls: boolean }[];
  /** close() calls made by the client. */
  clientCloses: number;
}

export function fakeNet(reply: FakeReply): FakeNet {
  const net: FakeNet = {
    hasTls: reply.hasTls ?? true,
    written: [],
    connects: [],
    clientCloses: 0,
    connect(host: string, port: number, tls: boolean, h: SocketHandlers): Socket {
      net.connects.push({ host, port, tls });
      if (reply.throwOnConnect !== undefined) throw new Error(reply.throwOnConnect);
      const index = net.written.length;
      net.written.push("");
      let closed = false;
      let replying = false;
      const closeNow = () => {
        if (closed) return;
        closed = true;
        h.onClose();
      };
      const deliver = (i: number) => {
        if (closed) return;
        if (i >= reply.pieces.length) {
          if (reply.closeAfter !== false) closeNow();
          return;
        }
        h.onData(reply.pieces[i]);
        setImmediate(() => deliver(i + 1));
      };
      setImmediate(() => {
        if (reply.refuse) closeNow();
        else if (!closed) h.onConnect();
      });
      return {
        write(data: string) {
          if (closed) return;
          net.written[index] += data;
          if (!replying && net.written[index].includes("\r\n\r\n")) {
            replying = true;
            setImmediate(() => deliver(0));
          }
        },
        close() {
          net.clientCloses++;
          if (closed || reply.swallowClose) return;
          if (reply.syncCloseCallback) closeNow();
          else setImmediate(closeNow);
        },
      };
    },
  };
  return net;
}

/** Binary string of a raw HTTP response. */
export function rawResponse(statusLine: string, headers: string[], body: string): string {
  return statusLine + "\r\n" + headers.map((h) => h + "\r\n").join("") + "\r\n" + body;
}

/** Chunked encoding of `body` in chunks of `size`. */
export function chunked(body: string, size: number): string {
  let out = "";
  for (let i = 0; i < body.length; i += size) {
    const part = body.substring(i, i + size);
    out += part.length.toString(16) + "\r\n" + part + "\r\n";
  }
  return out + "0\r\n\r\n";
}
