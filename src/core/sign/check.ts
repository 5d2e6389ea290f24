// The agent's one call into signed updates (verify.ts): after the download and its MD5,
// before anything is switched or marked bootable.
import type { BoardConfig } from "../board";
import type { Ports } from "../ports";
import type { Provision } from "../provision";
import { base64Decode } from "../crypto/base64";
import { SIGN_TRAILER, signProblem } from "./verify";

/**
 * "" when the `size`-byte file in the slot at `slot` may be installed, else the fail message.
 * `md5State`: the MD5 state at the image's end (SlotWriter.imageMd5). The key is the
 * provisioning file's signKey (base64): never printed, logged or reported.
 */
export function signCheck(board: BoardConfig, id: Provision, ports: Ports, slot: number, size: number, md5State: Uint8Array | null, version: string, running: string): string {
  if (!board.sign.required) return "";
  const k = id.signKey;
  // Espruino's native SHA-256: the job carries no JS one (boot.ts checks for it where Tencent
  // authentication needs it; a firmware without it cannot install signed updates).
  if (!ports.sha256) return "signature check failed: this firmware has no crypto.SHA256";
  const n = size < 2 * SIGN_TRAILER ? size : 2 * SIGN_TRAILER;
  const why = signProblem(ports.flash.read(slot + size - n, n), size, md5State ? ports.md5.restore(md5State).digest() : null, k ? base64Decode(k) : null, version, running, board.sign.allowDowngrade, ports.sha256);
  return why ? "signature check failed: " + why : "";
}
