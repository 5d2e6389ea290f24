// require("crypto") of the ESP32 build: one-shot SHA digests returning an ArrayBuffer
// (libs/crypto/jswrap_crypto.c). No MD5, no HMAC, nothing incremental, as on the board.

import { createHash } from "node:crypto";
import { dataToBytes } from "./bytes";
import type { Session } from "./session";

export function createCryptoModule(session: Session): Record<string, unknown> {
  const api = session.api;
  const mod = api.object();
  const digests: Array<[string, string]> = [
    ["SHA1", "sha1"],
    ["SHA224", "sha224"],
    ["SHA256", "sha256"],
    ["SHA384", "sha384"],
    ["SHA512", "sha512"],
  ];
  for (const [name, algorithm] of digests) {
    mod[name] = api.bridge((message: unknown) => {
      const digest = createHash(algorithm).update(dataToBytes(message)).digest();
      const out = api.arrayBuffer(digest.length);
      new Uint8Array(out).set(digest);
      return out;
    }, name);
  }
  return mod;
}
