// What goes into a board's Storage when the agent is installed: the one list that
// `npm run flash`, the host runtime and the bench all install, so they cannot drift apart.
// The agent never writes .bootcde, where the Web IDE and the espruino CLI keep the user's app.
import { AGENT_BOOT_FILE, FORMATS_FILE, JOB_FILE, PROVISION_FILE, type Provision } from "../../core/provision";
import { readFileSync } from "node:fs";

/**
 * The agent's code: the resident part (Storage .boot0), the job it loads when there is work
 * (ota.job) and the flash formats the job loads only at its start and at a switch (ota.fmt).
 */
export interface AgentCode {
  boot: string;
  job: string;
  fmt: string;
}

/** The code `npm run build` left for a board: dist/<board>.js, dist/<board>.job.js and dist/<board>.fmt.js. */
export function readAgentCode(bootPath: string): AgentCode {
  return { boot: readFileSync(bootPath, "latin1"), job: readFileSync(jobPathOf(bootPath), "latin1"), fmt: readFileSync(fmtPathOf(bootPath), "latin1") };
}

/** Where the build puts the job bundle next to a boot bundle. */
export function jobPathOf(bootPath: string): string {
  return bootPath.replace(/\.js$/, "") + ".job.js";
}

/** Where the build puts the formats bundle next to a boot bundle. */
export function fmtPathOf(bootPath: string): string {
  return bootPath.replace(/\.js$/, "") + ".fmt.js";
}

export interface StorageFile {
  name: string;
  /** Binary string (one char per byte), as require("Storage").write takes it. */
  data: string;
}

/** The agent's Storage files for `code` (built by buildBundle) on a device provisioned with `provision`. */
export function agentStorageFiles(code: AgentCode, provision: Provision): StorageFile[] {
  return [...agentCodeFiles(code), { name: PROVISION_FILE, data: provisionFile(provision) }];
}

/** Only the agent's code: what an agent update (without new provisioning) writes. */
export function agentCodeFiles(code: AgentCode): StorageFile[] {
  return [
    { name: AGENT_BOOT_FILE, data: code.boot },
    { name: JOB_FILE, data: code.job },
    { name: FORMATS_FILE, data: code.fmt },
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
