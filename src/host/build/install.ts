// What goes into a board's Storage when the agent is installed: the one list that
// `npm run flash`, the host runtime and the bench all install, so they cannot drift apart.
// The agent never writes .bootcde, where the Web IDE and the espruino CLI keep the user's app.
import { AGENT_BOOT_FILE, PROVISION_FILE, type Provision } from "../../core/provision";

export interface StorageFile {
  name: string;
  /** Binary string (one char per byte), as require("Storage").write takes it. */
  data: string;
}

/** The agent's Storage files for `bundle` (built by buildBundle) on a device provisioned with `provision`. */
export function agentStorageFiles(bundle: string, provision: Provision): StorageFile[] {
  return [
    { name: AGENT_BOOT_FILE, data: bundle },
    { name: PROVISION_FILE, data: provisionFile(provision) },
  ];
}

/** The provisioning file's text: JSON that require("Storage").readJSON reads back. */
export function provisionFile(p: Provision): string {
  return JSON.stringify(p);
}

/** The files as the host runtime's Device takes them. */
export function storageRecord(files: StorageFile[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of files) out[f.name] = f.data;
  return out;
}
