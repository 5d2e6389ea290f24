import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  IMAGE_PREFLIGHT_BYTES, ImageVerifier, chipIdOf, preflightImage, readAppDescriptor,
} from "../../src/core/esp32/app-image";
import { buildAppImage } from "../../src/host/image/app-image-builder";
import { validateAppImage } from "../../src/host/image/validate-image";
import { NorFlash } from "../../src/host/runtime/nor-flash";

const hex = (s: string) => Uint8Array.from(s.trim().split(/\s+/).map((h) => parseInt(h, 16)));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? "no code: " + String(e);
  }
  return "no error";
}

/**
 * docs/esp32-formats.md#app-image-vector, assembled field by field from the listing (not with the builder). The
 * listing elides part of the descriptor ("..."), so the elided bytes are zero here and
 * the checksum and hash are computed; with the reference's exact (unlisted) bytes they
 * are 0xC0 and 9b7ecb1b... which cannot be reproduced from the listing alone.
 */
function golden63(): Uint8Array {
  const img = new Uint8Array(352);
  img.set(hex("e9 01 02 20 00 00 08 40 ee 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 20 00 40 3f 10 01 00 00"), 0);
  img.set(hex("32 54 cd ab"), 0x20);
  img.set(new TextEncoder().encode("1.2.3"), 0x30);
  img.set(new TextEncoder().encode("demo"), 0x50);
  img.set(new TextEncoder().encode("v4.4.8"), 0x90);
  img.set(hex("11 22 33 44 11 22 33 44 11 22 33 44 11 22 33 44"), 0x120);
  let x = 0xef;
  for (let i = 0x20; i < 0x130; i++) x ^= img[i];
  img[0x13f] = x; // unpadded length 0x130 -> ((0x130 + 1 + 15) & ~15) - 1
  img.set(createHash("sha256").update(img.subarray(0, 0x140)).digest(), 0x140);
  return img;
}

function feedInChunks(v: ImageVerifier, img: Uint8Array, seed: number): void {
  let s = seed;
  for (let at = 0; at < img.length; ) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const n = Math.min(img.length - at, 1 + (s % 700));
    v.feed(img, at, n);
    at += n;
  }
}

test("app-image-vector rule: checksum byte at 0x13F, hash over [0, 0x140), total 352 bytes", () => {
  const img = golden63();
  assert.equal(img.length, 352);
  assert.ok(img.subarray(0x130, 0x13f).every((b) => b === 0), "zero padding up to the checksum");
  const v = new ImageVerifier(true);
  v.feed(img, 0, img.length);
  assert.equal(v.verify(), 352);
  const moved = img.slice();
  moved[0x13f] = 0;
  moved[0x130] = img[0x13f];
  assert.equal(codeOf(() => { const w = new ImageVerifier(false); w.feed(moved, 0, moved.length); w.verify(); }), "IMG_CHECKSUM");
});

test("buildAppImage without a size reproduces the 6.3 layout byte for byte", () => {
  assert.deepEqual(buildAppImage({ version: "1.2.3", projectName: "demo" }), golden63());
});

test("preflightImage reads the descriptor of the 6.3 image", () => {
  const info = preflightImage(golden63().subarray(0, IMAGE_PREFLIGHT_BYTES), "esp32", 0x180000, 352, "demo");
  assert.deepEqual(info, { version: "1.2.3", projectName: "demo", secureVersion: 0, segmentCount: 1, hashAppended: true });
  assert.equal(preflightImage(golden63(), "esp32", 352, 352, null).projectName, "demo");
});

test("preflightImage gives a distinct code for each defect", () => {
  const img = () => golden63();
  const pre = (b: Uint8Array, opts: { chip?: string; slot?: number; size?: number; project?: string | null } = {}) =>
    codeOf(() => preflightImage(b, opts.chip ?? "esp32", opts.slot ?? 0x180000, opts.size ?? 352, opts.project === undefined ? "demo" : opts.project));
  const results: Record<string, string> = {};
  results.tooBig = pre(img(), { slot: 351 });
  results.empty = pre(new Uint8Array(0));
  results.truncated = pre(img().subarray(0, IMAGE_PREFLIGHT_BYTES - 1));
  results.tinyImage = pre(img(), { size: 100 });
  const magic = img();
  magic[0] = 0x3c; // "<" of an HTML error page
  results.magic = pre(magic);
  results.chip = pre(img(), { chip: "esp32s3" });
  const segs = img();
  segs[1] = 0;
  results.noSegments = pre(segs);
  segs[1] = 17;
  results.manySegments = pre(segs);
  const segLen = img();
  segLen[28] = 0x11;
  results.segLen = pre(segLen);
  const desc = img();
  desc[0x20] = 0x33;
  results.desc = pre(desc);
  results.project = pre(img(), { project: "espruino" });
  const hashByte = img();
  hashByte[23] = 2;
  results.hashByte = pre(hashByte);
  assert.deepEqual(results, {
    tooBig: "IMG_TOO_BIG",
    empty: "IMG_TRUNCATED",
    truncated: "IMG_TRUNCATED",
    tinyImage: "IMG_TRUNCATED",
    magic: "IMG_MAGIC",
    chip: "IMG_CHIP",
    noSegments: "IMG_SEGMENTS",
    manySegments: "IMG_SEGMENTS",
    segLen: "IMG_SEGMENTS",
    desc: "IMG_DESC_MAGIC",
    project: "IMG_PROJECT",
    hashByte: "IMG_MAGIC",
  });
});

test("chip ids by name: preflightImage's inline table agrees with chipIdOf", () => {
  const chips = ["esp32", "esp32s2", "esp32c3", "esp32s3"];
  assert.deepEqual([...chips, "esp8266"].map(chipIdOf), [0, 2, 5, 9, -1]);
  for (const built of chips) {
    const img = buildAppImage({ version: "1", projectName: "p", chip: built });
    for (const device of [...chips, "esp8266"]) {
      const code = codeOf(() => preflightImage(img, device, 0x10000, img.length, null));
      assert.equal(code, device === built ? "no error" : "IMG_CHIP", built + " image on " + device);
    }
  }
});

test("ImageVerifier accepts valid images fed in any chunking, and reports their length", () => {
  const images = [
    golden63(),
    buildAppImage({ version: "2.0", projectName: "demo", size: 0x1000, seed: 3 }),
    buildAppImage({ version: "2.0", projectName: "demo", size: 0x60000, seed: 4 }),
    buildAppImage({ version: "2.0", projectName: "demo", size: 0x2010, seed: 5, hashAppended: false }),
  ];
  images.forEach((img, k) => {
    for (let seed = 1; seed <= 3; seed++) {
      const v = new ImageVerifier(true);
      feedInChunks(v, img, seed * 7 + k);
      assert.equal(v.imageLength(), img.length);
      assert.equal(v.verify(), img.length);
    }
    const bytewise = new ImageVerifier(true);
    if (img.length < 0x3000) for (let i = 0; i < img.length; i++) bytewise.feed(img, i, 1);
    else bytewise.feed(img, 0, img.length);
    assert.equal(bytewise.verify(), img.length);
  });
});

test("ImageVerifier ignores bytes after the image (signature blocks, padding)", () => {
  const img = golden63();
  const padded = new Uint8Array(img.length + 100).fill(0x5a);
  padded.set(img);
  const v = new ImageVerifier(true);
  v.feed(padded, 0, padded.length);
  assert.equal(v.verify(), 352);
});

test("ImageVerifier reports checksum, hash and truncation failures", () => {
  const img = buildAppImage({ version: "3", projectName: "demo", size: 0x4000, seed: 9 });
  const run = (b: Uint8Array, sha = true) => codeOf(() => {
    const v = new ImageVerifier(sha);
    feedInChunks(v, b, 1);
    v.verify();
  });
  const data = img.slice();
  data[0x200] ^= 0x10;
  assert.equal(run(data), "IMG_CHECKSUM");
  const hash = img.slice();
  hash[img.length - 1] ^= 1;
  assert.equal(run(hash), "IMG_SHA256");
  assert.equal(run(hash, false), "no error", "SHA check disabled for this board");
  // Two flips in one data byte column keep the XOR but change the hash.
  const twice = img.slice();
  twice[0x200] ^= 0x10;
  twice[0x204] ^= 0x10;
  assert.equal(run(twice), "IMG_SHA256");
  assert.equal(run(img.subarray(0, img.length - 1)), "IMG_TRUNCATED");
  assert.equal(run(img.subarray(0, 0x100)), "IMG_TRUNCATED");
  const segLen = img.slice();
  segLen[28] |= 2;
  assert.equal(run(segLen), "IMG_SEGMENTS");
  const magic = img.slice();
  magic[0] = 0;
  assert.equal(run(magic), "IMG_MAGIC");
});

test("device verifier and host validator agree on randomly damaged images", () => {
  const img = buildAppImage({ version: "4", projectName: "demo", size: 0x800, seed: 11 });
  let s = 77;
  for (let i = 0; i < 1000; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const at = s % img.length;
    // The chip id is preflight's job (the verifier checks integrity only).
    if (at === 12 || at === 13) continue;
    const b = img.slice();
    b[at] ^= 1 << (s >>> 28 & 7);
    const host = validateAppImage(b, 0, b.length).ok;
    const device = codeOf(() => {
      const v = new ImageVerifier(true);
      v.feed(b, 0, b.length);
      v.verify();
    });
    assert.equal(device === "no error", host, "flip at " + at + ": device " + device);
  }
});

test("readAppDescriptor reports the slot's version, or null for an empty slot", () => {
  const flash = new NorFlash({ size: 0x40000 });
  flash.bytes.set(buildAppImage({ version: "2v29.7", projectName: "espruino", size: 0x1000 }), 0x10000);
  assert.deepEqual(readAppDescriptor(flash.asPort(), 0x10000), { version: "2v29.7", projectName: "espruino" });
  assert.equal(readAppDescriptor(flash.asPort(), 0x20000), null);
});
