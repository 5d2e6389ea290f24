// `npm run sim`: the simulated board doing a full OTA on a weak link — the firmware
// server drops the connection once and the power is cut half way — then rebooting into
// the new image and reporting done. `-- --json` prints one JSON summary line instead.
// `-- --kind app` updates the user's application instead (docs/app-ota.md): the same weak link,
// a package from application 1.0.0 to 1.1.0 in Storage, its trial, done.
// The update is signed with the board's key (docs/security.md); `-- --attack swap-image`
// (or swap-image-unsigned, downgrade) runs an attack instead, which must end in fail with the
// board on its old version.
//
// `npm run sim -- --devices 50 --network weak` runs a fleet instead (src/host/sim/fleet.ts):
// N simulated boards update at once through one broker and the local OTA cloud, each over a
// link with the chosen network profile (good, weak, lossy); it ends with the per-device
// table and the fleet summary, and exits non-zero unless every board completed.
import { parseArgs } from "node:util";
import { runOta, SLOT_IMAGE, type OtaRunResult } from "./ota-run";
import { runAppOta } from "./app-run";
import type { FirmwareServer } from "./firmware-server";
import type { DeviceRecord } from "../cloud/tencent-ota-cloud";
import type { BrokerKind } from "./broker";
import { runFleet } from "./fleet";
import { fleetProgressLine, fleetReport } from "./fleet-summary";
import { NETWORK_PROFILES } from "./fleet-profiles";
import { ATTACKS, ATTACK_HELP, attackRun, type Attack } from "./attacks";

const USAGE = `usage: npm run sim -- [options]
  (no option)          one simulated board updates 1.0.0 -> 1.1.0 over a weak link: one dropped
                       connection and one power cut half way, then the trial boot and done
  --kind firmware|app  what to update: the firmware image (default) or the user's application,
                       a package in Storage (docs/app-ota.md)
  --json               one JSON summary line instead of the story
  --broker aedes|mosquitto   which broker (default aedes)
  --size N             image bytes (default 1.5 MiB less the signature trailer; an application:
                       its text, default 24000)
  --attack NAME        a man in the middle instead: ${ATTACKS.join(", ")} (must end in fail)
  --devices N          a fleet of N boards instead (with --network good|weak|lossy, --seed N, --timeout S)
  --verbose            echo the device console
  --help               this text`;

let parsed;
try {
  parsed = parseArgs({
    options: {
      help: { type: "boolean", short: "h", default: false },
      json: { type: "boolean", default: false },
      kind: { type: "string", default: "firmware" },
    broker: { type: "string", default: "aedes" },
    size: { type: "string" },
    verbose: { type: "boolean", default: false },
    devices: { type: "string" },
    network: { type: "string" },
    seed: { type: "string" },
    timeout: { type: "string" },
    attack: { type: "string" },
    },
  });
} catch (e) {
  process.stderr.write(`sim: ${(e as Error).message.split("\n")[0]} (see --help)\n`);
  process.exit(2);
}
const args = parsed.values;
if (args.help) {
  process.stdout.write(USAGE + "\n");
  process.exit(0);
}
if (args.attack !== undefined && !(ATTACKS as readonly string[]).includes(args.attack)) {
  process.stderr.write(`sim: --attack must be one of ${ATTACKS.join(", ")}, got "${args.attack}"\n` + ATTACKS.map((a) => `  ${a}: ${ATTACK_HELP[a]}\n`).join(""));
  process.exit(2);
}

if (args.kind !== "firmware" && args.kind !== "app") {
  process.stderr.write(`sim: --kind must be firmware or app, got "${args.kind}"\n`);
  process.exit(2);
}
if (args.kind === "app" && (args.attack !== undefined || args.devices !== undefined || args.network !== undefined)) {
  process.stderr.write(`sim: --kind app runs one board; --attack, --devices and --network are for firmware\n`);
  process.exit(2);
}

const tty = process.stderr.isTTY && !args.json;

function fail(message: string): never {
  process.stderr.write(`sim: ${message}\n`);
  process.exit(2);
}

function integer(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got "${v}"`);
  return n;
}

async function fleetMain(): Promise<void> {
  const devices = integer("devices", args.devices, 10);
  const network = args.network ?? "good";
  if (!NETWORK_PROFILES[network]) fail(`--network must be one of ${Object.keys(NETWORK_PROFILES).join(", ")}, got "${network}"`);
  const t0 = Date.now();
  let last = 0;
  const result = await runFleet({
    devices,
    network,
    imageSize: integer("size", args.size, 256 * 1024),
    broker: args.broker as BrokerKind,
    seed: integer("seed", args.seed, 1),
    timeoutMs: integer("timeout", args.timeout, 600) * 1000,
    echo: args.verbose,
    everyMs: tty ? 250 : 1000,
    onStatus: (statuses) => {
      if (args.json) return;
      const line = fleetProgressLine(statuses, Date.now() - t0);
      if (tty) process.stderr.write("\r\x1b[2K" + line);
      else if (Date.now() - last >= 5000) {
        last = Date.now();
        process.stderr.write(line + "\n");
      }
    },
  });
  if (args.json) {
    const { statuses, ...rest } = result;
    console.log(JSON.stringify({ ...rest, failedDevices: statuses.filter((s) => s.state !== "done").map((s) => ({ key: s.key, state: s.state, code: s.resultCode, msg: s.resultMsg })) }));
  } else {
    if (tty) process.stderr.write("\n");
    console.log("\n" + fleetReport(result));
  }
  process.exitCode = result.completed === result.devices ? 0 : 1;
}
let lastLine = "";

function bar(percent: number): string {
  const width = 30;
  const full = Math.round((percent / 100) * width);
  return "[" + "#".repeat(full) + ".".repeat(width - full) + "] " + String(percent).padStart(3) + "%";
}

function show(d: DeviceRecord): void {
  if (args.json) return;
  const last = d.reports[d.reports.length - 1] ?? {};
  const state = last.type === "report_version" ? "version " + (last.report?.fw_type ? last.report.fw_type + " " : "") + last.report?.version : last.report?.progress?.state ?? d.task;
  const line = `${d.key}  ${bar(d.percent)}  ${state}`;
  if (line === lastLine) return;
  lastLine = line;
  if (tty) process.stderr.write("\r" + line.padEnd(78));
  else process.stderr.write(line + "\n");
}

function summary(r: OtaRunResult, kind: string): string {
  return [
    "",
    `result           ${r.result}${r.result === "done" ? "" : ` (code ${r.resultCode}: ${r.resultMsg})`}`,
    `${kind === "app" ? "application" : "version    "}      ${r.from} -> ${r.to} (running ${r.running})`,
    `${kind === "app" ? "package" : "image  "}          ${r.imageBytes} bytes`,
    `fetched          ${r.bytesFetched} bytes in ${r.requests} requests (${(r.bytesFetched / r.imageBytes).toFixed(4)} x image)`,
    `reboots          ${r.reboots} (power cuts ${r.powerCuts})`,
    `journal erases   ${r.journalErases}`,
    `time             ${r.durationMs} ms`,
  ].join("\n");
}

async function singleMain(): Promise<void> {
  const app = args.kind === "app";
  const size = integer("size", args.size, app ? 24000 : SLOT_IMAGE);
  // one dropped connection a third of the way in, one power cut half way
  const weak = {
    broker: args.broker as BrokerKind,
    faults: (server: FirmwareServer) => server.faults.push({ kind: "reset-after", atOffset: Math.floor(size / 3) }),
    powerCutsAtBytes: [Math.floor(size / 2)],
    onReport: show,
    echo: args.verbose,
  };
  const result: OtaRunResult & { kind?: string } = app
    ? await runAppOta({ ...weak, appBytes: size })
    : { kind: "firmware", ...(await runOta({ ...weak, imageSize: size, ...(args.attack ? attackRun(args.attack as Attack, { imageSize: size }) : {}) })) };

  if (args.json) {
    const { reports, ...rest } = result;
    console.log(JSON.stringify({ ...rest, reports: reports.length }));
  } else {
    if (tty) process.stderr.write("\n");
    console.log(summary(result, args.kind));
  }
  process.exitCode = result.result === "done" ? 0 : 1;
}

if (args.devices !== undefined || args.network !== undefined) await fleetMain();
else await singleMain();
