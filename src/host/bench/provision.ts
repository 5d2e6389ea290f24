// The bench device's identity, in one place: given to agentStorageFiles() (which writes it to
// the device the way `npm run flash` does) and used for the simulated cloud's device record,
// as `npm run flash -- --device` gives a real board its identity.
import type { Provision } from "../../core/provision";

/** A throw-away identity for the local broker; the secret guards nothing. */
export const BENCH_PROVISION: Provision = {
  productId: "LINUXBENCH",
  deviceName: "espruino-linux-1",
  deviceSecret: "ZXNwcnVpbm8tbGludXgtYmVuY2gtc2VjcmV0",
};
