// `ota-cloud`: a local OTA cloud for your own MQTT broker (mosquitto or any other).
//
//   ota-cloud serve --broker mqtt://host:1883 --firmware fw.bin --sign-key product.key --device productId/deviceName [--device ...]
//   ota-cloud serve --broker mqtt://host:1883 --app app.pkg [--fw-type app] --sign-key product.key --device productId/deviceName
//   ota-cloud status
//   ota-cloud info fw.bin|app.pkg
//
// `serve` serves the image over HTTP with Range, announces it to every device exactly as
// Tencent IoT Hub does (update_firmware with url, md5sum, file_size, version; again whenever
// a device reports another version), follows every device live and ends with a table; the
// exit code is 0 only when every device reported done. `status` prints the last known state;
// `info` what `serve` would announce for an image (version, size, md5) and whether it is signed.
// With --app (or --kind app) it rolls out an application package (`npm run app-package`)
// instead: announced with fw_type, done when a device reports that version for that fw_type.
// Boards install only signed files (docs/security.md): serve signs with --sign-key, serves a
// file that `npm run sign` signed as it is, and refuses an unsigned one unless --unsigned.
import { openSync, readSync, closeSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { looksLikeAppPackage } from "../app/package";
import { checkFwType, FirmwareError, readAppPackageFile, readFirmware } from "../cloud/firmware-info";
import { readKeyFile, SignError } from "../sign/trailer";
import { LiveView, resultTable, formatBytes } from "../cloud/display";
import { OtaService, ServiceError, type DeviceStatus } from "../cloud/service";
import { DEFAULT_STATE_FILE, readState, writeState, type RunInfo } from "./state-file";

const USAGE = `usage:
  ota-cloud serve --broker mqtt://host:1883 --firmware fw.bin --sign-key FILE --device productId/deviceName [--device ...] [options]
  ota-cloud serve --broker mqtt://host:1883 --app app.pkg [--fw-type NAME] --sign-key FILE --device productId/deviceName [options]
  ota-cloud status [--state FILE] [--json]
  ota-cloud info FILE        what serve would announce for an image or application package: version, size, md5, signature

serve options:
  --broker URL        the broker the boards use (mqtt:// or mqtts://)
  --username U, --password P    broker credentials, if it wants them
  --firmware FILE     the ESP32 app image (.bin) to roll out, or one signed by \`npm run sign\`
  --app FILE          instead: the application package to roll out (\`npm run app-package\`, signed or
                      not); the same as --kind app --firmware FILE
  --kind K            firmware (default) or app: what --firmware FILE is
  --fw-type NAME      with --app: the module name the application is announced with and that
                      devices report its version under (default app)
  --sign-key FILE     the product's signing key (\`npm run keygen\`): an unsigned file is signed
                      with it (kind firmware or app) before it is served; a signed one must carry its tag
  --unsigned          serve an unsigned file as it is (lab boards with sign.required false only)
  --version V         optional: must equal the version in the image's app descriptor (the package's header)
  --device P/D        productId/deviceName as in the board file (repeat, or comma-separate)
  --host-ip ADDR      address the boards reach this machine at (default: this machine's first LAN IPv4)
  --port N            HTTP port for the image (default 8070; 0 = any free port)
  --listen ADDR       address to listen on (default 0.0.0.0)
  --timeout SEC       give up on unfinished devices after this long (default 1800)
  --max-pushes N      update_firmware pushes allowed per device (default 50)
  --state FILE        where the last known state is kept (default ${DEFAULT_STATE_FILE})
  --insecure          accept a self-signed certificate from an mqtts:// broker`;

/** The first non-internal IPv4 address: what a board on the same LAN can reach. */
export function defaultHostIp(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return "127.0.0.1";
}

class UsageError extends Error {}

function positive(name: string, v: string | undefined, dflt: number, allowZero = false): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new UsageError(`--${name} must be a ${allowZero ? "non-negative" : "positive"} integer, got "${v}"`);
  return n;
}

async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      broker: { type: "string" },
      username: { type: "string" },
      password: { type: "string" },
      firmware: { type: "string" },
      app: { type: "string" },
      kind: { type: "string" },
      "fw-type": { type: "string" },
      version: { type: "string" },
      device: { type: "string", multiple: true },
      "host-ip": { type: "string" },
      port: { type: "string" },
      listen: { type: "string" },
      timeout: { type: "string" },
      "max-pushes": { type: "string" },
      state: { type: "string" },
      insecure: { type: "boolean", default: false },
      "sign-key": { type: "string" },
      unsigned: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return help();
  if (values["sign-key"] !== undefined && values.unsigned) throw new UsageError("--sign-key and --unsigned contradict each other: choose one");
  const signKey = values["sign-key"] !== undefined ? readKeyFile(values["sign-key"]) : undefined;
  if (!values.broker) throw new UsageError("--broker is required (e.g. --broker mqtt://192.168.1.10:1883)");
  if (!/^mqtts?:\/\//.test(values.broker)) throw new UsageError(`--broker must be an mqtt:// or mqtts:// URL, got "${values.broker}"`);
  if (values.firmware !== undefined && values.app !== undefined) throw new UsageError("give --firmware FILE or --app FILE, not both: one rollout at a time");
  if (values.kind !== undefined && values.kind !== "firmware" && values.kind !== "app") throw new UsageError(`--kind must be firmware or app, got "${values.kind}"`);
  if (values.app !== undefined && values.kind === "firmware") throw new UsageError("--app FILE rolls out an application: it contradicts --kind firmware");
  const kind = values.app !== undefined ? "app" : ((values.kind ?? "firmware") as "firmware" | "app");
  const file = values.app ?? values.firmware;
  if (!file) throw new UsageError(kind === "app" ? "--app FILE is required (the application package to roll out)" : "--firmware is required (the .bin to roll out; --app FILE for an application package)");
  if (values["fw-type"] !== undefined) {
    if (kind !== "app") throw new UsageError("--fw-type names the application module: it goes with --app (firmware is announced without fw_type)");
    checkFwType(values["fw-type"]);
  }
  const devices = (values.device ?? []).flatMap((d) => d.split(",")).map((d) => d.trim()).filter(Boolean);
  if (devices.length === 0) throw new UsageError("--device is required: productId/deviceName of each board (as in its board file)");
  const timeoutMs = positive("timeout", values.timeout, 1800) * 1000;
  const port = positive("port", values.port, 8070, true);
  const stateFile = resolve(values.state ?? DEFAULT_STATE_FILE);
  const publicHost = values["host-ip"] ?? defaultHostIp();

  const service = await OtaService.start({
    brokerUrl: values.broker,
    firmware: file,
    kind,
    ...(values["fw-type"] !== undefined ? { fwType: values["fw-type"] } : {}),
    version: values.version,
    sign: { key: signKey, allowUnsigned: values.unsigned },
    devices,
    publicHost,
    listen: values.listen,
    port,
    maxPushes: positive("max-pushes", values["max-pushes"], 50),
    mqtt: {
      clientId: "ota-cloud-" + process.pid + "-" + Math.floor(Math.random() * 1e6),
      rejectUnauthorized: !values.insecure,
      ...(values.username !== undefined ? { username: values.username } : {}),
      ...(values.password !== undefined ? { password: values.password } : {}),
    },
  });
  const fw = service.firmware;
  const run: RunInfo = {
    broker: values.broker,
    firmware: { file: resolve(fw.file), version: fw.version, md5: fw.md5, size: fw.size },
    startedAt: Date.now(),
    endedAt: null,
    pid: process.pid,
  };
  const err = process.stderr;
  err.write(
    [
      fw.type === "app"
        ? `app       ${fw.name} (fw_type ${fw.fwType}, confirm ${fw.confirm}): version ${fw.version}, ${fw.size} bytes (${formatBytes(fw.size)}), md5 ${fw.md5}, ${signedText(fw.signed)}`
        : `firmware  ${fw.name}: version ${fw.version}, ${fw.size} bytes (${formatBytes(fw.size)}), md5 ${fw.md5}, ${signedText(fw.signed)}`,
      `serving   ${service.host.url(devices[0], 0).replace(/\?push=0$/, "")} (one path per device; boards must reach ${publicHost}:${service.host.port}, see --host-ip)`,
      `broker    ${values.broker}: update_firmware pushed to ${devices.length} device${devices.length === 1 ? "" : "s"}; offline ones get it when they connect`,
      "",
    ].join("\n"),
  );

  const view = new LiveView(err, Boolean(err.isTTY));
  let dirty = true;
  const save = () => {
    if (!dirty) return;
    dirty = false;
    try {
      writeState(stateFile, run, service.statuses());
    } catch (e) {
      err.write(`ota-cloud: cannot write ${stateFile}: ${(e as Error).message}\n`);
    }
  };
  const off = service.onChange(() => {
    dirty = true;
    if (!err.isTTY) view.update(service.statuses());
  });
  const tick = setInterval(() => {
    view.update(service.statuses());
    save();
  }, err.isTTY ? 250 : 1000);
  let interrupted = false;
  // Ctrl-C (or SIGTERM) ends the run early: unfinished devices count as timed out, the table is printed
  const stop = new Promise<void>((r) => {
    const onSignal = () => {
      interrupted = true;
      r();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  view.update(service.statuses());
  save();

  let final: DeviceStatus[];
  try {
    final = await service.wait(timeoutMs, stop);
  } finally {
    clearInterval(tick);
    off();
    await service.close();
  }
  view.update(final);
  run.endedAt = Date.now();
  dirty = true;
  save();
  process.stdout.write("\n" + resultTable(final, fw.size) + "\n");
  if (interrupted) return 130;
  return final.every((s) => s.state === "done") ? 0 : 1;
}

function help(): number {
  process.stdout.write(USAGE + "\n");
  return 0;
}

function signedText(s: false | "file" | "here"): string {
  return s === "file" ? "signed" : s === "here" ? "signed with --sign-key" : "UNSIGNED (only boards with sign.required false install it)";
}

function status(argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: { state: { type: "string" }, json: { type: "boolean", default: false }, help: { type: "boolean", short: "h" } } });
  if (values.help) return help();
  const file = resolve(values.state ?? DEFAULT_STATE_FILE);
  const state = readState(file);
  if (!state) {
    process.stderr.write(`ota-cloud: no state in ${file}: run \`ota-cloud serve\` first (in this directory, or pass --state)\n`);
    return 1;
  }
  if (values.json) {
    process.stdout.write(JSON.stringify(state, null, 2) + "\n");
    return 0;
  }
  const r = state.run;
  let running = false;
  if (r.endedAt === null) {
    try {
      process.kill(r.pid, 0);
      running = true;
    } catch {
      running = false;
    }
  }
  const when = (t: number) => new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  const how = r.endedAt !== null ? `ended ${when(r.endedAt)}` : running ? `still running (pid ${r.pid})` : `stopped without finishing (pid ${r.pid})`;
  process.stdout.write(`last run  ${when(r.startedAt)}, ${how}: version ${r.firmware.version} (${r.firmware.size} bytes) via ${r.broker}\n`);
  process.stdout.write(`updated   ${when(state.updatedAt)}\n\n`);
  const devices = Object.values(state.devices);
  process.stdout.write(resultTable(devices, (s) => (s as (typeof devices)[number]).run?.size ?? 0, state.updatedAt) + "\n");
  return 0;
}

/** Whether a file starts with an application package's header (unreadable files: false, readFirmware says why). */
function startsLikeAppPackage(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const head = Buffer.alloc(16);
    return looksLikeAppPackage(head.subarray(0, readSync(fd, head, 0, head.length, 0)));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function info(argv: string[]): number {
  const { values, positionals } = parseArgs({ args: argv, options: { help: { type: "boolean", short: "h" } }, allowPositionals: true });
  if (values.help) return help();
  if (positionals.length !== 1) throw new UsageError("info takes one firmware file or application package");
  const file = positionals[0];
  const fw = startsLikeAppPackage(file) ? readAppPackageFile(file) : readFirmware(file);
  const signed = fw.signed ? `yes, for version ${fw.version}, kind ${fw.kind} (the tag can only be checked with the key)` : "no (boards that require signed updates refuse it)";
  const what =
    fw.type === "app"
      ? `type     application package (serve it with --app; announced as fw_type app unless --fw-type)\nconfirm  ${fw.confirm}\n`
      : `project  ${fw.projectName}\n`;
  process.stdout.write(`file     ${fw.file}\nversion  ${fw.version}\n${what}size     ${fw.size}\nmd5      ${fw.md5}\nsigned   ${signed}\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === "serve") return await serve(rest);
    if (command === "status") return status(rest);
    if (command === "info") return info(rest);
    if (command === "help" || command === "--help" || command === "-h" || command === undefined) {
      (command === undefined ? process.stderr : process.stdout).write(USAGE + "\n");
      return command === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown command "${command}"`);
  } catch (e) {
    if ((e as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const m = /'([^']+)'/.exec((e as Error).message);
      process.stderr.write(`ota-cloud: unknown option ${m ? m[1] : ""} (see ota-cloud --help)\n`);
      return 2;
    }
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`ota-cloud: ${(e as Error).message.split("\n")[0]} (see ota-cloud --help)\n`);
      return 2;
    }
    if (e instanceof ServiceError || e instanceof FirmwareError || e instanceof SignError) {
      process.stderr.write(`ota-cloud: ${e.message}\n`);
      return 2;
    }
    if ((e as { code?: string }).code === "EADDRINUSE") {
      process.stderr.write(`ota-cloud: the HTTP port is taken (${(e as Error).message}); pick another with --port\n`);
      return 2;
    }
    throw e;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.exitCode = await main(process.argv.slice(2));
}
