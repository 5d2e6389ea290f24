// The agent's image sink: erase just ahead of the data, program whole sectors, hash what
// the flash holds (read back), resume only at a sector boundary, refuse an image before
// its first erase.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { NorFlash } from "../../src/host/runtime/nor-flash";
import { SlotWriter } from "../../src/core/agent/slot-writer";
import { jsMd5 } from "../../src/core/crypto/md5";
import { toHex } from "../../src/core/crypto/hex";
import { nodeBytes } from "../helpers/node-bytes-port";
import { SIGN_TRAILER } from "../../src/core/sign/verify";

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

test("erases each sector only when its data is complete and programs it in one write", () => {
  const nor = new NorFlash({ size: 0x400000 });
  const img = data(0x3000 + 10);
  const w = new SlotWriter(nor.asPort(), nodeBytes, jsMd5.create(), SLOT, img.length, 0);
  feed(w, img.subarray(0, 0x1fff), 0, [536, 1, 1000]);
  assert.equal(nor.stats.erases, 1, "one full sector so far");
  assert.equal(w.written, 0x1000);
  assert.equal(w.position, 0x1fff);
  feed(w, img, 0x1fff, [536]);
  assert.equal(nor.stats.erases, 4);
  assert.equal(nor.stats.writes, 4, "one program call per sector (fewer Flash.write calls on Espruino)");
  assert.equal(w.written, img.length);
  assert.deepEqual(nor.read(SLOT, img.length), img);
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
  const w = new SlotWriter(port, nodeBytes, md5, SLOT, img.length, 0);
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
  const w = new SlotWriter(nor.asPort(), nodeBytes, jsMd5.restore(md5.saveState()), SLOT, img.length, 0x2000);
  feed(w, img, 0x2000, [536]);
  assert.equal(nor.stats.erases, 2);
  assert.deepEqual(nor.read(SLOT + 0x2000, 0x1800), img.subarray(0x2000));
  assert.ok(nor.read(SLOT, 0x2000).every((b) => b === 0), "sectors before the resume point untouched");
  assert.equal(toHex(jsMd5.restore(w.md5State()).digest()), createHash("md5").update(img).digest("hex"));
});

test("the first sector is shown to the preflight before any erase; a refusal touches nothing", () => {
  const nor = new NorFlash({ size: 0x400000 });
  const img = data(0x2000);
  let seen = -1;
  const w = new SlotWriter(nor.asPort(), nodeBytes, jsMd5.create(), SLOT, img.length, 0, (first) => {
    seen = first.length;
    throw new Error("refused");
  });
  assert.throws(() => feed(w, img, 0, [536]), /refused/);
  assert.equal(seen, 0x1000);
  assert.equal(nor.ops, 0);
});

test("a chunk that would pass the image end is refused whole", () => {
  const nor = new NorFlash({ size: 0x400000 });
  const w = new SlotWriter(nor.asPort(), nodeBytes, jsMd5.create(), SLOT, 100, 0);
  assert.equal(w.append("x".repeat(60)), true);
  assert.equal(w.append("x".repeat(41)), false);
  assert.equal(w.position, 60);
  assert.equal(w.append("x".repeat(40)), true);
  assert.equal(w.written, 100, "the short last sector is programmed at the image end");
});

test("sign: the MD5 state at the image end (file size - trailer) is kept, and the journal point stops at its sector", () => {
  // the image ends 40 bytes into the last sector, right at a sector boundary, and 16 bytes before one (the trailer straddles it)
  for (const size of [0x3000 + 40 + SIGN_TRAILER, 0x3000 + SIGN_TRAILER, 0x2ff0 + SIGN_TRAILER]) {
    const nor = new NorFlash({ size: 0x400000 });
    const file = data(size);
    const w = new SlotWriter(nor.asPort(), nodeBytes, jsMd5.create(), SLOT, file.length, 0);
    feed(w, file, 0, [777]);
    const imageEnd = size - SIGN_TRAILER;
    assert.equal(toHex(jsMd5.restore(w.imageMd5!).digest()), createHash("md5").update(file.subarray(0, imageEnd)).digest("hex"), "size " + size);
    const [at, state] = w.resumePoint();
    assert.equal(at, imageEnd - (imageEnd % 4096), "never past the sector holding the image end");
    assert.equal(toHex(jsMd5.restore(state).digest()), createHash("md5").update(file.subarray(0, at)).digest("hex"));
    // a resume from that point (after a power cut) finds the same image MD5 again
    const again = new SlotWriter(nor.asPort(), nodeBytes, jsMd5.restore(state), SLOT, file.length, at);
    feed(again, file, at, [1000]);
    assert.deepEqual(again.imageMd5, w.imageMd5);
  }
  // before the image end is reached the resume point is simply what is written
  const nor = new NorFlash({ size: 0x400000 });
  const file = data(0x5000);
  const w = new SlotWriter(nor.asPort(), nodeBytes, jsMd5.create(), SLOT, file.length, 0);
  feed(w, file.subarray(0, 0x2000), 0, [4096]);
  assert.equal(w.resumePoint()[0], 0x2000);
  assert.equal(w.imageMd5, null);
});
