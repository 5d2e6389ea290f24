// The agent's one call into signed updates (verify.ts): after the download and its MD5,
// before anything is switched or marked bootable.
import type { BoardConfig } from "../board";
import type { Ports } from "../ports";
import { base64Decode } from "../crypto/base64";
import { SIGN_TRAILER, signProblem } from "./verify";

/**
 * The product's signing key, base64. It travels like the device secret (board mqtt block)
 * until the provisioning file (src/core/provision.ts, Provision.signKey) carries it: then this
 * line becomes the one read of that field. Never printed, logged or reported.
 */
export function signKey(board: BoardConfig): string | undefined {
  return board.mqtt.signKey;
}

/**
 * "" when the `size`-byte file in the slot at `slot` may be installed, else the fail message.
 * `md5State`: the MD5 state at the image's end (SlotWriter.imageMd5).
 */
export function signCheck(board: BoardConfig, ports: Ports, slot: number, size: number, md5State: Uint8Array | null, version: string, running: string): string {
  if (!board.sign.required) return "";
  const k = signKey(board);
  const n = size < 2 * SIGN_TRAILER ? size : 2 * SIGN_TRAILER;
  const why = signProblem(ports.flash.read(slot + size - n, n), size, md5State ? ports.md5.restore(md5State).digest() : null, k ? base64Decode(k) : null, 0, version, running, board.sign.allowDowngrade, ports.sha256);
  return why ? "signature check failed: " + why : "";
}
