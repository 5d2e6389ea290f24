// `npm run flash -- --board boards/<name>.json --port /dev/ttyUSB0 --device PRODUCT/NAME --secret-file key.txt`
//
// Builds the agent for a board and uploads it with the espruino CLI into Storage as its own
// boot file (.boot0) with the device's provisioning file (ota.cfg), then reboots the board so
// the agent and the user's application (.bootcde, never touched) both start as at power on.
// Code in Storage stays in flash. Fully offline: the CLI gets a local board description (no
// www.espruino.com/json download) and an empty MODULE_URL (no module lookups), and runs in an
// empty temporary directory (no ./modules).
//
// The upload script is always produced first without a port (the CLI's `-o`), replayed
// against a model of Storage to prove the board will hold exactly the agent's files and
// nothing else, and only then sent; `--dry-run FILE` stops after writing that script to FILE.
// Secrets come from files (not the command line, which shells keep) and are never printed.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import type { BoardConfig } from "../../core/board";
import { PROVISION_FILE, type Provision } from "../../core/provision";
import { BoardError, loadBoard, provisionProblem } from "../boards/load-board";
import { agentCodeFiles, agentStorageFiles, fmtPathOf, jobPathOf, readAgentCode, type AgentCode, type StorageFile } from "../build/install";
import { bundleLimit, espruinoBoardJson, missingModules, parseEspruinoVersion, storageArea, STORAGE_RESERVE_BYTES } from "./espruino-board";
import { replayUploadScript, UploadScriptError, type UploadReplay } from "./upload-script";

export type FlashProblem = "usage" | "no-port" | "port-not-found" | "too-big" | "modules" | "cli" | "upload";

export class FlashError extends Error {
  constructor(
    readonly problem: FlashProblem,
    message: string,
  ) {
    super(message);
  }
}

export interface FlashOptions {
  /** Path of the board file (boards/<name>.json). */
  board: string;
  /** Serial port (/dev/ttyUSB0, COM3) or tcp://host[:port]; required unless dryRun. */
  port?: string;
  baud?: number;
  /** Write the upload script to this file instead of sending it. */
  dryRun?: string;
  /** Upload this already built bundle instead of building one (e.g. dist/<board>.js; its job and formats bundles dist/<board>.job.js and dist/<board>.fmt.js beside it). */
  bundle?: string;
  /** The device's identity and secrets, written as PROVISION_FILE; absent: keep the board's (agent update only). */
  provision?: Provision;
  /** Override the size limit derived from the board's Storage area. */
  maxBytes?: number;
  /** Firmware version the board runs (the CLI only checks that it has Storage). */
  espruinoVersion?: string;
  /** Receives the CLI's output (and the board's) line by line while uploading. */
  onOutput?: (line: string) => void;
}

export interface FlashResult {
  board: BoardConfig;
  /** Storage files the upload writes, in order. */
  files: string[];
  bundleBytes: number;
  limit: number;
  limitSource: string;
  /** Exactly what the CLI sends (its -o output). */
  script: string;
  replay: UploadReplay;
  sent: boolean;
}

const cliPath = (): string => createRequire(import.meta.url).resolve("espruino/bin/espruino-cli.js");

/** Serial ports that exist here, for the "port not found" message. */
function serialPortsHere(): string[] {
  try {
    return readdirSync("/dev")
      .filter((n) => /^(ttyUSB|ttyACM|cu\.usb|cu\.SLAB|cu\.wchusb|tty\.usb)/.test(n))
      .map((n) => "/dev/" + n);
  } catch {
    return [];
  }
}

/** Ports that are not files: network (tcp://), Bluetooth addresses, Windows COM ports. */
function portIsAPath(port: string): boolean {
  return !/^tcp:\/\//i.test(port) && !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(port) && !/^COM\d+$/i.test(port);
}

function checkPort(o: FlashOptions): void {
  if (o.dryRun) return;
  if (!o.port) throw new FlashError("no-port", "no --port given: name the board's serial port (e.g. --port /dev/ttyUSB0), or use --dry-run FILE to only write the upload script");
  if (portIsAPath(o.port) && !existsSync(o.port)) {
    const here = serialPortsHere();
    throw new FlashError(
      "port-not-found",
      `serial port ${o.port} does not exist. Is the board plugged in (and its USB-serial driver loaded)? ` + (here.length ? `Serial ports here: ${here.join(", ")}` : "No USB serial port is present."),
    );
  }
}

interface CliRun {
  code: number | null;
  lines: string[];
}

function runCli(args: string[], cwd: string, onLine?: (line: string) => void): Promise<CliRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cliPath(), ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    const lines: string[] = [];
    const feed = (stream: NodeJS.ReadableStream) => {
      let rest = "";
      stream.setEncoding("latin1");
      stream.on("data", (chunk: string) => {
        rest += chunk;
        let nl: number;
        while ((nl = rest.indexOf("\n")) >= 0) {
          const line = rest.slice(0, nl).replace(/\r$/, "");
          rest = rest.slice(nl + 1);
          lines.push(line);
          onLine?.(line);
        }
      });
      stream.on("end", () => {
        if (rest) {
          lines.push(rest);
          onLine?.(rest);
        }
      });
    };
    feed(child.stdout!);
    feed(child.stderr!);
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, lines }));
  });
}

/** The CLI exits 0 even when it could not open the port; its output says what happened. */
function uploadFailure(lines: string[]): string | null {
  const bad = lines.find((l) => /Unable to connect!|^serial: |^Error: |No Ports Found/.test(l));
  if (bad) return bad.trim();
  const uncaught = lines.find((l) => /Uncaught /.test(l));
  if (uncaught) return "the board reported: " + uncaught.replace(/^--\] /, "").trim();
  return null;
}

async function loadBundle(o: FlashOptions, board: BoardConfig): Promise<AgentCode> {
  if (o.bundle) {
    try {
      return readAgentCode(o.bundle);
    } catch (e) {
      throw new FlashError("usage", `cannot read --bundle ${o.bundle}, its job bundle ${jobPathOf(o.bundle)} and its formats bundle ${fmtPathOf(o.bundle)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  // imported here: the build chain (Rollup, TypeScript, terser) is slow to load and only needed now
  const { buildBundle } = await import("../build/bundle");
  return buildBundle(board);
}

/** Checks that the script leaves exactly `files` in Storage, writes nothing else and reboots. */
function verifyScript(script: string, files: StorageFile[]): UploadReplay {
  let replay: UploadReplay;
  try {
    replay = replayUploadScript(script);
  } catch (e) {
    if (e instanceof UploadScriptError || e instanceof SyntaxError) throw new FlashError("cli", `the espruino CLI produced an upload script that does not replay: ${(e as Error).message}`);
    throw e;
  }
  for (const f of files) {
    const stored = replay.files.get(f.name);
    if (stored !== f.data) throw new FlashError("cli", `the upload script would store ${stored === undefined ? "nothing" : stored.length + " bytes that differ from what was built"} in ${f.name}`);
  }
  const names = [...replay.files.keys()].sort().join(", ");
  const wanted = files.map((f) => f.name).sort().join(", ");
  if (names !== wanted || replay.loads.length || replay.reboots !== 1) throw new FlashError("cli", `the upload script writes ${names}, loads ${replay.loads.join(", ") || "nothing"} and reboots ${replay.reboots} times`);
  return replay;
}

export async function flash(o: FlashOptions): Promise<FlashResult> {
  const board = loadBoard(o.board); // BoardError names the file and the field
  checkPort(o);
  try {
    parseEspruinoVersion(o.espruinoVersion ?? "2v29");
  } catch (e) {
    throw new FlashError("usage", (e as Error).message);
  }
  if (o.provision) {
    const bad = provisionProblem(o.provision, board);
    if (bad) throw new FlashError("usage", bad);
  }
  const code = await loadBundle(o, board);
  const bundleBytes = code.boot.length + code.job.length + code.fmt.length;
  const limit = o.maxBytes ?? bundleLimit(board);
  const limitSource = o.maxBytes !== undefined ? "--max-bytes" : `${storageArea(board).source} less ${STORAGE_RESERVE_BYTES / 1024} KB kept free`;
  if (bundleBytes > limit) {
    throw new FlashError("too-big", `the agent is ${bundleBytes} bytes, more than the ${limit} bytes allowed on ${board.name} (${limitSource})`);
  }
  const missing = missingModules(code.boot + "\n" + code.job + "\n" + code.fmt);
  if (missing.length) throw new FlashError("modules", `the bundle requires ${missing.map((m) => `"${m}"`).join(", ")}, not built into Espruino's ESP32 firmware (the CLI would try to download it)`);

  // Without a provisioning object only the agent is replaced: the board keeps its ota.cfg.
  const files = o.provision ? agentStorageFiles(code, o.provision) : agentCodeFiles(code);
  const dir = mkdtempSync(join(tmpdir(), "ota-flash-"));
  try {
    writeFileSync(join(dir, "board.json"), JSON.stringify(espruinoBoardJson(board, o.espruinoVersion), null, 2));
    const storage: string[] = [];
    files.forEach((f, i) => {
      writeFileSync(join(dir, "file" + i), f.data, "latin1");
      storage.push("--storage", f.name + ":file" + i);
    });
    // The code the CLI sends after the files: a hard reset, so every boot file runs as at power on.
    writeFileSync(join(dir, "reboot.js"), "E.reboot();\n");
    const common = ["--no-ble", "--board", "board.json", "--config", "MODULE_URL=", "--config", "BOARD_JSON_URL=", ...storage];
    const made = await runCli([...common, "-o", "upload.js", "reboot.js"], dir);
    if (!existsSync(join(dir, "upload.js"))) throw new FlashError("cli", `the espruino CLI wrote no upload script (exit ${made.code}):\n` + made.lines.join("\n"));
    const script = readFileSync(join(dir, "upload.js"), "latin1");
    const replay = verifyScript(script, files);
    const result: FlashResult = { board, files: files.map((f) => f.name), bundleBytes: bundleBytes, limit, limitSource, script, replay, sent: false };
    if (o.dryRun) {
      writeFileSync(o.dryRun, script, "latin1");
      return result;
    }
    const sent = await runCli([...common, "-p", o.port!, "-b", String(o.baud ?? 115200), "reboot.js"], dir, o.onOutput);
    const failure = uploadFailure(sent.lines);
    if (failure || sent.code !== 0) throw new FlashError("upload", `upload to ${o.port} failed: ${failure ?? "espruino CLI exit code " + sent.code}`);
    result.sent = true;
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function summary(r: FlashResult, o: FlashOptions): string {
  const writes = r.replay.commands.length;
  const p = o.provision;
  return [
    `board     ${r.board.name} (${o.board})`,
    p ? `device    ${p.productId}/${p.deviceName} (secrets written to ${PROVISION_FILE}, not shown)` : `device    unchanged (--keep-provision: the board keeps its ${PROVISION_FILE})`,
    `bundle    ${r.bundleBytes} bytes (limit ${r.limit}: ${r.limitSource})`,
    `upload    ${writes} Storage.write command${writes === 1 ? "" : "s"} into ${r.files.join(", ")}, then E.reboot() (.bootcde, the application, untouched)`,
    r.sent ? `sent      to ${o.port} at ${o.baud ?? 115200} baud` : `dry run   ${r.script.length} bytes written to ${o.dryRun} (nothing sent)`,
  ].join("\n");
}

const USAGE = `usage: npm run flash -- --board boards/<name>.json --port /dev/ttyUSB0 --device PRODUCT/NAME --secret-file FILE [options]
  --board FILE      board file (validated against boards/board.schema.json)
  --device P/N      the device's productId and deviceName (written to ${PROVISION_FILE})
  --secret-file F   file holding the device's base64 secret (boards with mqtt.auth "tencent")
  --username U      with --password-file F: credentials for boards with mqtt.auth "plain"
  --wifi SSID       Wi-Fi the agent joins at boot, with --wifi-password-file F (omit if the application does it)
  --sign-key-file F file holding the product's base64 update-signing key
  --keep-provision  replace only the agent; the board keeps its ${PROVISION_FILE}
  --port PORT       serial port (/dev/ttyUSB0, COM3) or tcp://host[:port] (ESP32 telnet)
  --baud N          serial speed (default 115200, the ESP32 console speed)
  --dry-run FILE    write exactly what would be sent to FILE; needs no port
  --bundle FILE     upload this built bundle (its .job.js and .fmt.js beside it) instead of building one
  --max-bytes N     size limit instead of the board's Storage area less 64 KB
  --espruino V      firmware version on the board (default 2v29)`;

/** A secret from a file: one line, surrounding white space dropped; the error never shows the content. */
function secretFrom(flag: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8").trim();
  } catch (e) {
    throw new FlashError("usage", `--${flag} ${path}: ${(e as NodeJS.ErrnoException).code ?? "cannot read"}`);
  }
  if (!text || /[\r\n]/.test(text)) throw new FlashError("usage", `--${flag} ${path}: must hold the secret alone on one line`);
  return text;
}

/** The provisioning object from the command line, or undefined with --keep-provision. */
function provisionFromFlags(v: Record<string, string | boolean | undefined>): Provision | undefined {
  const given = ["device", "secret-file", "username", "password-file", "wifi", "wifi-password-file", "sign-key-file"].filter((k) => v[k] !== undefined);
  if (v["keep-provision"]) {
    if (given.length) throw new FlashError("usage", `--keep-provision keeps the board's ${PROVISION_FILE}: drop --${given.join(", --")}`);
    return undefined;
  }
  const device = v.device as string | undefined;
  if (!device) throw new FlashError("usage", `--device PRODUCT/NAME is required (or --keep-provision to replace only the agent)`);
  const m = /^([A-Za-z0-9_-]{1,64})\/([A-Za-z0-9_.:@-]{1,128})$/.exec(device);
  if (!m) throw new FlashError("usage", `--device "${device}" is not of the form productId/deviceName`);
  const p: Provision = { productId: m[1], deviceName: m[2] };
  const secret = secretFrom("secret-file", v["secret-file"] as string | undefined);
  if (secret !== undefined) {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(secret)) throw new FlashError("usage", `--secret-file: not a base64 device secret`);
    p.deviceSecret = secret;
  }
  if (v.username !== undefined) {
    p.username = v.username as string;
    p.password = secretFrom("password-file", v["password-file"] as string | undefined) ?? "";
  }
  if (v.wifi !== undefined) p.wifi = { ssid: v.wifi as string, password: secretFrom("wifi-password-file", v["wifi-password-file"] as string | undefined) ?? "" };
  const key = secretFrom("sign-key-file", v["sign-key-file"] as string | undefined);
  if (key !== undefined) {
    if (!/^[A-Za-z0-9+/]{43}=$/.test(key)) throw new FlashError("usage", `--sign-key-file: not a key from npm run keygen (base64 of 32 bytes)`);
    p.signKey = key;
  }
  return p;
}

async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        board: { type: "string" },
        port: { type: "string", short: "p" },
        baud: { type: "string", short: "b" },
        "dry-run": { type: "string" },
        device: { type: "string" },
        "secret-file": { type: "string" },
        username: { type: "string" },
        "password-file": { type: "string" },
        wifi: { type: "string" },
        "wifi-password-file": { type: "string" },
        "sign-key-file": { type: "string" },
        "keep-provision": { type: "boolean" },
        bundle: { type: "string" },
        "max-bytes": { type: "string" },
        espruino: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`flash: ${(e as Error).message} (see --help)\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  if (!values.board) {
    process.stderr.write(`flash: --board is required\n${USAGE}\n`);
    return 2;
  }
  const num = (name: string): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new FlashError("usage", `--${name} must be a positive integer, got "${v}"`);
    return n;
  };
  const o: FlashOptions = {
    board: values.board as string,
    port: values.port as string | undefined,
    dryRun: values["dry-run"] ? resolve(values["dry-run"] as string) : undefined,
    bundle: values.bundle as string | undefined,
    espruinoVersion: values.espruino as string | undefined,
    onOutput: (line) => process.stderr.write(line + "\n"),
  };
  try {
    o.provision = provisionFromFlags(values);
    o.baud = num("baud");
    o.maxBytes = num("max-bytes");
    if (o.dryRun && o.port) process.stderr.write(`flash: --dry-run given: nothing is sent to ${o.port}\n`);
    const r = await flash(o);
    if (o.dryRun) o.dryRun = values["dry-run"] as string;
    process.stdout.write(summary(r, o) + "\n");
    return 0;
  } catch (e) {
    if (e instanceof BoardError) {
      process.stderr.write(`flash: ${e.message}\n`);
      return 2;
    }
    if (e instanceof FlashError) {
      process.stderr.write(`flash: ${e.message}\n`);
      return e.problem === "upload" || e.problem === "cli" ? 1 : 2;
    }
    process.stderr.write(`flash: ${(e as Error).stack ?? e}\n`);
    return 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.exitCode = await main(process.argv.slice(2));
}
