// The bench device's identity, in one place: given to agentStorageFiles() (which writes it to
// the device the way `npm run flash` does) and used for the simulated cloud's device record,
// so the bench keeps working whether the identity is compiled into the bundle or provisioned.
import type { BoardConfig } from "../../core/board";
import type { Provision } from "../../core/provision";

/** A throw-away identity for the local broker; the secret guards nothing. */
export const BENCH_PROVISION: Provision = {
  productId: "LINUXBENCH",
  deviceName: "espruino-linux-1",
  deviceSecret: "ZXNwcnVpbm8tbGludXgtYmVuY2gtc2VjcmV0",
};

/**
 * The board with `p`'s identity in the fields it still carries (today the bundle compiles the
 * identity in from board.mqtt); a board without them is returned as it is.
 */
export function withIdentity(board: BoardConfig, p: Provision): BoardConfig {
  const mqtt = { ...board.mqtt } as Record<string, unknown>;
  for (const k of ["productId", "deviceName", "deviceSecret", "username", "password"] as const) {
    if (k in mqtt && p[k] !== undefined) mqtt[k] = p[k];
  }
  return { ...board, mqtt: mqtt as unknown as BoardConfig["mqtt"] };
}
