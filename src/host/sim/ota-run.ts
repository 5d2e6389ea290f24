// One complete simulated OTA: a broker, the simulated Tencent cloud, the firmware server
// with its fault plan and one simulated board running the real bundle. Used by
// `npm run sim`, the end-to-end tests and the benchmarks.
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import type { BoardConfig } from "../../core/board";
import { loadBoard, simProvision, BOARDS_DIR } from "../boards/load-board";
import { jobPathOf, readAgentCode, type AgentCode } from "../build/install";
import { buildAppImage } from "../image/app-image-builder";
import { startBroker, type BrokerKind, type Broker } from "./broker";
import { TencentOtaCloud, type DeviceRecord, type FirmwareOffer } from "../cloud/tencent-ota-cloud";
import { startFirmwareServer, type FirmwareServer } from "./firmware-server";
import { SimDevice, type BrokenImage } from "./sim-device";
import { FlashWatch } from "./flash-watch";
import { makeTestCert } from "./test-cert";
import { signImage, SIGN_TRAILER, type SignKind } from "../sign/trailer";
import type { RomFunctionFactory } from "../runtime/rom-types";

/** Default image size: its signed file fills the sim board's 1.5 MiB slot exactly. */
export const SLOT_IMAGE = (1536 * 1024 - SIGN_TRAILER) & ~15;

export interface OtaRunOptions {
  board?: string | BoardConfig;
  /** The agent's code; default dist/<board>.js and dist/<board>.job.js (built by `npm run build`). */
  bundle?: AgentCode;
  broker?: BrokerKind;
  fromVersion?: string;
  toVersion?: string;
  imageSize?: number;
  /** Serve these bytes as the new firmware instead of a generated image (md5 and size follow them; signed unless `sign` is false). */
  image?: Uint8Array;
  /**
   * How the served file is signed (docs/security.md). Default: with the board's provision.signKey for
   * toVersion, as firmware (nothing when the board has no key). false: served as it is.
   */
  sign?: false | { key?: Uint8Array; version?: string; kind?: SignKind };
  /** Seeds the image bytes and the flash emulator's half-done operations. */
  seed?: number;
  /** Faults to arm on the firmware server before the update is pushed. */
  faults?: (server: FirmwareServer) => void;
  /** Cut the power when this many bytes of the new image are in the target slot (one cut per entry). */
  powerCutsAtBytes?: number[];
  /** Cut the power during the n-th flash operation after the image is complete (the slot switch). */
  powerCutDuringSwitchOp?: number;
  /** How long the board stays off after a power cut. */
  offMs?: number;
  broken?: BrokenImage[];
  /** More Storage files on the board, e.g. the user's application as `.bootcde`. */
  files?: Record<string, string>;
  /** Serve the firmware over HTTPS (a throw-away self-signed certificate; Espruino verifies none). */
  https?: boolean;
  /** Corrupts what the cloud announces (an MD5 mismatch). */
  announceMd5?: string;
  timeoutMs?: number;
  /** Resolve when this holds for the device's cloud record (default: task done or failed). */
  until?: (d: DeviceRecord, run: OtaRun) => boolean;
  /** Called after every report the cloud receives (progress display). */
  onReport?: (d: DeviceRecord) => void;
  /** Look at the finished run (flash, logs) before everything is shut down. */
  inspect?: (run: OtaRun) => void;
  echo?: boolean;
  /** The board's mask ROM behind E.nativeCall; default the runtime's model. */
  romFunction?: RomFunctionFactory;
}

export interface OtaRunResult {
  result: "done" | "fail";
  resultCode?: string;
  resultMsg?: string;
  from: string;
  to: string;
  /** Version in the slot that booted last. */
  running: string | null;
  imageBytes: number;
  /** Firmware body bytes the server handed to the network. */
  bytesFetched: number;
  requests: number;
  reboots: number;
  powerCuts: number;
  journalErases: number;
  flashErases: number;
  reports: Record<string, any>[];
  durationMs: number;
}

export interface OtaRun {
  board: BoardConfig;
  broker: Broker;
  cloud: TencentOtaCloud;
  server: FirmwareServer;
  sim: SimDevice;
  watch: FlashWatch;
  image: Uint8Array;
  /** The flash as it left the factory, before the first boot. */
  initialFlash: Uint8Array;
  close(): Promise<void>;
}

export function resolveBoard(b: string | BoardConfig | undefined): BoardConfig {
  if (b && typeof b === "object") return b;
  return loadBoard(join(BOARDS_DIR, (b ?? "host-sim") + ".json"));
}

export function bundleFor(board: BoardConfig): AgentCode {
  const path = join(BOARDS_DIR, "..", "dist", board.name + ".js");
  if (!existsSync(path) || !existsSync(jobPathOf(path))) throw new Error(`${path} or its job bundle is missing: run \`npm run build\` first`);
  return readAgentCode(path);
}

/** The task failed, or the device reported "done" (which it does only from the new image). */
export function updateEnded(d: DeviceRecord): boolean {
  return d.task === "failed" || (d.task === "done" && d.reports.some((r) => r.report?.progress?.state === "done"));
}

const md5Hex = (b: Uint8Array) => createHash("md5").update(b).digest("hex");

/** The file the firmware server hands out: `raw` with its signature trailer, unless signing is off. */
export function signedFile(board: BoardConfig, raw: Uint8Array, version: string, how: OtaRunOptions["sign"]): Uint8Array {
  if (how === false) return raw;
  const key = how?.key ?? (board.provision?.signKey ? Buffer.from(board.provision.signKey, "base64") : undefined);
  return key ? new Uint8Array(signImage(key, raw, how?.version ?? version, how?.kind)) : raw;
}

/** Starts everything and powers the board on; the update is not pushed yet. */
export async function startRun(o: OtaRunOptions = {}): Promise<OtaRun> {
  const board = resolveBoard(o.board);
  const seed = o.seed ?? 1;
  const broker = await startBroker(o.broker ?? "aedes", { tls: board.mqtt.tls });
  const cloud = await TencentOtaCloud.start({ brokerUrl: broker.url });
  const server = await startFirmwareServer(o.https ? { tls: makeTestCert() } : undefined);
  const initialImage = buildAppImage({ version: o.fromVersion ?? "1.0.0", projectName: "espruino", size: 0x40000, seed: seed + 1000 });
  const raw = o.image ?? buildAppImage({ version: o.toVersion ?? "1.1.0", projectName: "espruino", size: o.imageSize ?? SLOT_IMAGE, seed });
  const image = signedFile(board, raw, o.toVersion ?? "1.1.0", o.sign);
  const sim = new SimDevice({
    board,
    bundle: o.bundle ?? bundleFor(board),
    initialImage,
    routes: [
      { host: board.mqtt.host, port: board.mqtt.port, realPort: broker.port },
      { host: "127.0.0.1", port: server.port, realPort: server.port },
    ],
    seed,
    broken: o.broken,
    files: o.files,
    echo: o.echo,
    romFunction: o.romFunction,
  });
  const watch = new FlashWatch(sim.flash, board);
  return {
    board,
    broker,
    cloud,
    server,
    sim,
    watch,
    image,
    initialFlash: sim.flash.snapshot(),
    async close() {
      watch.stop();
      sim.stop();
      await cloud.close();
      await server.close();
      await broker.close();
    },
  };
}

/**
 * Pushes `offer` to the run's board, waits until `o.until` holds (default: the update ended), then
 * for the firmware server to settle, and lets `o.inspect` look before anything is shut down.
 */
export async function pushAndWait(run: OtaRun, offer: FirmwareOffer, o: Pick<OtaRunOptions, "until" | "onReport" | "timeoutMs" | "inspect">, what: string): Promise<void> {
  const { productId, deviceName } = simProvision(run.board);
  run.cloud.deploy(productId, deviceName, offer);
  const until = o.until ?? updateEnded;
  await run.cloud.waitFor(
    productId,
    deviceName,
    (d) => {
      o.onReport?.(d);
      return until(d, run);
    },
    o.timeoutMs ?? 120000,
    what,
  );
  await run.server.settled();
  o.inspect?.(run);
}

/** What every run reports the same way: how it ended as the cloud saw it, and the traffic and flash work. */
export function runOutcome(run: OtaRun, t0: number): Omit<OtaRunResult, "from" | "to" | "running" | "imageBytes" | "powerCuts"> {
  const { productId, deviceName } = simProvision(run.board);
  const rec = run.cloud.device(productId, deviceName);
  return {
    result: rec.task === "done" ? "done" : "fail",
    resultCode: rec.resultCode,
    resultMsg: rec.resultMsg,
    bytesFetched: run.server.requests.reduce((n, r) => n + r.bytesSent, 0),
    requests: run.server.requests.length,
    reboots: run.sim.device.boots - 1,
    journalErases: run.watch.journalErases,
    flashErases: run.sim.flash.stats.erases,
    reports: rec.reports,
    durationMs: Date.now() - t0,
  };
}

/** Runs a whole update and reports what happened. */
export async function runOta(o: OtaRunOptions = {}): Promise<OtaRunResult> {
  const run = await startRun(o);
  const t0 = Date.now();
  try {
    const { board, cloud, server, sim, watch, image } = run;
    let sign = 0;
    server.setFile("/fw.bin", image);
    o.faults?.(server);
    const { productId, deviceName } = simProvision(board);
    let powerCuts = 0;
    const offMs = o.offMs ?? 200;
    const cutThenBoot = () => {
      powerCuts++;
      // a cut in the last flash operation can come after the run has already ended and closed
      setTimeout(() => {
        if (sim.device.status !== "stopped") sim.powerOn();
      }, offMs).unref();
    };
    for (const at of o.powerCutsAtBytes ?? []) watch.cutWhenSlotReaches(at, cutThenBoot);
    if (o.powerCutDuringSwitchOp) watch.cutDuringSwitch(image.length, o.powerCutDuringSwitchOp, cutThenBoot);

    sim.powerOn();
    await cloud.waitFor(productId, deviceName, (d) => d.reportedVersion !== undefined, 20000, "the first report_version");
    await pushAndWait(
      run,
      {
        version: o.toVersion ?? "1.1.0",
        md5: o.announceMd5 ?? md5Hex(image),
        size: image.length,
        url: () => server.url("/fw.bin") + "?sign=" + ++sign,
      },
      o,
      "the update to end",
    );
    return {
      ...runOutcome(run, t0),
      from: o.fromVersion ?? "1.0.0",
      to: o.toVersion ?? "1.1.0",
      running: sim.runningVersion,
      imageBytes: image.length,
      powerCuts,
    };
  } finally {
    await run.close();
  }
}
