// The Espruino implementation of src/core/ports.ts: the one file (with md5-rom.ts) that
// touches Espruino's globals. The host runtime provides the same modules, so simulation
// runs this very code.
import type { BytesPort, ClockPort, FlashPort, NetPort, Socket, SocketHandlers, SystemPort, TimerId } from "../core/ports";

export function espruinoFlash(base: number): FlashPort {
  const F = require("Flash");
  return {
    read: (offset, length) => F.read(length, base + offset),
    write: (offset, data) => F.write(data, base + offset),
    // Espruino's arithmetic (/, Math.min, Math.floor) may yield a double even for a whole
    // number, and Flash.erasePage refuses anything but an integer; |0 makes it one.
    eraseSector: (offset) => F.erasePage((base + offset) | 0),
  };
}

export function espruinoBytes(): BytesPort {
  return {
    copyString: (src, dst, dstOffset) => dst.set(E.toUint8Array(src), dstOffset),
    toBinaryString: (src, offset, length) => E.toString(new Uint8Array(src.buffer, src.byteOffset + offset, length)),
  };
}

export function espruinoClock(): ClockPort {
  return {
    now: () => getTime() * 1000,
    after: (ms: number, fn: () => void): TimerId => setTimeout(fn, ms),
    cancel: (id: TimerId) => {
      // clearTimeout(undefined) throws on Espruino. Ids are reused there, so callers
      // forget an id once its timer fired and never cancel a stale one.
      if (id) clearTimeout(id);
    },
  };
}

export function espruinoNet(): NetPort {
  let tlsModule: EspruinoNet | null = null;
  try {
    tlsModule = require("tls");
  } catch (e) {
    tlsModule = null;
  }
  return {
    hasTls: !!tlsModule,
    connect(host: string, port: number, tls: boolean, h: SocketHandlers): Socket {
      const mod = tls ? tlsModule : require("net");
      if (!mod) throw new Error("TLS is not available in this Espruino build");
      let closed = false;
      const finish = () => {
        if (!closed) {
          closed = true;
          h.onClose();
        }
      };
      // net.connect throws synchronously on DNS failure or a refused connection;
      // the caller treats that as a failed attempt.
      const sock = mod.connect({ host: host, port: port }, () => {
        if (!closed) h.onConnect();
      });
      sock.on("data", (d: string) => {
        if (!closed) h.onData(d);
      });
      sock.on("close", finish);
      sock.on("error", finish);
      return {
        write: (data: string) => {
          if (!closed) sock.write(data);
        },
        close: () => {
          if (!closed) {
            sock.end();
            finish();
          }
        },
      };
    },
  };
}

export function espruinoSystem(): SystemPort {
  return {
    reboot: () => (typeof ESP32 !== "undefined" ? ESP32.reboot() : E.reboot()),
    setOtaValid: (valid: boolean) => ESP32.setOTAValid(valid),
    log: (line: string) => console.log(line),
    random: () => (Math.random() * 4294967296) >>> 0,
    // From a timer of its own: an application's listener that throws never breaks the agent's
    // turn, and events of the boot code reach an application that registers as it loads.
    emit: (event: string, data: unknown) => {
      setTimeout(() => E.emit(event, data), 0);
    },
    on: (event: string, fn: (data: unknown) => void) => E.on(event, fn),
    unixTime: () => {
      // Espruino's Date comes from the RTC, which starts at 1970 unless SNTP set it.
      const t = Date.now() / 1000;
      return t > 1600000000 ? Math.floor(t) : 0;
    },
  };
}

export function espruinoSha256(): ((d: Uint8Array) => Uint8Array) | null {
  try {
    const c = require("crypto");
    if (!c || !c.SHA256) return null;
    return (d: Uint8Array) => new Uint8Array(c.SHA256(d));
  } catch (e) {
    return null;
  }
}
