// Figures 2, 3, 4 and 6 in the simulation: one complete OTA of the simulated board (the real
// bundle in the host runtime, aedes, the simulated cloud and the firmware server), with the
// fault plan, power cuts and link rate a figure asks for, watched at the flash. Built on
// ota-run.ts's startRun, adding what the benchmarks need: reads of the target slot after each
// resume, a throttled link and timing from the push to "burning".
import { simProvision } from "../boards/load-board";
import { createHash } from "node:crypto";
import type { FirmwareServer } from "../sim/firmware-server";
import { startRun, updateEnded } from "../sim/ota-run";
import type { DeviceRecord } from "../cloud/tencent-ota-cloud";
import { startThrottleProxy, type ThrottleProxy } from "./throttle-proxy";

export interface HostOtaOptions {
  board?: string;
  imageSize: number;
  seed?: number;
  /** Arms the firmware server's faults before the update is pushed. */
  faults?: (server: FirmwareServer) => void;
  /** One power cut when this many image bytes are in the slot (per entry). */
  powerCutsAtBytes?: number[];
  /** Send the firmware through a link of this many bytes per second. */
  linkBytesPerSecond?: number;
  timeoutMs?: number;
}

export interface HostOtaResult {
  result: "done" | "failed";
  resultCode?: string;
  resultMsg?: string;
  imageBytes: number;
  /** Firmware body bytes the server handed to the network. */
  bytesFetched: number;
  requests: number;
  reboots: number;
  powerCuts: number;
  /** Boots that resumed a download from the journal. */
  resumes: number;
  /** Target-slot bytes read after a resume boot before its first new write into the slot (summed over resumes). */
  rehashBytesOnResume: number;
  /** Target-slot bytes read after the last image byte was written (the image structure check). */
  verifyReadBytes: number;
  journalErases: number;
  slotErases: number;
  flashErases: number;
  /** From the push of the update to the "burning" report (download, MD5, image check). */
  downloadMs: number;
  /** From the push to "done" (reboot and trial included). */
  totalMs: number;
  /** With a throttled link: where the download time went (ms). */
  link?: LinkTimeline;
}

export interface LinkTimeline {
  /** Push of the update until the device opened its first firmware connection. */
  beforeFirstRequest: number;
  /** Time the link spent delivering firmware bytes (first to last byte of each response). */
  busy: number;
  /** Time between one response's last byte and the next one's first byte. */
  betweenSpans: number;
  /** TCP connections the device opened for the firmware (one when the server keeps it alive). */
  connections: number;
  /** Last firmware byte until "burning" (MD5 digest, image check, journal). */
  afterLastByte: number;
}

const md5Hex = (b: Uint8Array) => createHash("md5").update(b).digest("hex");

export async function hostOta(o: HostOtaOptions): Promise<HostOtaResult> {
  const run = await startRun({ board: o.board ?? "host-sim", imageSize: o.imageSize, seed: o.seed ?? 1 });
  let proxy: ThrottleProxy | null = null;
  try {
    const { board, cloud, server, sim, watch, image } = run;
    const apps = board.partitionTable.partitions.filter((p) => p.type === "app");
    // the factory image boots from factory, else ota_0 (flash-image.ts); the update goes to the other slot
    const boot = apps.find((p) => p.subtype === "factory") ?? apps.find((p) => p.subtype === "ota_0")!;
    const target = apps.find((p) => p !== boot)!;
    const inTarget = (off: number, len: number) => off < target.offset + target.size && off + len > target.offset;

    // Reads of the target slot from a resume boot until its first write there: data hashed again.
    const flash = sim.flash;
    const read = flash.read.bind(flash);
    const write = flash.write.bind(flash);
    let watchingResume = false;
    let rehash = 0;
    let imageComplete = false;
    let verifyRead = 0;
    let slotWritten = 0;
    flash.read = (offset: number, length: number) => {
      if (inTarget(offset, length)) {
        if (watchingResume) rehash += length;
        if (imageComplete) verifyRead += length;
      }
      return read(offset, length);
    };
    flash.write = (offset: number, data: Uint8Array) => {
      if (inTarget(offset, data.length)) {
        watchingResume = false;
        slotWritten = Math.max(slotWritten, offset + data.length - target.offset);
        if (slotWritten >= image.length) imageComplete = true;
      }
      write(offset, data);
    };
    let slotErases = 0;
    const erase = flash.erase.bind(flash);
    flash.erase = (offset: number) => {
      if (inTarget(offset, 4096)) slotErases++;
      erase(offset);
    };

    if (o.linkBytesPerSecond) {
      proxy = await startThrottleProxy(server.port, o.linkBytesPerSecond);
      sim.addRoute({ host: "127.0.0.1", port: server.port, realPort: proxy.port });
    }
    server.setFile("/fw.bin", image);
    o.faults?.(server);
    let powerCuts = 0;
    let resumes = 0;
    for (const at of o.powerCutsAtBytes ?? []) {
      watch.cutWhenSlotReaches(at, () => {
        powerCuts++;
        setTimeout(() => {
          // every boot after a cut mid-download resumes from the journal
          if (!imageComplete) {
            watchingResume = true;
            resumes++;
          }
          sim.powerOn();
        }, 100).unref();
      });
    }

    const { productId, deviceName } = simProvision(board);
    sim.powerOn();
    await cloud.waitFor(productId, deviceName, (d) => d.reportedVersion !== undefined, 20000, "the first report_version");
    let sign = 0;
    const t0 = performance.now();
    let burningAt = 0;
    cloud.deploy(productId, deviceName, { version: "1.1.0", md5: md5Hex(image), size: image.length, url: () => server.url("/fw.bin") + "?sign=" + ++sign });
    await cloud.waitFor(
      productId,
      deviceName,
      (d: DeviceRecord) => {
        if (!burningAt && d.reports.some((r) => r.report?.progress?.state === "burning")) burningAt = performance.now();
        return updateEnded(d);
      },
      o.timeoutMs ?? 120000,
      "the update to end",
    );
    const totalMs = performance.now() - t0;
    let link: LinkTimeline | undefined;
    if (proxy && proxy.exchanges.length) {
      const c = proxy.exchanges.filter((x) => x.bytes > 0);
      let busy = 0;
      let between = 0;
      for (let i = 0; i < c.length; i++) {
        busy += c[i].lastByte - c[i].firstByte;
        if (i > 0) between += c[i].firstByte - c[i - 1].lastByte;
      }
      link = {
        beforeFirstRequest: proxy.exchanges[0].opened - t0,
        connections: proxy.connections,
        busy,
        betweenSpans: between,
        afterLastByte: burningAt ? burningAt - c[c.length - 1].lastByte : NaN,
      };
    }
    await server.settled();
    const rec = cloud.device(productId, deviceName);
    return {
      result: rec.task === "done" ? "done" : "failed",
      resultCode: rec.resultCode,
      resultMsg: rec.resultMsg,
      imageBytes: image.length,
      bytesFetched: server.requests.reduce((n, r) => n + r.bytesSent, 0),
      requests: server.requests.length,
      reboots: sim.device.boots - 1,
      powerCuts,
      resumes,
      rehashBytesOnResume: rehash,
      verifyReadBytes: verifyRead,
      journalErases: watch.journalErases,
      slotErases,
      flashErases: flash.stats.erases,
      downloadMs: burningAt ? burningAt - t0 : NaN,
      totalMs,
      link,
    };
  } finally {
    if (proxy) await proxy.close();
    await run.close();
  }
}

/** One dropped connection per 64 KiB of image, half way through each 64 KiB (and off any sector boundary). */
export function dropEvery64k(imageSize: number): (server: FirmwareServer) => void {
  return (server) => {
    for (let at = 40000; at < imageSize; at += 65536) server.faults.push({ kind: "reset-after", atOffset: at });
  };
}

/** Power cut points every 256 KiB of image (not at the very end). */
export function cutsEvery256k(imageSize: number): number[] {
  const out: number[] = [];
  for (let at = 262144; at < imageSize; at += 262144) out.push(at);
  return out;
}
