// The agent's image sink: erase just ahead of the data, program whole sectors, hash what
// the flash holds (read back), resume only at a sector boundary, refuse an image before
// its first erase.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { NorFlash } from "../../src/host/runtime/nor-flash";
import { RESUME_BYTES, SlotWriter } from "../../src/core/agent/slot-writer";
import { jsMd5 } from "../../src/core/crypto/md5";
import { toHex } from "../../src/core/crypto/hex";
import { nodeBytes } from "../helpers/node-bytes-port";
import { SIGN_TRAILER } from "../../src/core/sign/verify";
import { buildAppImage } from "../../src/host/image/app-image-builder";
import { IMAGE_PREFLIGHT_BYTES, preflightImage } from "../../src/core/esp32/app-image";

const SLOT = 0x190000;
const bin = (b: Uint8Array) => Buffer.from(b).toString("latin1");
const data = (n: number, seed = 7) => new Uint8Array(n).map((_, i) => (i * 31 + seed * 17 + (i >> 9)) & 0xff);

function feed(w: SlotWriter, bytes: Uint8Array, from: number, sizes: number[]): void {
  let at = from;
  let k = 0;
  while (at < bytes.length) {
    const n = Math.min(sizes[k++ % sizes.length], bytes.length - at);
    assert.ok(w.append(bin(bytes.subarray(at, at + n))));
    at += n;
  }
}

/** The NOR port with a log of every write (offset, length) and erase. */
function logged(nor: NorFlash) {
  const port = nor.asPort();
  const writes: [number, number][] = [];
  const erases: number[] = [];
  const write = port.write;
  const erase = port.eraseSector;
  port.write = (off, d) => {
    writes.push([off, d.length]);
    write(off, d);
  };
  port.eraseSector = (off) => {
    erases.push(off);
    erase(off);
  };
  return { port, writes, erases };
}

test("programs bytes as they arrive: a sector is erased when the stream enters it, writes are aligned and <= 320 bytes", () => {
  const nor = new NorFlash({ size: 0x400000 });
  const { port, writes, erases } = logged(nor);
  const img = data(0x3000 + 10);
  const w = SlotWriter(port, nodeBytes, jsMd5.create(), SLOT, img.length, 0);
  feed(w, img.subarray(0, 0x1fff), 0, [536, 1, 1000]);
  assert.deepEqual(erases, [SLOT, SLOT + 0x1000], "the second sector is erased once the stream is in it");
  assert.equal(w.position, 0x1fff);
  // all but the last 3 bytes (not a whole word) are programmed
  assert.deepEqual(nor.read(SLOT, 0x1ffc), img.subarray(0, 0x1ffc));
  assert.equal(writes.reduce((n, x) => n + x[1], 0), 0x1ffc);
  assert.equal(w.resumePoint[0], 0x1800, "the resume point is the last multiple of RESUME_BYTES passed");
  assert.ok(nor.read(SLOT + 0x1ffc, 4).every((b) => b === 0xff), "the carried bytes are not in flash yet");
  feed(w, img, 0x1fff, [536]);
  assert.deepEqual(erases, [SLOT, SLOT + 0x1000, SLOT + 0x2000, SLOT + 0x3000]);
  for (const [off, len] of writes) {
    assert.ok(len > 0 && len <= 320 && off % 4 === 0 && len % 4 === 0, `write of ${len} at ${off.toString(16)}`);
    assert.equal(Math.floor(off / 4096), Math.floor((off + len - 1) / 4096), "no write spans two sectors");
  }
  assert.equal(w.position, img.length);
  assert.deepEqual(nor.read(SLOT, img.length), img);
  assert.deepEqual(nor.read(SLOT + img.length, 2), new Uint8Array([0xff, 0xff]), "the last word is padded with 0xFF");
  assert.deepEqual(nor.violations, []);
});

test("the MD5 covers exactly the bytes read back from flash", () => {
  const nor = new NorFlash({ size: 0x400000 });
  const img = data(0x2800);
  const md5 = jsMd5.create();
  const port = nor.asPort();
  // A flash that drops a bit in the second sector: the hash must see the stored byte.
  const write = port.write;
  port.write = (off, d) => {
    const copy = new Uint8Array(d);
    if (off === SLOT + 0x1000) copy[5] = 0;
    write(off, copy);
  };
  const w = SlotWriter(port, nodeBytes, md5, SLOT, img.length, 0);
  feed(w, img, 0, [4096]);
  const stored = nor.read(SLOT, img.length);
  assert.equal(toHex(md5.digest()), createHash("md5").update(stored).digest("hex"));
  assert.equal(stored[0x1005], 0);
  assert.notEqual(img[0x1005], 0, "the test really changed a byte");
});

test("resumes at a sector boundary: re-erases from there, leaves earlier sectors alone", () => {
  const nor = new NorFlash({ size: 0x400000 });
  nor.bytes.fill(0x00, SLOT, SLOT + 0x3000); // stale bytes of an interrupted session
  const img = data(0x3800);
  const md5 = jsMd5.create();
  md5.update(img, 0, 0x2000);
  const resumed = jsMd5.restore(md5.saveState());
  const w = SlotWriter(nor.asPort(), nodeBytes, resumed, SLOT, img.length, 0x2000);
  feed(w, img, 0x2000, [536]);
  assert.equal(nor.stats.erases, 2);
  assert.deepEqual(nor.read(SLOT + 0x2000, 0x1800), img.subarray(0x2000));
  assert.ok(nor.read(SLOT, 0x2000).every((b) => b === 0), "sectors before the resume point untouched");
  assert.equal(w.position, img.length);
  assert.equal(toHex(resumed.digest()), createHash("md5").update(img).digest("hex"));
});

test("the preflight sees the image header before any erase; a refusal touches nothing", () => {
  for (const sizes of [[536], [7], [0x120, 1]]) {
    const nor = new NorFlash({ size: 0x400000 });
    const img = data(0x2000);
    let seen: Uint8Array | null = null;
    const w = SlotWriter(nor.asPort(), nodeBytes, jsMd5.create(), SLOT, img.length, 0, (first) => {
      seen = new Uint8Array(first);
      throw new Error("refused");
    });
    assert.throws(() => feed(w, img, 0, sizes), /refused/);
    const got = seen as Uint8Array | null;
    assert.ok(got && got.length >= IMAGE_PREFLIGHT_BYTES && got.length <= 320, "chunks of " + sizes + ": " + got?.length);
    assert.deepEqual(got, img.subarray(0, got!.length));
    assert.equal(nor.ops, 0);
  }
  // an image shorter than the header is shown whole, at its end
  const nor = new NorFlash({ size: 0x400000 });
  let seen = -1;
  const w = SlotWriter(nor.asPort(), nodeBytes, jsMd5.create(), SLOT, 100, 0, (first) => {
    seen = first.length;
  });
  feed(w, data(100), 0, [30]);
  assert.equal(seen, 100);
});

test("a real preflight accepts an image fed a few bytes at a time and refuses a wrong chip before erasing", () => {
  const img = buildAppImage({ version: "1.2.3", projectName: "demo", size: 0x1800, seed: 5 });
  for (const [chip, ok] of [["esp32", true], ["esp32s3", false]] as const) {
    const nor = new NorFlash({ size: 0x400000 });
    const w = SlotWriter(nor.asPort(), nodeBytes, jsMd5.create(), SLOT, img.length, 0, (first) => {
      preflightImage(first, chip, 0x100000, img.length, null);
    });
    if (ok) {
      feed(w, img, 0, [5, 11]);
      assert.deepEqual(nor.read(SLOT, img.length), img);
    } else {
      assert.throws(() => feed(w, img, 0, [5, 11]), /IMG_CHIP|chip id/);
      assert.equal(nor.ops, 0);
    }
  }
});

test("a chunk that would pass the image end is refused whole", () => {
  const nor = new NorFlash({ size: 0x400000 });
  const w = SlotWriter(nor.asPort(), nodeBytes, jsMd5.create(), SLOT, 100, 0);
  assert.equal(w.append("x".repeat(60)), true);
  assert.equal(w.append("x".repeat(41)), false);
  assert.equal(w.position, 60);
  assert.equal(w.append("x".repeat(40)), true);
  assert.equal(w.position, 100);
  assert.deepEqual(nor.read(SLOT, 100), new Uint8Array(100).fill(0x78), "the short last sector is programmed at the image end");
});

test("resumes inside a sector: no erase there, the bytes a power cut left half programmed are programmed again", () => {
  const nor = new NorFlash({ size: 0x400000 });
  const { port, erases } = logged(nor);
  const img = data(0x3800);
  const first = SlotWriter(port, nodeBytes, jsMd5.create(), SLOT, img.length, 0);
  feed(first, img.subarray(0, 0x1f00), 0, [536]);
  const [at, state] = first.resumePoint;
  assert.equal(at, 0x1800, "a point inside the second sector");
  // the cut tore the write after the point: some of those bits never got cleared
  for (let i = 0x1800; i < 0x1f00; i += 7) nor.bytes[SLOT + i] = img[i] | 0x5a;
  erases.length = 0;
  const again = SlotWriter(port, nodeBytes, jsMd5.restore(state), SLOT, img.length, at);
  feed(again, img, at, [536]);
  assert.deepEqual(erases, [SLOT + 0x2000, SLOT + 0x3000], "the sector holding the point is not erased again");
  assert.deepEqual(nor.read(SLOT, img.length), img);
  assert.deepEqual(nor.violations, [], "programming the same data again only clears bits");
});

test("sign: the MD5 state at the image end (file size - trailer) is kept, and the journal point stops at its sector", () => {
  // the image ends 40 bytes into the last sector, right at a sector boundary, and 16 bytes before one (the trailer straddles it)
  for (const size of [0x3000 + 40 + SIGN_TRAILER, 0x3000 + SIGN_TRAILER, 0x2ff0 + SIGN_TRAILER]) {
    const nor = new NorFlash({ size: 0x400000 });
    const file = data(size);
    const w = SlotWriter(nor.asPort(), nodeBytes, jsMd5.create(), SLOT, file.length, 0);
    feed(w, file, 0, [777]);
    const imageEnd = size - SIGN_TRAILER;
    assert.equal(toHex(jsMd5.restore(w.imageMd5!).digest()), createHash("md5").update(file.subarray(0, imageEnd)).digest("hex"), "size " + size);
    const [at, state] = w.resumePoint;
    assert.equal(at, imageEnd - (imageEnd % 4096), "never past the sector holding the image end (a sector boundary is a point)");
    assert.equal(toHex(jsMd5.restore(state).digest()), createHash("md5").update(file.subarray(0, at)).digest("hex"));
    // a resume from that point (after a power cut) finds the same image MD5 again
    const again = SlotWriter(nor.asPort(), nodeBytes, jsMd5.restore(state), SLOT, file.length, at);
    feed(again, file, at, [1000]);
    assert.deepEqual(again.imageMd5, w.imageMd5);
  }
  // before the image end is reached the resume point is simply what is written
  const nor = new NorFlash({ size: 0x400000 });
  const file = data(0x5000);
  const w = SlotWriter(nor.asPort(), nodeBytes, jsMd5.create(), SLOT, file.length, 0);
  feed(w, file.subarray(0, 0x2400), 0, [4096]);
  assert.equal(w.resumePoint[0], 0x2400);
  assert.equal(w.imageMd5, null);
});

test("after each chunk, resumePoint is the last point passed (every 3 KiB and each sector), with the MD5 state of exactly those bytes", () => {
  const nor = new NorFlash({ size: 0x400000 });
  const img = data(0x5000 + SIGN_TRAILER + 100);
  const md5 = jsMd5.create();
  const w = SlotWriter(nor.asPort(), nodeBytes, md5, SLOT, img.length, 0);
  const seen: number[] = [];
  // one chunk spanning three sectors, then small ones
  for (let at = 0, k = 0; at < img.length; k++) {
    const n = Math.min(k === 0 ? 0x3100 : 700, img.length - at);
    assert.ok(w.append(bin(img.subarray(at, at + n))));
    at += n;
    const [point, state] = w.resumePoint;
    if (point !== seen[seen.length - 1]) seen.push(point);
    assert.ok(point <= at, "never past the bytes given");
    assert.equal(toHex(jsMd5.restore(state).digest()), createHash("md5").update(img.subarray(0, point)).digest("hex"), "state at " + point);
    assert.deepEqual(nor.read(SLOT, point), img.subarray(0, point), "the bytes before it are in flash");
  }
  // 0x3100 passed 0x3000; then a new point every 3 KiB or sector; 0x5000 starts the sector
  // holding the image end (sign): no resume point after it
  assert.deepEqual(seen, [0x3000, 0x3c00, 0x4000, 0x4800, 0x5000]);
});
