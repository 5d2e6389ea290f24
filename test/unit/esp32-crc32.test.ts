import { test } from "node:test";
import assert from "node:assert/strict";
import { crc32 as zlibCrc32 } from "node:zlib";
import { crc32Update, otaSeqCrc } from "../../src/core/esp32/crc32";
import { otaCrc } from "../../src/host/image/otadata-entry";

// docs/esp32-formats.md#otadata-crc-vectors table (computed from esp_rom_crc32_le(UINT32_MAX, &seq, 4)).
const OTA_VECTORS: [number, number][] = [
  [1, 0x4743989a],
  [2, 0x55f63774],
  [3, 0xed4a5011],
  [4, 0x709d68a8],
  [0x10, 0xafe6a860],
];

test("otaSeqCrc matches the reference vectors (device and host implementations)", () => {
  for (const [seq, crc] of OTA_VECTORS) {
    assert.equal(otaSeqCrc(seq), crc, "device seq " + seq);
    assert.equal(otaCrc(seq), crc, "host seq " + seq);
  }
});

test("otaSeqCrc is not the standard CRC-32 of the four bytes", () => {
  assert.equal(crc32Update(0, Uint8Array.of(1, 0, 0, 0), 0, 4), 0x99f8b879);
  assert.notEqual(otaSeqCrc(1), 0x99f8b879);
});

test("crc32Update: standard check value, the ROM variant, and chaining", () => {
  const ascii = new TextEncoder().encode("123456789");
  assert.equal(crc32Update(0, ascii, 0, 9), 0xcbf43926);
  assert.equal(crc32Update(0xffffffff, ascii, 0, 9), 0xd202d277);
  const part = crc32Update(0, ascii, 0, 4);
  assert.equal(crc32Update(part, ascii, 4, 5), 0xcbf43926);
});

test("crc32Update agrees with zlib and otaSeqCrc agrees with the host model over random inputs", () => {
  let s = 12345;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0);
  for (let i = 0; i < 200; i++) {
    const len = rnd() % 300;
    const buf = new Uint8Array(len + 7);
    for (let k = 0; k < buf.length; k++) buf[k] = rnd() & 255;
    const seed = rnd();
    assert.equal(crc32Update(seed, buf, 3, len), zlibCrc32(buf.subarray(3, 3 + len), seed) >>> 0);
    const seq = rnd();
    const le = new Uint8Array(4);
    new DataView(le.buffer).setUint32(0, seq, true);
    assert.equal(otaSeqCrc(seq), otaCrc(seq));
    assert.equal(otaSeqCrc(seq), crc32Update(0xffffffff, le, 0, 4));
  }
});
