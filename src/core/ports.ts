// The only way the portable core (src/core) reaches the platform. The Espruino
// implementation is src/espruino/ports.ts; the host runtime provides Espruino's own
// modules, so the very same port code runs in simulation.
// Every method is synchronous unless it takes a callback, as on Espruino.

/** Raw NOR flash, addressed by offset from the start of the chip (the port adds the board's base). */
export interface FlashPort {
  /** Returns a fresh Uint8Array of `length` bytes read from `offset`. */
  read(offset: number, length: number): Uint8Array;
  /** Programs bytes (can only clear bits). Caller guarantees length <= 4096 and that the range was erased. */
  write(offset: number, data: Uint8Array): void;
  /** Erases the 4096-byte sector starting at `offset` (caller guarantees alignment). */
  eraseSector(offset: number): void;
}

export type TimerId = number;

/** Time and timers. `now()` is milliseconds on a monotonic clock. */
export interface ClockPort {
  now(): number;
  /** Calls `fn` after `ms`; a string is run at the interpreter's top level instead (Espruino's setTimeout), as Espruino runs .bootcde. */
  after(ms: number, fn: (() => void) | string): TimerId;
  /** Must not be called with an id whose timer already fired: Espruino reuses ids. */
  cancel(id: TimerId): void;
}

export interface SocketHandlers {
  onConnect(): void;
  /** Binary string (one char per byte). */
  onData(data: string): void;
  /** Called exactly once, after which no other handler is called. */
  onClose(): void;
}

export interface Socket {
  /** Binary string (one char per byte). */
  write(data: string): void;
  /** Closes now; onClose follows. Safe to call more than once. */
  close(): void;
}

/** TCP (and TLS where the platform has it). */
export interface NetPort {
  /**
   * Opens a connection. May throw synchronously (unknown host, refused connection),
   * exactly as Espruino's net.connect does; asynchronous failures arrive as onClose
   * without onConnect.
   */
  connect(host: string, port: number, tls: boolean, handlers: SocketHandlers): Socket;
  /** Whether `tls: true` is available on this platform build. */
  hasTls: boolean;
}

/** One-shot native SHA-256 where the runtime has it (Espruino's crypto.SHA256). */
export type Sha256Fn = (data: Uint8Array) => Uint8Array;

/** Device-level services. */
export interface SystemPort {
  reboot(): void;
  /** ESP32.setOTAValid: only meaningful when the bootloader has rollback enabled. */
  setOtaValid(valid: boolean): void;
  log(line: string): void;
  /** Random 32-bit integer (connection ids, jitter). */
  random(): number;
  /** Wall-clock seconds since the Unix epoch if known, else 0 (used for the Tencent token expiry). */
  unixTime(): number;
  /** Events for and from the application (Espruino's E.emit / E.on): the agent's app API. emit delivers from a later turn. */
  emit(event: string, data: unknown): void;
  on(event: string, fn: (data: unknown) => void): void;
}

/** Incremental MD5 with a state that can be saved in the journal and restored after a power cut. */
export interface Md5 {
  update(data: Uint8Array, offset: number, length: number): void;
  /** 16-byte digest; the instance must not be updated afterwards. */
  digest(): Uint8Array;
  /** 88 bytes laid out like the ESP32 ROM MD5Context: u32 buf[4], u32 bits[2], u8 in[64]. */
  saveState(): Uint8Array;
}

export interface Md5Factory {
  create(): Md5;
  restore(state: Uint8Array): Md5;
  readonly backend: "js" | "rom";
}

/**
 * Native conversions between binary strings (what sockets deliver) and bytes.
 * A JS loop over charCodeAt runs at a few KB/s on an ESP32; Espruino does these natively.
 */
export interface BytesPort {
  /** Copies the bytes of binary string `src` into `dst` at `dstOffset` (caller guarantees room). */
  copyString(src: string, dst: Uint8Array, dstOffset: number): void;
  /** The binary string of `length` bytes of `src` from `offset`. */
  toBinaryString(src: Uint8Array, offset: number, length: number): string;
}

/**
 * Espruino's Storage, as much of it as application updates use (require("Storage") itself on the
 * board). Files are written once: a write at an offset goes only into bytes still erased, and an
 * erase only marks a file deleted (docs/app-ota.md#espruino-storage).
 */
export interface StoragePort {
  /** The file's bytes from `offset` (all of them without `length`) as a binary string; undefined when absent. */
  read(name: string, offset?: number, length?: number): string | undefined;
  /** offset 0 creates the file with `size` bytes (default: the data's); other offsets write into erased bytes. */
  write(name: string, data: string | Uint8Array, offset?: number, size?: number): boolean;
  erase(name: string): void;
  /** Free bytes at the end of Storage: a bigger file makes Espruino compact Storage first (not power-safe). */
  getFree(): number;
}

/** Espruino's process: its "uncaughtException" listeners take every exception nothing caught. */
export interface ProcessPort {
  on(event: "uncaughtException", fn: (e: unknown) => void): void;
  removeListener(event: "uncaughtException", fn: (e: unknown) => void): void;
}

export interface Ports {
  /**
   * The application's side of the interpreter, on boards with an "app" kind only: Espruino's own
   * objects, so that the job holds references, not functions of its own (and two fields rather
   * than an object of their own: JsVars at the firmware download's peak).
   */
  storage?: StoragePort;
  process?: ProcessPort;
  flash: FlashPort;
  bytes: BytesPort;
  clock: ClockPort;
  net: NetPort;
  system: SystemPort;
  md5: Md5Factory;
  sha256: Sha256Fn | null;
}
