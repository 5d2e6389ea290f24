// The local OTA cloud behind `ota-cloud serve` and the fleet simulation: the firmware host
// (HTTP with Range) plus the Tencent-style cloud of tencent-ota-cloud.ts on the user's
// broker. It creates one update task per device, lets the cloud push update_firmware (again
// whenever a device reports another version: devices that are offline now get it when they
// connect) and turns the cloud's records into one status per device.
// It rolls out either firmware (an ESP32 app image) or the application (an application
// package, announced with fw_type): a device is done when it reports the target version for
// what is rolled out, and reports about the other are ignored (tencent-ota-cloud.ts reportIsFor).
import type { IClientOptions } from "mqtt";
import { TencentOtaCloud, type DeviceRecord } from "./tencent-ota-cloud";
import { startFirmwareHost, type FirmwareHost } from "./firmware-host";
import { readAppPackageFile, readFirmware, type FirmwareInfo, type SignPolicy } from "./firmware-info";

/**
 * waiting: nothing heard from the device yet; pending: it is online, the update was pushed;
 * downloading / burning: as it reports; done / failed: the task ended;
 * timeout / offline: still unfinished (offline: never heard from) when the run gave up.
 */
export type DeviceState = "waiting" | "pending" | "downloading" | "burning" | "done" | "failed" | "timeout" | "offline";

export interface DeviceStatus {
  key: string;
  state: DeviceState;
  percent: number;
  targetVersion: string;
  reportedVersion: string | null;
  resultCode: string | null;
  resultMsg: string | null;
  /** Firmware body bytes served to this device, and in how many requests. */
  bytes: number;
  requests: number;
  /** Bytes per second over the last seconds. */
  throughput: number;
  pushes: number;
  startedAt: number;
  endedAt: number | null;
  lastReportAt: number | null;
}

export interface ServiceOptions {
  brokerUrl: string;
  /** Path of the image (or application package, with kind "app"), or one already read. */
  firmware: string | FirmwareInfo;
  /** What a path names: "firmware" (default, an ESP32 app image) or "app" (an application package). */
  kind?: "firmware" | "app";
  /** kind "app": the module name the package is announced and reported under (default "app"). */
  fwType?: string;
  /** Must match the image's app descriptor (a package's header line) when given. */
  version?: string;
  /** How a firmware file given by name is signed (firmware-info.ts); absent: served as it is. */
  sign?: SignPolicy;
  /** "productId/deviceName" each. */
  devices: string[];
  /** The address boards reach this machine at (goes into the URLs). */
  publicHost: string;
  listen?: string;
  port?: number;
  mqtt?: IClientOptions;
  maxPushes?: number;
  connectTimeoutMs?: number;
}

export class ServiceError extends Error {}

export const FINISHED: DeviceState[] = ["done", "failed", "timeout", "offline"];

/** Checks "productId/deviceName" (no MQTT wildcards: they are topic levels). */
export function parseDeviceKey(key: string): { productId: string; deviceName: string } {
  const parts = key.split("/");
  if (parts.length !== 2 || !parts[0] || !parts[1] || /[+#\s]/.test(key)) {
    throw new ServiceError(`device "${key}" is not of the form productId/deviceName (no spaces, "+", "#" or extra "/")`);
  }
  return { productId: parts[0], deviceName: parts[1] };
}

export class OtaService {
  private gaveUp = new Map<string, DeviceState>();
  private startedAt = Date.now();

  private constructor(
    readonly firmware: FirmwareInfo,
    readonly host: FirmwareHost,
    readonly cloud: TencentOtaCloud,
    readonly devices: string[],
  ) {}

  static async start(o: ServiceOptions): Promise<OtaService> {
    if (o.devices.length === 0) throw new ServiceError("no --device given: name at least one productId/deviceName");
    const keys = [...new Set(o.devices)];
    for (const k of keys) parseDeviceKey(k);
    if (o.fwType !== undefined && o.kind !== "app") throw new ServiceError("fwType names the application module: it goes with kind \"app\" (firmware is announced without fw_type)");
    const firmware =
      typeof o.firmware !== "string" ? o.firmware
      : o.kind === "app" ? readAppPackageFile(o.firmware, o.version, o.sign, o.fwType)
      : readFirmware(o.firmware, o.version, o.sign);
    const host = await startFirmwareHost({ bytes: firmware.bytes, name: firmware.name, publicHost: o.publicHost, listen: o.listen, port: o.port });
    let cloud: TencentOtaCloud;
    try {
      cloud = await TencentOtaCloud.start({ brokerUrl: o.brokerUrl, maxPushes: o.maxPushes, mqtt: o.mqtt, connectTimeoutMs: o.connectTimeoutMs ?? 10000 });
    } catch (e) {
      await host.close();
      throw new ServiceError(`cannot connect to the broker ${o.brokerUrl}: ${(e as Error).message}`);
    }
    const s = new OtaService(firmware, host, cloud, keys);
    for (const key of keys) {
      const { productId, deviceName } = parseDeviceKey(key);
      let n = 0;
      const app = firmware.type === "app" ? { fwType: firmware.fwType ?? "app", kind: "app" as const } : {};
      cloud.deploy(productId, deviceName, { version: firmware.version, md5: firmware.md5, size: firmware.size, url: () => host.url(key, ++n), ...app });
    }
    return s;
  }

  status(key: string): DeviceStatus {
    const { productId, deviceName } = parseDeviceKey(key);
    const d: DeviceRecord = this.cloud.device(productId, deviceName);
    const t = this.host.traffic(key);
    let state: DeviceState;
    if (d.task === "done" || d.task === "failed" || d.task === "downloading" || d.task === "burning") state = d.task;
    else state = d.lastReportAt !== undefined ? "pending" : "waiting";
    const gaveUp = this.gaveUp.get(key);
    if (gaveUp && !FINISHED.includes(state)) state = gaveUp;
    return {
      key,
      state,
      percent: state === "done" ? 100 : d.percent,
      targetVersion: this.firmware.version,
      reportedVersion: d.reportedVersion ?? null,
      resultCode: d.resultCode ?? (state === "done" ? "0" : null),
      resultMsg: d.resultMsg ?? null,
      bytes: t.bytes,
      requests: t.requests,
      throughput: FINISHED.includes(state) ? 0 : this.host.throughput(key),
      pushes: d.pushes.length,
      startedAt: d.deployedAt ?? this.startedAt,
      endedAt: d.endedAt ?? (gaveUp ? Date.now() : null),
      lastReportAt: d.lastReportAt ?? null,
    };
  }

  statuses(): DeviceStatus[] {
    return this.devices.map((k) => this.status(k));
  }

  finished(): boolean {
    return this.statuses().every((s) => FINISHED.includes(s.state));
  }

  /** Calls `fn` after every message from any device; returns the unsubscribe. */
  onChange(fn: (key: string) => void): () => void {
    return this.cloud.onChange((d) => fn(d.key));
  }

  /**
   * Resolves once every device is done or failed, or at the deadline, when every unfinished
   * device becomes "timeout" (or "offline" if it was never heard from). `stop` ends it early the same way.
   */
  wait(timeoutMs: number, stop?: Promise<void>): Promise<DeviceStatus[]> {
    return new Promise((resolve) => {
      let finished = false;
      const finish = (giveUp: boolean) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        clearInterval(poll);
        off();
        if (giveUp) {
          for (const s of this.statuses()) if (!FINISHED.includes(s.state)) this.gaveUp.set(s.key, s.lastReportAt === null ? "offline" : "timeout");
        }
        resolve(this.statuses());
      };
      const check = () => {
        if (this.finished()) finish(false);
      };
      const off = this.onChange(check);
      const timer = setTimeout(() => finish(true), timeoutMs);
      const poll = setInterval(check, 500);
      stop?.then(() => finish(true));
      check();
    });
  }

  async close(): Promise<void> {
    await this.cloud.close();
    await this.host.close();
  }
}
