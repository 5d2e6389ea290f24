// BytesPort over Node's latin1 Buffer conversions (on Espruino: E.toUint8Array / E.toString).
import type { BytesPort } from "../../src/core/ports";

export const nodeBytes: BytesPort = {
  copyString: (src, dst, dstOffset) => dst.set(Buffer.from(src, "latin1"), dstOffset),
  toBinaryString: (src, offset, length) => Buffer.from(src.buffer, src.byteOffset + offset, length).toString("latin1"),
};
