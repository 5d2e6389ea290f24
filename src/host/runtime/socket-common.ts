// Pieces shared by the net/tls and http emulations.

import { binaryToBytes, bytesToBinary, hasWideChars } from "./bytes";
import type { Session } from "./session";
import type { VirtualNetwork } from "./virtual-network";

/** Espruino's per-connection receive size (net->chunkSize on ESP32): one chunk per idle-loop turn. */
export const CHUNK_SIZE = 536;
/** Pause the real socket when this much is waiting for the bundle (stands in for TCP's window). */
export const HIGH_WATER = 64 * 1024;
export const LOW_WATER = 16 * 1024;
/** mbedTLS on Espruino sends this SNI whatever the host is (libs/network/network.c). */
export const ESPRUINO_SNI = "mbed TLS Server 1";
export const ESPRUINO_VERSION = "2v29";

/** Socket error codes and texts of libs/network/socketerrors.{h,c}. */
export const SOCKET_ERRORS = {
  CLOSED: -1,
  TIMEOUT: -3,
  NO_ROUTE: -4,
  UNSENT_DATA: -8,
  RESET: -9,
  UNKNOWN: -10,
  NO_CONN: -11,
  SSL_HAND: -13,
  SSL_INVALID: -14,
  NO_RESP: -15,
} as const;

const ERROR_TEXT: Record<number, string> = {
  [-1]: "connection closed",
  [-2]: "out of memory",
  [-3]: "timeout",
  [-4]: "no route",
  [-5]: "busy",
  [-6]: "not found",
  [-7]: "max sockets",
  [-8]: "unsent data",
  [-9]: "connection reset",
  [-10]: "unknown error",
  [-11]: "no connection",
  [-12]: "bad argument",
  [-13]: "SSL handshake failed",
  [-14]: "invalid SSL data",
  [-15]: "no response",
};

export function socketErrorText(code: number): string {
  return ERROR_TEXT[code] ?? "unknown error";
}

/** Maps a Node socket error to the code Espruino would report. */
export function mapNodeError(err: NodeJS.ErrnoException, tlsEstablished: boolean, tls: boolean): number {
  const code = err.code ?? "";
  if (tls && (code.startsWith("ERR_SSL") || code === "EPROTO" || /SSL|TLS/i.test(err.message))) {
    return tlsEstablished ? SOCKET_ERRORS.SSL_INVALID : SOCKET_ERRORS.SSL_HAND;
  }
  if (code === "ECONNRESET" || code === "EPIPE") return SOCKET_ERRORS.RESET;
  if (code === "ETIMEDOUT") return SOCKET_ERRORS.TIMEOUT;
  if (code === "ECONNREFUSED") return SOCKET_ERRORS.NO_CONN;
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH") return SOCKET_ERRORS.NO_ROUTE;
  return SOCKET_ERRORS.UNKNOWN;
}

/** Bytes received from the real socket and not yet handed to the bundle. */
export class ByteQueue {
  private chunks: Buffer[] = [];
  bytes = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.bytes += b.length;
  }

  take(max: number): Buffer {
    const parts: Buffer[] = [];
    let need = max;
    while (need > 0 && this.chunks.length) {
      const head = this.chunks[0];
      if (head.length <= need) {
        parts.push(head);
        this.chunks.shift();
        need -= head.length;
      } else {
        parts.push(head.subarray(0, need));
        this.chunks[0] = head.subarray(need);
        need = 0;
      }
    }
    const out = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    this.bytes -= out.length;
    return out;
  }

  clear(): void {
    this.chunks = [];
    this.bytes = 0;
  }
}

/** What the net/http modules need from the device. */
export interface NetEnv {
  session: Session;
  network: VirtualNetwork;
  /** Notes behaviour that works here but would misbehave on the board. */
  violation(message: string): void;
  /** Throws (as Espruino would) when the network is not up. */
  checkNetworkUp(): void;
  /** Calls `kick` when a 'data' listener is added to `target`. */
  onDataListener(target: object, kick: () => void): void;
}

/** Turns a value passed to write() into Espruino's 8-bit string. */
export function toSendString(env: NetEnv, data: unknown, where: string): string {
  const s = String(data);
  if (!hasWideChars(s)) return s;
  env.violation(where + ": string with chars above 0xFF (ESP32 strings are 8-bit; they were cut to one byte)");
  return bytesToBinary(binaryToBytes(s));
}
