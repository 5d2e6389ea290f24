// The contract between the runtime and rom-model.ts (the ESP32 mask-ROM functions reachable
// through E.nativeCall). Kept here so the runtime compiles whether or not a model is present.

import type { AddressSpace } from "./address-space";

export type NativeFunction = (...args: number[]) => number;
export type RomFunctionFactory = (addr: number, signature: string, mem: AddressSpace) => NativeFunction | undefined;
