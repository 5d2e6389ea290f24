// The agent's one call into signed updates (the trailer: verify.ts): after the download and its
// MD5, before anything is switched or marked bootable.
//
// Memory (Espruino): one function from the flash read to the verdict, so the check holds one call
// frame while it runs and the board carries one function for it.
import type { BoardConfig } from "../board";
import type { Ports } from "../ports";
import type { Provision } from "../provision";
import { base64Decode } from "../crypto/base64";
import { SIGN_TRAILER } from "./verify";

/**
 * "" when the `size`-byte file in the slot at `slot` may be installed, else the fail message
 * ("signature check failed: " and what failed; docs/security.md lists them in the order checked).
 * `md5State`: the MD5 state at the image's end (SlotWriter.imageMd5). The key is the
 * provisioning file's signKey (base64): never printed, logged or reported. `version`: the version
 * the push announced; `running`: the version running now.
 */
export function signCheck(board: BoardConfig, id: Provision, ports: Ports, slot: number, size: number, md5State: Uint8Array | null, version: string, running: string, kind?: number): string {
  if (!board.sign.required) return "";
  const failed = "signature check failed: ";
  const k = id.signKey;
  // Espruino's native SHA-256: the job carries no JS one (boot.ts checks for it where Tencent
  // authentication needs it; a firmware without it cannot install signed updates).
  const sha = ports.sha256;
  if (!sha) return failed + "this firmware has no crypto.SHA256";
  // The file's last min(size, 2 * SIGN_TRAILER) bytes, read back from flash; MD5 of the image (the
  // file's first size - SIGN_TRAILER bytes) when known; the product's key when provisioned.
  const n = size < 2 * SIGN_TRAILER ? size : 2 * SIGN_TRAILER;
  const tail = ports.flash.read(slot + size - n, n);
  const md5 = md5State ? ports.md5.restore(md5State).digest() : null;
  let key = k ? base64Decode(k) : null;
  const t = n - SIGN_TRAILER;
  // The magic "ESIG" is 69 83 73 71.
  let i = 0;
  if (t < 0 || !(tail[t] === 69 && tail[t + 1] === 83 && tail[t + 2] === 73 && tail[t + 3] === 71)) {
    // Only to name the defect: where does a trailer start, if anywhere?
    for (i = n - 4; i >= 0; i--) {
      if (tail[i] === 69 && tail[i + 1] === 83 && tail[i + 2] === 73 && tail[i + 3] === 71) {
        return failed + (n - i < SIGN_TRAILER ? "truncated" : "oversized") + " trailer (" + (n - i) + " bytes, expected " + SIGN_TRAILER + ")";
      }
    }
    return failed + "unsigned (no signature trailer)";
  }
  if (tail[t + 4] !== 1) return failed + "unknown trailer format " + tail[t + 4];
  const claimed = (tail[t + 40] | tail[t + 41] << 8 | tail[t + 42] << 16 | tail[t + 43] << 24) >>> 0;
  if (claimed !== size - SIGN_TRAILER) return failed + "wrong size (signed for " + claimed + " bytes, image has " + (size - SIGN_TRAILER) + ")";
  if (!key || !md5) return failed + (key ? "image digest unavailable" : "no signing key provisioned");
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
  if (d) return failed + "bad tag (not signed with this product's key)";
  // Firmware is kind 0, an application package kind 1: neither installs as the other.
  if (tail[t + 5] !== (kind || 0)) return failed + "wrong kind " + tail[t + 5] + " (expected " + (kind || 0) + ")";
  let v = "";
  for (i = t + 8; i < t + 40 && tail[i]; i++) v += String.fromCharCode(tail[i]);
  if (v !== version) return failed + "wrong version (signed " + v + ", pushed " + version + ")";
  // A downgrade: the first part where the versions differ is lower. Dot-separated parts compare as
  // numbers when both are plain decimal numbers, else as text; a missing part counts as "0"
  // ("1.2" equals "1.2.0"). Written out here: a function of its own costs JsVars on the board.
  const x = v.split("."), y = running.split(".");
  for (i = 0; !board.sign.allowDowngrade && (i < x.length || i < y.length); i++) {
    const p = i < x.length ? x[i] : "0", q = i < y.length ? y[i] : "0";
    if (p === q) continue;
    const m = parseInt(p, 10), r = parseInt(q, 10);
    if (String(m) === p && String(r) === q ? m < r : p < q) return failed + "downgrade from " + running + " to " + v;
    break;
  }
  return "";
}
