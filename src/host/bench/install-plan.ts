// What the bench writes into the emulated flash's Storage: whatever agentStorageFiles()
// (src/host/build/install.ts) says an install writes, the bench's stub in front of the first
// file Espruino evaluates at power-on, and optionally an application beside the agent. Nothing
// here knows the agent's file names: a new install shape (.boot0 + ota.cfg, a job file loaded
// on demand) is installed as it comes.
import { parse } from "acorn";
import type { StorageFile } from "../build/install";
import { deviceStub, type StubOptions } from "./device-stub";
import { BOOT_ORDER, isBootFile, type LinuxStorageFile } from "./linux-flash";

/** Where the Web IDE and the espruino CLI save the user's application. */
export const APP_FILE = ".bootcde";

export interface InstallPlanOptions {
  agentFiles: StorageFile[];
  stub: StubOptions;
  /** Source of an application to install beside the agent (see app-program.ts). */
  app?: string;
  /** "ram": the boot files run as one script instead (code text in RAM); other files stay in Storage. */
  codeIn?: "flash" | "ram";
}

export interface InstallPlan {
  /** Storage content of the emulated flash. */
  files: LinuxStorageFile[];
  /** codeIn "ram": the script to run, boot files in boot order. */
  script: string | null;
  /** The agent's boot files in the order Espruino runs them (the code resident while idle). */
  agentBootFiles: string[];
  /** Bytes of the agent's boot files: the code loaded while the agent is idle. */
  residentBytes: number;
  /** Where the application went (null: none). */
  appFile: string | null;
  /** Anything the reader of a figure must know about this install. */
  notes: string[];
}

const order = (name: string) => BOOT_ORDER.indexOf(name);

/**
 * Puts `__bench.loaded();` (the "code loaded" report) before the statement that starts the
 * agent, the last one of its last boot file, when that is an expression statement; otherwise at
 * the end of that file.
 */
export function markLoaded(code: string): string {
  try {
    const ast = parse(code, { ecmaVersion: 5, sourceType: "script" }) as unknown as { body: { start: number; type: string }[] };
    const last = ast.body[ast.body.length - 1];
    if (last && last.type === "ExpressionStatement") return code.slice(0, last.start) + "\n__bench.loaded();\n" + code.slice(last.start);
  } catch {
    // not ES5 the bench can parse: the report goes at the end
  }
  return code + "\n;__bench.loaded();\n";
}

export function installPlan(o: InstallPlanOptions): InstallPlan {
  const notes: string[] = [];
  const agentBoot = o.agentFiles.filter((f) => isBootFile(f.name)).sort((a, b) => order(a.name) - order(b.name));
  if (agentBoot.length === 0) {
    throw new Error("agentStorageFiles() returned no boot file (" + BOOT_ORDER.join(", ") + "): nothing would start the agent; files: " + o.agentFiles.map((f) => f.name).join(", "));
  }
  const files = new Map<string, string>(o.agentFiles.map((f) => [f.name, f.data]));
  const lastAgent = agentBoot[agentBoot.length - 1].name;
  files.set(lastAgent, markLoaded(files.get(lastAgent) as string));

  let appFile: string | null = null;
  if (o.app !== undefined) {
    if (!files.has(APP_FILE)) appFile = APP_FILE;
    else {
      // Today's agent takes .bootcde itself. The application then runs from the last free
      // .bootN (before the agent): the same memory on the same heap, only the order differs.
      appFile = [".boot3", ".boot2", ".boot1", ".boot0"].find((n) => !files.has(n)) ?? null;
      if (!appFile) throw new Error("no boot file left for the application: the agent installs " + [...files.keys()].join(", "));
      notes.push("the agent occupies " + APP_FILE + " (the application's file), so the application ran from " + appFile + ", before the agent");
    }
    files.set(appFile, o.app);
  }

  const boot = [...files.keys()].filter(isBootFile).sort((a, b) => order(a) - order(b));
  const first = boot[0];
  files.set(first, deviceStub(o.stub) + files.get(first));

  let script: string | null = null;
  if (o.codeIn === "ram") {
    script = boot.map((n) => "// " + n + "\n" + files.get(n)).join("\n;\n");
    for (const n of boot) files.delete(n);
  }
  return {
    files: [...files].map(([name, data]) => ({ name, data })),
    script,
    agentBootFiles: agentBoot.map((f) => f.name),
    residentBytes: agentBoot.reduce((n, f) => n + f.data.length, 0),
    appFile,
    notes,
  };
}
