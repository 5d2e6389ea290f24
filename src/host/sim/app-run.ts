// One complete simulated update of the user's application (docs/app-ota.md): the board starts
// with application 1.0.0 installed as a package in Storage's ota.app0, the cloud pushes 1.1.0
// with the board's app fw_type, and the run ends when the cloud sees done or fail. Used by
// `npm run sim -- --kind app`, the end-to-end tests and the reliability campaign.
import { simProvision } from "../boards/load-board";
import { buildAppPackage, type AppConfirm } from "../app/package";
import type { DeviceRecord } from "../cloud/tencent-ota-cloud";
import { bytesToBinary } from "../runtime/bytes";
import { APP_FILE } from "../../core/agent/app-files";
import { STORAGE_HEADER_BYTES } from "../runtime/storage-module";
import { pushAndWait, resolveBoard, runOutcome, startRun, type OtaRun, type OtaRunOptions, type OtaRunResult } from "./ota-run";
import type { FirmwareServer } from "./firmware-server";

/** The Storage files of the application's two slots. */
export const APP_FILES = [APP_FILE + 0, APP_FILE + 1];

/**
 * A test application: it logs "app-running <version>" as it loads (how a run tells which one
 * runs), ticks on an interval, and with confirm "api" says it is healthy after `healthyAfterMs`
 * unless told never to. `pad` bytes of comment make it as big as wanted.
 */
export function testApp(version: string, o: { healthyAfterMs?: number | null; throwAtLoad?: boolean; pad?: number } = {}): string {
  const lines = [`var APP_VERSION = ${JSON.stringify(version)};`, `console.log("app-running " + APP_VERSION);`, `var ticks = 0;`, `setInterval(function () { ticks++; }, 500);`];
  if (o.throwAtLoad) lines.push(`throw new Error("application " + APP_VERSION + " fails at load");`);
  if (o.healthyAfterMs !== null) lines.push(`setTimeout(function () { E.emit("OTA:healthy"); }, ${o.healthyAfterMs ?? 200});`);
  let text = lines.join("\n") + "\n";
  const pad = o.pad ?? 0;
  for (let i = 0; text.length < pad; i++) text += `// padding line ${i} so that the package spans several download spans and resume points\n`;
  return text;
}

export interface AppRunOptions extends Pick<OtaRunOptions, "board" | "broker" | "seed" | "echo" | "onReport" | "timeoutMs" | "offMs" | "files"> {
  fromVersion?: string;
  toVersion?: string;
  /** The new application's JavaScript (default testApp(toVersion) padded to `appBytes`). */
  newApp?: string;
  /** Size of the default new application's text (default 24000 bytes). */
  appBytes?: number;
  /** How the new package is confirmed (default "api"). */
  confirm?: AppConfirm;
  /** Sign the new package with the board's key (default true when the board has one). */
  sign?: boolean;
  /** The installed application (default a package of testApp(fromVersion)); null: none. */
  installed?: string | null;
  /** Announce this MD5 instead of the package's (a corrupt download). */
  announceMd5?: string;
  faults?: (server: FirmwareServer) => void;
  /** Leave only this many bytes free at the end of Storage (a file "filler" takes the rest). */
  freeBytes?: number;
  /** Cut the power when the new app file holds this many written bytes (one cut per entry). */
  powerCutsAtBytes?: number[];
  /** Cut the power during the k-th flash or Storage operation after the push (the reliability campaign). */
  cutAtOp?: number;
  until?: (d: DeviceRecord, run: OtaRun) => boolean;
  inspect?: (run: OtaRun) => void;
}

/** An application the agent started: at which boot, from which file, and whether that file is a whole package. */
export interface AppStart {
  boot: number;
  file: string;
  version: string;
  /** The file is byte for byte the installed package or the new one. */
  complete: boolean;
}

export interface AppRunResult extends OtaRunResult {
  kind: "app";
  /** Storage compactions during the run: the agent must cause none. */
  storageCompactions: number;
  /** Flash and Storage operations from the push to the end. */
  opsAfterPush: number;
  /** Every application start, in order. */
  appStarts: AppStart[];
  /** Boots that ran no application although they were not cut short: each a state without one. */
  bootsWithoutApp: number[];
}

/** The version the last "app-running" line of the device log names: the application running now. */
export function runningApp(log: readonly string[]): string | null {
  for (let i = log.length - 1; i >= 0; i--) {
    const m = /app-running (\S+)/.exec(log[i]);
    if (m) return m[1];
  }
  return null;
}

/** How many leading bytes of a Storage file are written (up to its last byte that is not 0xFF). */
function writtenBytes(f: Uint8Array | undefined): number {
  if (!f) return 0;
  let n = f.length;
  while (n > 0 && f[n - 1] === 0xff) n--;
  return n;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** Runs a whole application update and reports what happened. */
export async function runAppOta(o: AppRunOptions = {}): Promise<AppRunResult> {
  const from = o.fromVersion ?? "1.0.0";
  const to = o.toVersion ?? "1.1.0";
  const board = resolveBoard(o.board);
  const app = board.app;
  if (!app) throw new Error(`board ${board.name} has no "app" kind (docs/app-ota.md)`);
  const key = board.provision?.signKey ? Buffer.from(board.provision.signKey, "base64") : undefined;
  const signKey = o.sign === false ? undefined : key;
  const installed = o.installed === undefined ? buildAppPackage(testApp(from), { version: from, signKey }).bytes : o.installed === null ? null : Buffer.from(o.installed, "binary");
  const pkg = buildAppPackage(o.newApp ?? testApp(to, { pad: o.appBytes ?? 24000 }), { version: to, confirm: o.confirm ?? "api", signKey });
  const files: Record<string, string> = { ...o.files };
  if (installed) files[APP_FILES[0]] = bytesToBinary(installed);
  // the firmware image startRun flashes runs throughout: only the application changes
  const run = await startRun({ board, broker: o.broker, seed: o.seed, echo: o.echo, files });
  const t0 = Date.now();
  const timers: NodeJS.Timeout[] = [];
  try {
    const { cloud, server, sim } = run;
    server.setFile("/app.pkg", pkg.bytes);
    o.faults?.(server);
    const { productId, deviceName } = simProvision(board);
    const storage = sim.device.storage;
    // Every start of an application, checked against the two packages byte for byte at that moment.
    const appStarts: AppStart[] = [];
    const cutInBoot = new Set<number>();
    const log = sim.device.onLog;
    sim.device.onLog = (line) => {
      log?.(line);
      const m = /ota: running application (\S+) version (\S+)/.exec(line);
      if (!m) return;
      const bytes = storage.get(m[1]);
      const want = m[2] === from ? installed : m[2] === to ? pkg.bytes : null;
      appStarts.push({ boot: sim.device.boots, file: m[1], version: m[2], complete: !!bytes && !!want && Buffer.from(bytes).equals(want) });
    };
    let powerCuts = 0;
    const offMs = o.offMs ?? 200;
    const cuts = [...(o.powerCutsAtBytes ?? [])].sort((a, b) => a - b);
    if (cuts.length) {
      const target = APP_FILES[1];
      const poll = setInterval(() => {
        if (!cuts.length || !sim.device.running) return;
        if (writtenBytes(sim.device.storage.get(target)) < cuts[0]) return;
        cuts.shift();
        powerCuts++;
        cutInBoot.add(sim.device.boots);
        sim.powerCut();
        setTimeout(() => {
          if (sim.device.status !== "stopped") sim.powerOn();
        }, offMs).unref();
      }, 1);
      timers.push(poll);
    }
    if (o.freeBytes !== undefined) storage.set("filler", new Uint8Array((storage.freeBytes - o.freeBytes - STORAGE_HEADER_BYTES) & ~3).fill(0x2f));
    sim.powerOn();
    await cloud.waitFor(productId, deviceName, (d) => d.versions[app.fwType] !== undefined || !installed, 20000, "the application's first report_version");
    let sign = 0;
    const opsAtPush = sim.flash.ops;
    if (o.cutAtOp !== undefined) {
      sim.flash.onPowerCut = () => {
        powerCuts++;
        cutInBoot.add(sim.device.boots);
        setTimeout(() => {
          if (sim.device.status !== "stopped") sim.powerOn();
        }, offMs).unref();
      };
      sim.flash.cutPowerAfter(o.cutAtOp);
    }
    await pushAndWait(
      run,
      { kind: "app", fwType: app.fwType, version: to, md5: o.announceMd5 ?? pkg.md5, size: pkg.size, url: () => server.url("/app.pkg") + "?sign=" + ++sign },
      o,
      "the application update to end",
    );
    return {
      ...runOutcome(run, t0),
      kind: "app",
      from,
      to,
      running: runningApp(sim.device.log),
      imageBytes: pkg.size,
      powerCuts,
      storageCompactions: sim.device.storage.compactions,
      opsAfterPush: sim.flash.ops - opsAtPush,
      appStarts,
      // from the first boot with an application on (the last boot may still be starting)
      bootsWithoutApp: range(sim.device.boots).filter((b) => b >= (installed ? 1 : appStarts.length ? appStarts[0].boot : Infinity) && b < sim.device.boots && !cutInBoot.has(b) && !appStarts.some((a) => a.boot === b)),
    };
  } finally {
    for (const t of timers) clearInterval(t);
    await run.close();
  }
}
