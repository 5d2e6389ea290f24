// Fleet simulation: N simulated boards, each running the real bundle in the host runtime,
// update at once through one broker and the local OTA cloud of `ota-cloud serve`
// (src/host/cloud/service.ts: the `send` firmware host and the Tencent-style cloud),
// each over its own link with a network profile (fleet-profiles.ts).
//
// Identity: every device runs the same bundle; each gets its own provisioning file (its
// deviceName, the board's productId and secret), exactly as `npm run flash -- --device` does.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BoardConfig } from "../../core/board";
import { simProvision } from "../boards/load-board";
import type { AgentCode } from "../build/install";
import { buildAppImage } from "../image/app-image-builder";
import { OtaService, type DeviceStatus } from "../cloud/service";
import { startBroker, type BrokerKind } from "./broker";
import { SimDevice, type BrokenImage } from "./sim-device";
import { resolveBoard, bundleFor, signedFile } from "./ota-run";
import { startLink, type Link, type LinkStats } from "./fleet-link";
import { networkProfile, type NetworkProfile } from "./fleet-profiles";

export function fleetDeviceName(i: number): string {
  return "fleet-" + String(i + 1).padStart(4, "0");
}

export interface FleetDeviceOptions {
  board: BoardConfig;
  /** The bundle every device runs. */
  bundle: AgentCode;
  deviceName: string;
  brokerPort: number;
  /** Where the cloud's firmware URLs point (host and port as in the URL). */
  httpHost: string;
  httpPort: number;
  network: NetworkProfile;
  /** The image the board left the factory with. */
  initialImage: Uint8Array;
  seed: number;
  broken?: BrokenImage[];
  echo?: boolean;
}

export interface FleetDevice {
  key: string;
  sim: SimDevice;
  mqttLink: Link;
  httpLink: Link;
  close(): Promise<void>;
}

/** One simulated board behind its own links; not powered on yet. */
export async function startFleetDevice(o: FleetDeviceOptions): Promise<FleetDevice> {
  const mqttLink = await startLink(o.brokerPort, o.network.mqtt, o.seed * 2 + 1);
  const httpLink = await startLink(o.httpPort, o.network.http, o.seed * 2 + 2);
  const sim = new SimDevice({
    board: o.board,
    bundle: o.bundle,
    provision: { ...simProvision(o.board), deviceName: o.deviceName },
    initialImage: o.initialImage,
    routes: [
      { host: o.board.mqtt.host, port: o.board.mqtt.port, realPort: mqttLink.port },
      { host: o.httpHost, port: o.httpPort, realPort: httpLink.port },
    ],
    seed: o.seed,
    broken: o.broken,
    echo: o.echo,
  });
  return {
    key: simProvision(o.board).productId + "/" + o.deviceName,
    sim,
    mqttLink,
    httpLink,
    async close() {
      sim.stop();
      await mqttLink.close();
      await httpLink.close();
    },
  };
}

export interface FleetOptions {
  devices: number;
  /** good | weak | lossy, or a profile of one's own. */
  network?: string | NetworkProfile;
  /** Bytes of the new image (default 256 KB: 50 devices stay quick on two cores). */
  imageSize?: number;
  broker?: BrokerKind;
  board?: string | BoardConfig;
  bundle?: string;
  fromVersion?: string;
  toVersion?: string;
  seed?: number;
  timeoutMs?: number;
  /** Time between two boards powering on. */
  staggerMs?: number;
  /** Called about every `everyMs` with every device's status (live display). */
  onStatus?: (statuses: DeviceStatus[]) => void;
  everyMs?: number;
  echo?: boolean;
}

export interface FleetResult {
  network: string;
  devices: number;
  completed: number;
  failed: number;
  /** Neither done nor failed when the run gave up. */
  unfinished: number;
  imageBytes: number;
  /** Firmware bytes the host served, all devices together. */
  bytesFetched: number;
  /** bytesFetched / (devices x imageBytes): 1.0 means no byte was fetched twice. */
  ratio: number;
  /**
   * Bytes the boards' HTTP clients actually received (headers included). Less than
   * bytesFetched when links cut: what the host had already sent into a cut link is lost.
   */
  bytesReceived: number;
  durationMs: number;
  links: { connections: number; cuts: number; stalls: number; drops: number };
  statuses: DeviceStatus[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runFleet(o: FleetOptions): Promise<FleetResult> {
  if (!Number.isInteger(o.devices) || o.devices < 1) throw new Error(`--devices must be a positive integer, got ${o.devices}`);
  const board = resolveBoard(o.board);
  const bundle = o.bundle ?? bundleFor(board);
  const network = typeof o.network === "object" ? o.network : networkProfile(o.network ?? "good");
  const seed = o.seed ?? 1;
  const imageSize = o.imageSize ?? 256 * 1024;
  const dir = mkdtempSync(join(tmpdir(), "ota-fleet-"));
  const fwFile = join(dir, `fleet-${o.toVersion ?? "1.1.0"}.bin`);
  // signed with the board's key, as `npm run sign` does: the boards install nothing else
  const file = signedFile(board, buildAppImage({ version: o.toVersion ?? "1.1.0", projectName: "espruino", size: imageSize, seed }), o.toVersion ?? "1.1.0", undefined);
  writeFileSync(fwFile, file);
  const initialImage = buildAppImage({ version: o.fromVersion ?? "1.0.0", projectName: "espruino", size: 0x40000, seed: seed + 1000 });
  const names = Array.from({ length: o.devices }, (_, i) => fleetDeviceName(i));
  const keys = names.map((n) => simProvision(board).productId + "/" + n);

  const broker = await startBroker(o.broker ?? "aedes", { tls: board.mqtt.tls });
  const fleet: FleetDevice[] = [];
  let service: OtaService | undefined;
  let ticker: NodeJS.Timeout | undefined;
  const t0 = Date.now();
  try {
    // the cloud pushes to every device now; boards that are still off get it when they report their version
    service = await OtaService.start({ brokerUrl: broker.url, firmware: fwFile, devices: keys, publicHost: "127.0.0.1", listen: "127.0.0.1", port: 0 });
    const svc = service;
    if (o.onStatus) ticker = setInterval(() => o.onStatus!(svc.statuses()), o.everyMs ?? 500);
    const done = svc.wait(o.timeoutMs ?? 600000);
    for (let i = 0; i < names.length; i++) {
      const d = await startFleetDevice({
        board,
        bundle,
        deviceName: names[i],
        brokerPort: broker.port,
        httpHost: "127.0.0.1",
        httpPort: svc.host.port,
        network,
        initialImage,
        seed: seed * 7919 + i,
        echo: o.echo,
      });
      fleet.push(d);
      d.sim.powerOn();
      if (o.staggerMs ?? 20) await sleep(o.staggerMs ?? 20);
    }
    const statuses = await done;
    o.onStatus?.(statuses);
    const linkStats: LinkStats[] = fleet.flatMap((d) => [d.mqttLink.stats, d.httpLink.stats]);
    const sum = (f: (s: LinkStats) => number) => linkStats.reduce((n, s) => n + f(s), 0);
    const bytesFetched = statuses.reduce((n, s) => n + s.bytes, 0);
    return {
      network: network.name,
      devices: o.devices,
      completed: statuses.filter((s) => s.state === "done").length,
      failed: statuses.filter((s) => s.state === "failed").length,
      unfinished: statuses.filter((s) => s.state !== "done" && s.state !== "failed").length,
      imageBytes: file.length,
      bytesFetched,
      ratio: bytesFetched / (o.devices * file.length),
      bytesReceived: fleet.reduce((n, d) => n + d.httpLink.stats.bytesToDevice, 0),
      durationMs: Date.now() - t0,
      links: { connections: sum((s) => s.connections), cuts: sum((s) => s.cuts), stalls: sum((s) => s.stalls), drops: sum((s) => s.drops) },
      statuses,
    };
  } finally {
    clearInterval(ticker);
    for (const d of fleet) await d.close();
    await service?.close();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
