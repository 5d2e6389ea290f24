// The Espruino implementation of src/core/ports.ts: the one file (with md5-rom.ts, and boot.ts
// for its start-up probes of crypto and tls) that touches Espruino's globals. The host runtime
// provides the same modules, so simulation runs this very code.
import type { BytesPort, ClockPort, FlashPort, NetPort, Socket, SocketHandlers, SystemPort, TimerId } from "../core/ports";
import { flash_base } from "board-config";

// The ports are module-level objects: on Espruino a function created inside another one costs
// more JsVars than one at the top of the module, and a factory to hand one out costs a
// function more. No method uses `this`, so callers may take one out (const log = system.log).

/** The flash at the board's flash base (flash.base in the board file, fixed at build time). */
export const espruinoFlash: FlashPort = {
  read: (offset, length) => require("Flash").read(length, flash_base + offset),
  write: (offset, data) => require("Flash").write(data, flash_base + offset),
  // Espruino's arithmetic (/, Math.min, Math.floor) may yield a double even for a whole
  // number, and Flash.erasePage refuses anything but an integer; |0 makes it one.
  eraseSector: (offset) => require("Flash").erasePage((flash_base + offset) | 0),
};

export const espruinoBytes: BytesPort = {
  copyString: (src, dst, dstOffset) => dst.set(E.toUint8Array(src), dstOffset),
  toBinaryString: (src, offset, length) => E.toString(new Uint8Array(src.buffer, src.byteOffset + offset, length)),
};

export const espruinoClock: ClockPort = {
  now: () => getTime() * 1000,
  // a string runs at the interpreter's top level when the timer fires (an application's text)
  after: (ms: number, fn: (() => void) | string): TimerId => setTimeout(fn as () => void, ms),
  cancel: (id: TimerId) => {
    // clearTimeout(undefined) throws on Espruino. Ids are reused there, so callers
    // forget an id once its timer fired and never cancel a stale one.
    if (id) clearTimeout(id);
  },
};

/**
 * One connection: the Espruino socket `s`, the caller's handlers `h`, `c` once closed. The
 * Espruino socket points back at it (`w`), since Espruino calls a socket's listeners with
 * the socket as `this`; after close nothing reaches the handlers.
 */
interface Conn extends Socket {
  s: EspruinoSocket & { w?: Conn };
  h: SocketHandlers;
  c: boolean;
}

/**
 * Every listener of the Espruino socket (called with the socket as `this`), told apart by its
 * argument as Espruino passes them: the connect callback gets the socket itself, "data" a
 * string, "close" a boolean and "error" an error object (both end the connection, once); and
 * the end of Conn.close (no argument). One function rather than three: each costs RAM.
 */
function connEvent(this: { w: Conn }, d?: unknown): void {
  const w = this.w;
  if (w.c) return;
  if (d === this) w.h.onConnect();
  else if (typeof d === "string") w.h.onData(d);
  else {
    w.c = true;
    w.h.onClose();
  }
}
/** Conn.write(data), and Conn.close() (no argument): the same function under both names. */
function connIo(this: Conn, data?: string): void {
  if (this.c) return;
  if (data !== undefined) {
    this.s.write(data);
    return;
  }
  this.s.end();
  connEvent.call(this.s as { w: Conn });
}

/** boot.ts sets hasTls once, from whether require("tls") works on this firmware. */
export const espruinoNet: NetPort = {
  hasTls: false,
  connect(host: string, port: number, tls: boolean, h: SocketHandlers): Socket {
    // Callers check hasTls first. net.connect throws synchronously on DNS failure or a
    // refused connection; the caller treats that as a failed attempt.
    const sock: Conn["s"] = (tls ? require("tls") : require("net")).connect({ host: host, port: port }, connEvent);
    const w: Conn = { s: sock, h: h, c: false, write: connIo, close: connIo };
    sock.w = w;
    sock.on("data", connEvent);
    sock.on("close", connEvent);
    sock.on("error", connEvent);
    return w;
  },
};

export const espruinoSystem: SystemPort = {
  // reboot and setOtaValid are Espruino's own static functions, set by boot.ts (here, the
  // job's bundle would read them too): a reference to a native function costs a JsVar or two
  // where a function of ours costs ~6. console.log is static as well (and bound in Node).
  reboot: null as never,
  setOtaValid: null as never,
  log: console.log,
  random: () => (Math.random() * 4294967296) >>> 0,
  // From a timer of its own: an application's listener that throws never breaks the agent's
  // turn, and events of the boot code reach an application that registers as it loads. The
  // timer calls emit itself again (`now` set) rather than a new closure per event.
  emit: (event: string, data: unknown, now?: boolean) => {
    if (now) E.emit(event, data);
    else setTimeout<[string, unknown, boolean]>(espruinoSystem.emit, 0, event, data, true);
  },
  on: (event: string, fn: (data: unknown) => void) => E.on(event, fn),
  unixTime: () => {
    // Espruino's Date comes from the RTC, which starts at 1970 unless SNTP set it.
    const t = Date.now() / 1000;
    return t > 1600000000 ? Math.floor(t) : 0;
  },
};

/** Native SHA-256; boot.ts hands it out only if this firmware's crypto module has SHA256. */
export function espruinoSha256(d: Uint8Array): Uint8Array {
  return new Uint8Array(require("crypto").SHA256(d));
}
