// The device's identity and secrets. They live in their own Storage file, written when the
// board is flashed (npm run flash -- --device ... --secret-file ...), so one bundle per board
// file serves a whole fleet and a bundle copied off a board carries no key.

/** Storage file holding the Provision as JSON. */
export const PROVISION_FILE = "ota.cfg";
/**
 * Storage file the agent installs as. Espruino runs .boot0 to .boot3 before .bootcde, each in
 * turn, and carries on with the next one after an uncaught error; the Web IDE and the espruino
 * CLI save the user's application to .bootcde. .boot0 runs first, so the agent is up before the
 * application can use the memory it needs, and an application that throws cannot stop it.
 */
export const AGENT_BOOT_FILE = ".boot0";
/** Storage file holding the job (download, verify, switch, trial): a module the resident require()s only when needed. */
export const JOB_FILE = "ota.job";
/** Storage file holding the flash formats (partition table, otadata, app descriptor, signature): a module the job require()s only at its start and at a switch, never during a download. */
export const FORMATS_FILE = "ota.fmt";

export interface Provision {
  productId: string;
  deviceName: string;
  /** base64 device secret: Tencent key authentication (board mqtt.auth "tencent"). */
  deviceSecret?: string;
  /** Board mqtt.auth "plain". */
  username?: string;
  password?: string;
  /** Wi-Fi to join at boot; absent where the application brings the network up itself. */
  wifi?: { ssid: string; password: string };
  /** base64 key the product's updates are signed with. */
  signKey?: string;
}
