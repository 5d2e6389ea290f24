// Signed updates (docs/security.md): the file a board downloads is the image followed by a
// fixed trailer, and the agent installs it only when the trailer's tag was made with this
// product's key. Public-key verification in Espruino's JavaScript takes minutes on an ESP32;
// HMAC-SHA256 over 64 bytes is two calls of Espruino's native crypto.SHA256.
//
// Trailer, SIGN_TRAILER bytes at the very end of the file (the host writer is src/host/sign):
//    0  4  magic "ESIG"
//    4  1  format, 1
//    5  1  kind: 0 firmware, 1 application
//    6  2  zero (reserved)
//    8 32  version, ASCII, NUL-padded
//   40  4  image size (file size - SIGN_TRAILER), u32 little-endian
//   44  4  zero (reserved)
//   48 32  tag = HMAC-SHA256(key, trailer bytes 0..48 | MD5 of the image bytes)
// 80 bytes keep an esptool image's 16-byte alignment, so the file's last flash write stays
// 4-byte aligned as ESP32 flash writes must be.
// The agent MD5s every byte as it writes it; the slot writer keeps the MD5 state at the image's
// end, so the tag costs no second pass over the image.
import type { Sha256Fn } from "../ports";

export const SIGN_TRAILER = 80;

/**
 * Why a downloaded update is not acceptable, naming the check, or "" when it is.
 * @param tail     the file's last min(size, 2 * SIGN_TRAILER) bytes, read back from flash
 * @param size     the file size
 * @param md5      MD5 of the file's first size - SIGN_TRAILER bytes (null when not known)
 * @param key      the product's signing key (null when none is provisioned)
 * @param version  the version the push announced
 * @param running  the version running now
 */
export function signProblem(tail: Uint8Array, size: number, md5: Uint8Array | null, key: Uint8Array | null, version: string, running: string, allowDowngrade: boolean, sha: Sha256Fn): string {
  const n = tail.length;
  const t = n - SIGN_TRAILER;
  // The magic "ESIG" is 69 83 73 71.
  let i = 0;
  if (t < 0 || !(tail[t] === 69 && tail[t + 1] === 83 && tail[t + 2] === 73 && tail[t + 3] === 71)) {
    // Only to name the defect: where does a trailer start, if anywhere?
    for (i = n - 4; i >= 0; i--) {
      if (tail[i] === 69 && tail[i + 1] === 83 && tail[i + 2] === 73 && tail[i + 3] === 71) {
        return (n - i < SIGN_TRAILER ? "truncated" : "oversized") + " trailer (" + (n - i) + " bytes, expected " + SIGN_TRAILER + ")";
      }
    }
    return "unsigned (no signature trailer)";
  }
  if (tail[t + 4] !== 1) return "unknown trailer format " + tail[t + 4];
  const claimed = (tail[t + 40] | tail[t + 41] << 8 | tail[t + 42] << 16 | tail[t + 43] << 24) >>> 0;
  if (claimed !== size - SIGN_TRAILER) return "wrong size (signed for " + claimed + " bytes, image has " + (size - SIGN_TRAILER) + ")";
  if (!key || !md5) return key ? "image digest unavailable" : "no signing key provisioned";
  // HMAC-SHA256 (RFC 2104) written out here, not crypto/hmac.ts: one 128-byte buffer holds the
  // inner input (key ^ ipad | message) and then, overwritten in place, the outer one
  // (key ^ opad | inner hash), where a general HMAC allocates the message, both inputs and a
  // frame of its own while the check's peak is measured (issue #16); the job then carries no
  // HMAC function at all (the resident's MQTT login keeps hmac.ts).
  if (key.length > 64) key = sha(key);
  const b = new Uint8Array(128);
  for (i = 0; i < 64; i++) b[i] = (i < key.length ? key[i] : 0) ^ 0x36;
  b.set(tail.subarray(t, t + 48), 64);
  b.set(md5, 112);
  b.set(sha(b), 64);
  for (i = 0; i < 64; i++) b[i] ^= 0x6a; // 0x36 ^ 0x5c turns the inner pad into the outer one
  const mac = sha(b.subarray(0, 96));
  let d = 0;
  for (i = 0; i < 32; i++) d |= mac[i] ^ tail[t + 48 + i];
  if (d) return "bad tag (not signed with this product's key)";
  // The agent installs firmware (kind 0) only.
  if (tail[t + 5] !== 0) return "wrong kind " + tail[t + 5] + " (expected 0)";
  let v = "";
  for (i = t + 8; i < t + 40 && tail[i]; i++) v += String.fromCharCode(tail[i]);
  if (v !== version) return "wrong version (signed " + v + ", pushed " + version + ")";
  // A downgrade: the first part where the versions differ is lower. Dot-separated parts compare as
  // numbers when both are plain decimal numbers, else as text; a missing part counts as "0"
  // ("1.2" equals "1.2.0"). Written out here: a function of its own costs JsVars on the board.
  const x = v.split("."), y = running.split(".");
  for (i = 0; !allowDowngrade && (i < x.length || i < y.length); i++) {
    const p = i < x.length ? x[i] : "0", q = i < y.length ? y[i] : "0";
    if (p === q) continue;
    const m = parseInt(p, 10), r = parseInt(q, 10);
    if (String(m) === p && String(r) === q ? m < r : p < q) return "downgrade from " + running + " to " + v;
    break;
  }
  return "";
}
