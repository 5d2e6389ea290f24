import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { SIGN_TRAILER } from "../../src/core/sign/verify";
import { signProblem } from "../helpers/sign-check";
import { makeTrailer, readSigned, signImage } from "../../src/host/sign/trailer";
import { sha256Bytes } from "../../src/core/crypto/sha256";
import { randomBytes, rng } from "../helpers/random";

const KEY = new Uint8Array(createHash("sha256").update("unit test key").digest());
const OTHER = new Uint8Array(createHash("sha256").update("another key").digest());
const nodeSha = (d: Uint8Array) => new Uint8Array(createHash("sha256").update(d).digest());

/** A trailer built by hand with node:crypto, independently of src/host/sign. */
function vector(key: Uint8Array, image: Uint8Array, kind: number, version: string, imageSize = image.length): Buffer {
  const head = Buffer.alloc(48);
  head.write("ESIG", 0, "latin1");
  head[4] = 1;
  head[5] = kind;
  head.write(version, 8, "latin1");
  head.writeUInt32LE(imageSize, 40);
  const md5 = createHash("md5").update(image).digest();
  return Buffer.concat([head, createHmac("sha256", key).update(head).update(md5).digest()]);
}

/** signCheck on a downloaded file, as the agent calls it (what failed, or ""). */
function check(file: Uint8Array, o: { key?: Uint8Array | null; version?: string; running?: string; allowDowngrade?: boolean; sha?: boolean } = {}): string {
  const n = Math.min(file.length, 2 * SIGN_TRAILER);
  const imageLen = file.length - SIGN_TRAILER;
  const md5 = imageLen >= 0 ? new Uint8Array(createHash("md5").update(file.subarray(0, imageLen)).digest()) : null;
  return signProblem(file.subarray(file.length - n), file.length, md5, o.key === undefined ? KEY : o.key, o.version ?? "1.2.0", o.running ?? "1.1.0", o.allowDowngrade ?? false, o.sha === false ? sha256Bytes : nodeSha);
}

const image = randomBytes(5000, rng(7));
const good = Buffer.concat([image, vector(KEY, image, 0, "1.2.0")]);

test("the trailer is 80 bytes and the host signer writes exactly the hand-built vector", () => {
  assert.equal(SIGN_TRAILER, 80);
  assert.deepEqual(signImage(KEY, image, "1.2.0"), good);
  assert.deepEqual(makeTrailer(KEY, image, { kind: 1, version: "9" }), vector(KEY, image, 1, "9"));
});

test("a correctly signed file passes, with native or JS SHA-256", () => {
  assert.equal(check(good), "");
  assert.equal(check(good, { sha: false }), "");
  // tail shorter than 2 trailers (a tiny image) still works
  const tiny = new Uint8Array([0xe9, 1, 2]);
  assert.equal(check(Buffer.concat([tiny, vector(KEY, tiny, 0, "1.2.0")])), "");
});

test("the tag is RFC 2104 HMAC for keys shorter than, equal to and longer than SHA-256's block", () => {
  // the check computes the HMAC itself (one reused buffer), so it owns the key-length cases
  for (const len of [1, 16, 63, 64, 65, 100]) {
    const key = randomBytes(len, rng(len));
    const file = Buffer.concat([image, vector(key, image, 0, "1.2.0")]);
    assert.equal(check(file, { key }), "", "key of " + len + " bytes");
    assert.equal(check(file, { key, sha: false }), "", "key of " + len + " bytes, JS SHA-256");
    const other = Uint8Array.from(key);
    other[len - 1] ^= 1;
    assert.match(check(file, { key: other }), /^bad tag/, "key of " + len + " bytes, last byte changed");
  }
});

test("every check names itself", () => {
  assert.match(check(image), /^unsigned \(no signature trailer\)$/);
  assert.match(check(new Uint8Array(10)), /^unsigned/);
  assert.match(check(Buffer.concat([image, vector(OTHER, image, 0, "1.2.0")])), /^bad tag/);
  // a field changed after signing
  const tampered = Buffer.from(good);
  tampered[good.length - SIGN_TRAILER + 8] = "2".charCodeAt(0);
  assert.match(check(tampered, { version: "2.2.0" }), /^bad tag/);
  // one image byte changed (the MD5 in the push would be the attacker's)
  const flipped = Buffer.from(good);
  flipped[100] ^= 1;
  assert.match(check(flipped), /^bad tag/);
  assert.match(check(Buffer.concat([image, vector(KEY, image, 1, "1.2.0")])), /^wrong kind 1 \(expected 0\)$/);
  assert.match(check(Buffer.concat([image, vector(KEY, image, 0, "1.3.0")])), /^wrong version \(signed 1\.3\.0, pushed 1\.2\.0\)$/);
  assert.match(check(Buffer.concat([image, vector(KEY, image, 0, "1.2.0", image.length + 1)])), /^wrong size \(signed for 5001 bytes, image has 5000\)$/);
  assert.match(check(good.subarray(0, good.length - 10)), /^truncated trailer \(70 bytes, expected 80\)$/);
  assert.match(check(Buffer.concat([good, Buffer.alloc(20)])), /^oversized trailer \(100 bytes, expected 80\)$/);
  const format2 = Buffer.from(good);
  format2[good.length - SIGN_TRAILER + 4] = 2;
  assert.match(check(format2), /^unknown trailer format 2$/);
  assert.match(check(good, { key: null }), /^no signing key provisioned$/);
});

test("downgrades are refused unless allowed; the same or a newer version is not a downgrade", () => {
  const old = Buffer.concat([image, vector(KEY, image, 0, "1.0.9")]);
  assert.equal(check(old, { version: "1.0.9", running: "1.1.0" }), "downgrade from 1.1.0 to 1.0.9");
  assert.equal(check(old, { version: "1.0.9", running: "1.1.0", allowDowngrade: true }), "");
  assert.equal(check(old, { version: "1.0.9", running: "1.0.9" }), "");
  assert.equal(check(old, { version: "1.0.9", running: "1.0.2" }), "");
});

test("versions compare as dot-separated numbers, other parts as text, a missing part as 0", () => {
  /** "" or "downgrade": installing `signed` while `running` runs. */
  const downgrade = (signed: string, running: string) => {
    const why = check(Buffer.concat([image, vector(KEY, image, 0, signed)]), { version: signed, running });
    assert.ok(why === "" || why === "downgrade from " + running + " to " + signed, why);
    return why !== "";
  };
  assert.equal(downgrade("1.10.0", "1.9.9"), false);
  assert.equal(downgrade("1.9.9", "1.10.0"), true);
  assert.equal(downgrade("1.2", "1.2.0"), false);
  assert.equal(downgrade("1.2.0", "1.2"), false);
  assert.equal(downgrade("1.2", "1.2.1"), true);
  assert.equal(downgrade("1.2.1", "1.2"), false);
  assert.equal(downgrade("2", "10"), true);
  assert.equal(downgrade("10", "2"), false);
  assert.equal(downgrade("1.0.0b", "1.0.0a"), false);
  assert.equal(downgrade("1.0.0a", "1.0.0b"), true);
  assert.equal(downgrade("3.1.4", "3.1.4"), false);
  // the first differing part decides, whatever follows
  assert.equal(downgrade("1.3.0", "1.2.9"), false);
  assert.equal(downgrade("1.2.9", "1.3.0"), true);
  // "08" is not a plain number, so it compares as text: "08" < "7"
  assert.equal(downgrade("08", "7"), true);
});

test("the host reader finds version, kind and whether the tag fits a key", () => {
  assert.deepEqual({ ...readSigned(good, KEY), image: undefined }, { signed: true, image: undefined, kind: "firmware", version: "1.2.0", format: 1, tagValid: true });
  assert.equal(readSigned(good, OTHER).tagValid, false);
  assert.equal(readSigned(image).signed, false);
  assert.equal(readSigned(signImage(KEY, image, "7", "app")).kind, "app");
});

test("the JS SHA-256 fallback agrees with native (HMAC input is the 64-byte message)", () => {
  const m = randomBytes(64, rng(1));
  assert.deepEqual(sha256Bytes(m), nodeSha(m));
});
