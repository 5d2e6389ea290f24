// Shared pieces of the HTTP download tests: binary test images and a harness that runs one
// fetchRange and checks the callback contract on every call (contiguous offsets, binary
// strings only, onDone exactly once, nothing after onDone or after abort).
import { fetchRange, type Conn, type RangeHandle, type RangeRequest, type RangeResult } from "../../src/core/http/range-request";
import type { ClockPort, NetPort, Socket } from "../../src/core/ports";

/** `size` bytes: every byte value in the first 256, then a seeded xorshift stream. */
export function makeImage(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    if (i < 256) {
      out[i] = (i + seed) & 0xff;
      continue;
    }
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export interface FetchRun {
  result: RangeResult | null;
  /** Everything onData delivered, concatenated. */
  bytes: Buffer;
  chunks: number;
  /** Broken contract rules; a test asserts this is empty. */
  violations: string[];
  /** Whether fetchRange returned before onDone ran (onDone must never be synchronous). */
  returnedBeforeDone: boolean;
  /** The request's connection record; `kept` tells whether its socket was open for reuse at onDone. */
  conn: Conn | null;
  kept: boolean;
}

export interface RunOptions {
  /** Abort from inside onData once this many bytes have arrived. */
  abortAfterBytes?: number;
  /** Throw from onData once this many bytes have arrived. */
  throwAfterBytes?: number;
  /** Also resolve this long after an abort (there is no onDone then). */
  afterAbortMs?: number;
  /** Keep watching this long after onDone for late callbacks. */
  lingerMs?: number;
  /** Leave a socket the request kept open (FetchRun.conn) for the caller; by default it is closed after onDone. */
  keepConn?: boolean;
}

export function runFetch(ports: { net: NetPort; clock: ClockPort }, req: RangeRequest, opts: RunOptions = {}): Promise<FetchRun> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    const run: FetchRun = { result: null, bytes: Buffer.alloc(0), chunks: 0, violations: [], returnedBeforeDone: false, conn: null, kept: false };
    let next = req.start;
    let returned = false;
    let aborted = false;
    let handle: RangeHandle | null = null;
    const finish = () => {
      run.bytes = Buffer.concat(parts);
      resolve(run);
    };
    const sink = {
      onData(chunk: string, offset: number) {
        if (run.result) run.violations.push("onData after onDone");
        if (aborted) run.violations.push("onData after abort");
        if (typeof chunk !== "string" || chunk.length === 0) run.violations.push("empty or non-string chunk");
        if (offset !== next) run.violations.push(`offset ${offset}, expected ${next}`);
        if (/[^\x00-\xff]/.test(chunk)) run.violations.push("chunk is not a binary string");
        next = offset + chunk.length;
        parts.push(Buffer.from(chunk, "latin1"));
        run.chunks++;
        const total = next - req.start;
        if (opts.throwAfterBytes !== undefined && total >= opts.throwAfterBytes) throw new Error("sink refused");
        if (opts.abortAfterBytes !== undefined && total >= opts.abortAfterBytes && !aborted) {
          aborted = true;
          (handle as RangeHandle).abort();
          setTimeout(finish, opts.afterAbortMs ?? 300);
        }
      },
      onDone(result: RangeResult) {
        if (run.result) run.violations.push("onDone twice");
        if (aborted) run.violations.push("onDone after abort");
        run.returnedBeforeDone = returned;
        run.result = result;
        run.conn = (handle as RangeHandle).conn;
        run.kept = run.conn.s !== null;
        // a kept socket is the caller's to reuse or close (Download closes it unless the next span uses it)
        if (run.kept && !opts.keepConn) (run.conn.s as Socket).close();
        if (!aborted) setTimeout(finish, opts.lingerMs ?? 30);
      },
    };
    try {
      handle = fetchRange(ports, req, sink);
    } catch (e) {
      reject(e);
      return;
    }
    returned = true;
  });
}

export function slice(image: Uint8Array, start: number, endInclusive: number): Buffer {
  return Buffer.from(image.subarray(start, endInclusive + 1));
}
