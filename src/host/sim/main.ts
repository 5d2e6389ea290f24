// `npm run sim`: the simulated board doing a full OTA on a weak link — the firmware
// server drops the connection once and the power is cut half way — then rebooting into
// the new image and reporting done. `-- --json` prints one JSON summary line instead.
import { parseArgs } from "node:util";
import { runOta, type OtaRunResult } from "./ota-run";
import type { DeviceRecord } from "./cloud";
import type { BrokerKind } from "./broker";

const { values: args } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    broker: { type: "string", default: "aedes" },
    size: { type: "string", default: String(1536 * 1024) },
    verbose: { type: "boolean", default: false },
  },
});

const size = Number(args.size);
const tty = process.stderr.isTTY && !args.json;
let lastLine = "";

function bar(percent: number): string {
  const width = 30;
  const full = Math.round((percent / 100) * width);
  return "[" + "#".repeat(full) + ".".repeat(width - full) + "] " + String(percent).padStart(3) + "%";
}

function show(d: DeviceRecord): void {
  if (args.json) return;
  const last = d.reports[d.reports.length - 1] ?? {};
  const state = last.type === "report_version" ? "version " + last.report?.version : last.report?.progress?.state ?? d.task;
  const line = `${d.key}  ${bar(d.percent)}  ${state}`;
  if (line === lastLine) return;
  lastLine = line;
  if (tty) process.stderr.write("\r" + line.padEnd(78));
  else process.stderr.write(line + "\n");
}

function summary(r: OtaRunResult): string {
  return [
    "",
    `result           ${r.result}${r.result === "done" ? "" : ` (code ${r.resultCode}: ${r.resultMsg})`}`,
    `version          ${r.from} -> ${r.to} (running ${r.running})`,
    `image            ${r.imageBytes} bytes`,
    `fetched          ${r.bytesFetched} bytes in ${r.requests} requests (${(r.bytesFetched / r.imageBytes).toFixed(4)} x image)`,
    `reboots          ${r.reboots} (power cuts ${r.powerCuts})`,
    `journal erases   ${r.journalErases}`,
    `time             ${r.durationMs} ms`,
  ].join("\n");
}

const result = await runOta({
  broker: args.broker as BrokerKind,
  imageSize: size,
  // one dropped connection a third of the way in, one power cut half way
  faults: (server) => server.faults.push({ kind: "reset-after", atOffset: Math.floor(size / 3) }),
  powerCutsAtBytes: [Math.floor(size / 2)],
  onReport: show,
  echo: args.verbose,
});

if (args.json) {
  const { reports, ...rest } = result;
  console.log(JSON.stringify({ ...rest, reports: reports.length }));
} else {
  if (tty) process.stderr.write("\n");
  console.log(summary(result));
}
process.exitCode = result.result === "done" ? 0 : 1;
