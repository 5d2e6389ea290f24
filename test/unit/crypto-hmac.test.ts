import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { hmacSha256 } from "../../src/core/crypto/hmac";
import { Sha256, sha256Bytes } from "../../src/core/crypto/sha256";
import { base64Decode, base64Encode } from "../../src/core/crypto/base64";
import { fromHex, toHex } from "../../src/core/crypto/hex";
import { bytesFromString, bytesToString, utf8Encode } from "../../src/core/crypto/bytes";
import { isOtaError } from "../../src/core/errors";
import { randomBytes, rng } from "../helpers/random";



const hex = (d: Uint8Array) => Buffer.from(d).toString("hex");
const nodeSha256 = (d: Uint8Array) => new Uint8Array(createHash("sha256").update(d).digest());

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => isOtaError(e) && e.code === code);
}

test("SHA-256 one-shot matches node:crypto around the padding edges", () => {
  const next = rng(3);
  for (let n = 0; n <= 260; n++) {
    const d = randomBytes(n, next);
    assert.equal(hex(sha256Bytes(d)), hex(nodeSha256(d)), "length " + n);
  }
  assert.equal(hex(sha256Bytes(new Uint8Array(Buffer.from("abc")))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

test("SHA-256 incremental with random splits matches node:crypto", () => {
  for (let seed = 1; seed <= 80; seed++) {
    const next = rng(seed);
    const d = randomBytes(next() % 5000, next);
    const s = new Sha256();
    let off = 0;
    while (off < d.length) {
      const len = Math.min(d.length - off, next() % 200);
      s.update(d, off, len);
      off += len;
    }
    assert.equal(hex(s.digest()), hex(nodeSha256(d)), "seed " + seed);
  }
});

test("SHA-256 rejects misuse", () => {
  const s = new Sha256();
  assertCode(() => s.update(new Uint8Array(4), 2, 3), "CRYPTO_USAGE");
  s.digest();
  assertCode(() => s.update(new Uint8Array(4), 0, 1), "CRYPTO_USAGE");
  assertCode(() => s.digest(), "CRYPTO_USAGE");
});

test("HMAC-SHA256 matches node:crypto with JS and with a native one-shot SHA-256", () => {
  const next = rng(11);
  let nativeCalls = 0;
  const native = (d: Uint8Array) => { nativeCalls++; return nodeSha256(d); };
  for (const keyLen of [0, 1, 20, 63, 64, 65, 131, 200]) {
    for (const msgLen of [0, 1, 55, 64, 100, 1000]) {
      const key = randomBytes(keyLen, next), msg = randomBytes(msgLen, next);
      const want = createHmac("sha256", key).update(msg).digest("hex");
      assert.equal(hex(hmacSha256(key, msg, sha256Bytes)), want, "JS key " + keyLen + " msg " + msgLen);
      assert.equal(hex(hmacSha256(key, msg, native)), want, "native key " + keyLen + " msg " + msgLen);
    }
  }
  assert.ok(nativeCalls >= 2 * 8 * 6, "the native SHA-256 is the one used when given");
});

test("HMAC-SHA256 RFC 4231 test case 2", () => {
  const mac = hmacSha256(utf8Encode("Jefe"), utf8Encode("what do ya want for nothing?"), sha256Bytes);
  assert.equal(hex(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
});

test("base64 round-trips against Buffer, padded and unpadded", () => {
  const next = rng(21);
  for (let n = 0; n < 80; n++) {
    const d = randomBytes(n, next);
    const b64 = Buffer.from(d).toString("base64");
    assert.equal(base64Encode(d), b64, "encode " + n);
    assert.deepEqual(base64Decode(b64), d, "decode " + n);
    assert.deepEqual(base64Decode(b64.replace(/=+$/, "")), d, "unpadded " + n);
  }
});

test("base64 rejects bad input with ENCODING", () => {
  for (const bad of ["Q", "QUJD=", "QQ=A", "=QQQ", "Q===", "QQ=", "QU JD", "QUJD\n", "QU-D", "QU_D", "QUJ\u00e9"]) {
    assertCode(() => base64Decode(bad), "ENCODING");
  }
});

test("hex: lowercase out, either case in, null on bad input", () => {
  const next = rng(31), d = randomBytes(300, next);
  assert.equal(toHex(d), hex(d));
  assert.deepEqual(fromHex(toHex(d)), d);
  assert.deepEqual(fromHex("00FFaB"), new Uint8Array([0, 255, 171]));
  assert.deepEqual(fromHex(""), new Uint8Array(0));
  for (const bad of ["0", "abc", "0g", "zz", " 0", "0x12", "12 "]) assert.equal(fromHex(bad), null, JSON.stringify(bad));
});

test("binary strings and UTF-8", () => {
  const all = new Uint8Array(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  const s = bytesToString(all);
  assert.equal(s, Buffer.from(all).toString("latin1"));
  assert.deepEqual(bytesFromString(s), all);
  for (const text of ["", "device_01", "caf\u00e9", "\u20ac100", "\ud83d\ude00 ok", "lone \ud800 high", "lone \udc00 low"]) {
    assert.deepEqual(utf8Encode(text), new Uint8Array(Buffer.from(text, "utf8")), JSON.stringify(text));
  }
});
