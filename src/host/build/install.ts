// What goes into a board's Storage when the agent is installed: the one list that
// `npm run flash`, the host runtime and the bench all install, so they cannot drift apart.
import type { Provision } from "../../core/provision";

export interface StorageFile {
  name: string;
  /** Binary string (one char per byte), as require("Storage").write takes it. */
  data: string;
}

/** The agent's Storage files for `bundle` (built by buildBundle) on a device provisioned with `provision`. */
export function agentStorageFiles(bundle: string, _provision: Provision): StorageFile[] {
  // Today the bundle still runs as .bootcde with the identity compiled in; the install shape
  // moves to AGENT_BOOT_FILE + PROVISION_FILE (src/core/provision.ts).
  return [{ name: ".bootcde", data: bundle }];
}
