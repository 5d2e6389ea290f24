// signCheck (src/core/sign/check.ts) driven from bytes in memory: the tests name what it is given
// (the file's tail, its MD5, the key) and get back what failed, without the message's prefix.
import { signCheck } from "../../src/core/sign/check";
import { base64Encode } from "../../src/core/crypto/base64";
import type { BoardConfig } from "../../src/core/board";
import type { Ports, Sha256Fn } from "../../src/core/ports";
import type { Provision } from "../../src/core/provision";

const SLOT = 0x190000;
const PREFIX = "signature check failed: ";

/**
 * "" when signCheck accepts a `size`-byte file whose last bytes are `tail`, else what failed.
 * `md5`: MD5 of the image (null: unknown); `key`: the product's key (null: none provisioned).
 */
export function signProblem(tail: Uint8Array, size: number, md5: Uint8Array | null, key: Uint8Array | null, version: string, running: string, allowDowngrade: boolean, sha: Sha256Fn): string {
  const board = { sign: { required: true, allowDowngrade } } as unknown as BoardConfig;
  const id = (key ? { signKey: base64Encode(key) } : {}) as Provision;
  const state = new Uint8Array(88);
  const ports = {
    sha256: sha,
    flash: {
      read(addr: number, len: number): Uint8Array {
        // signCheck reads the file's last min(size, 160) bytes: exactly what the tests hand it
        if (addr !== SLOT + size - len || len !== tail.length) throw new Error(`unexpected read of ${len} bytes at ${addr.toString(16)}`);
        return new Uint8Array(tail);
      },
    },
    md5: {
      restore(st: Uint8Array) {
        if (st !== state) throw new Error("signCheck restored another MD5 state");
        return { digest: () => new Uint8Array(md5!) };
      },
    },
  } as unknown as Ports;
  const why = signCheck(board, id, ports, SLOT, size, md5 ? state : null, version, running);
  if (why !== "" && why.indexOf(PREFIX) !== 0) throw new Error("signCheck message without its prefix: " + why);
  return why.substring(PREFIX.length);
}
