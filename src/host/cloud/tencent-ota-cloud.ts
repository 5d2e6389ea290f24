// A Tencent IoT Hub-style OTA cloud on any MQTT broker: it keeps a target per device, pushes
// update_firmware when a task is created and again whenever the device reports another
// version (the platform's documented resume/refresh channel), ends a task on "done",
// "fail" or a report of the target version, and records every message it saw.
// A device reports its firmware plainly and each module (the application) with its fw_type
// (docs/tencent-protocol.md#report_version); a task follows only the reports of what it updates
// (reportIsFor).
// Shared by `ota-cloud serve` (src/host/cloud-cli, against a user's own broker), the
// simulation (src/host/sim), the reliability campaign and the benchmarks.
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";

export interface FirmwareOffer {
  version: string;
  md5: string;
  size: number;
  /** Called for every push so URLs can be freshly "signed" (a 403 fault then expires old ones). */
  url: () => string;
  taskId?: number | string;
  /** The module name pushed as fw_type (an application: "app"). */
  fwType?: string;
  /**
   * What the offer updates: the firmware, whose version the device reports without fw_type, or
   * a module (the application) it reports with fw_type = fwType. Default: "app" when fwType is
   * given, "firmware" otherwise ("firmware" with a fwType: a v2 push the progress echoes it in).
   */
  kind?: "firmware" | "app";
}

function isAppOffer(o: FirmwareOffer): boolean {
  return (o.kind ?? (o.fwType !== undefined ? "app" : "firmware")) === "app";
}

/**
 * Whether a report (its report.fw_type, undefined when absent) is about what `offer` updates: a
 * report without fw_type is about the firmware, one with it about that module (for a firmware
 * offer pushed with a fw_type, also its echo in progress reports).
 */
export function reportIsFor(offer: FirmwareOffer, fwType: unknown): boolean {
  if (fwType === undefined) return !isAppOffer(offer);
  return fwType === offer.fwType;
}

/** The key of `versions` a report (or an offer) belongs under: its fw_type, "" for the firmware. */
function moduleKey(fwType: unknown): string {
  return typeof fwType === "string" ? fwType : "";
}

export type TaskState = "pending" | "downloading" | "burning" | "done" | "failed";

export interface DeviceRecord {
  key: string;
  /** Every JSON message the device published on $ota/report, in order. */
  reports: Record<string, any>[];
  /** Every update_firmware the cloud sent. */
  pushes: Record<string, any>[];
  /** The last version reported for what the current offer updates (no offer: the firmware's). */
  reportedVersion?: string;
  /** The last version reported per module: fw_type, "" for the firmware (plain report_version). */
  versions: Record<string, string>;
  target?: FirmwareOffer;
  task: TaskState | "none";
  percent: number;
  resultCode?: string;
  resultMsg?: string;
  /** Date.now() of the last deploy(), of the last message from the device, and of the task's end (done/failed). */
  deployedAt?: number;
  lastReportAt?: number;
  endedAt?: number;
}

export interface CloudOptions {
  brokerUrl: string;
  /** Cap on automatic re-pushes per task, so a broken device cannot make the cloud spin. */
  maxPushes?: number;
  /** Extra MQTT.js options (username/password of a user's broker, clientId...). */
  mqtt?: IClientOptions;
  /** Give up (and reject start()) when the broker has not accepted the connection by then. */
  connectTimeoutMs?: number;
}

export class TencentOtaCloud {
  readonly devices = new Map<string, DeviceRecord>();
  private client!: MqttClient;
  private listeners: (() => void)[] = [];
  private changeListeners: ((d: DeviceRecord) => void)[] = [];
  /** The last connection error MQTT.js reported (it keeps reconnecting). */
  lastError: Error | null = null;

  private constructor(private readonly opts: CloudOptions) {}

  static async start(opts: CloudOptions): Promise<TencentOtaCloud> {
    const c = new TencentOtaCloud(opts);
    c.client = mqtt.connect(opts.brokerUrl, {
      clientId: "sim-cloud-" + process.pid + "-" + Math.floor(Math.random() * 1e9),
      reconnectPeriod: 200,
      connectTimeout: 5000,
      rejectUnauthorized: false, // the simulation's TLS broker uses a throw-away certificate
      ...opts.mqtt,
    });
    c.client.on("message", (topic, payload) => c.onReport(topic, payload.toString("utf8")));
    c.client.on("connect", () => c.client.subscribe("$ota/report/+/+", { qos: 1 }));
    // after start, MQTT.js reconnects by itself; an 'error' event without a listener would end the process
    c.client.on("error", (e) => (c.lastError = e));
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        c.client.once("connect", () => c.client.subscribe("$ota/report/+/+", { qos: 1 }, (err) => (err ? reject(err) : resolve())));
        c.client.once("error", reject);
        // MQTT.js retries a refused connection silently: without a deadline start() would never end
        if (opts.connectTimeoutMs) timer = setTimeout(() => reject(new Error(`no connection to the broker ${opts.brokerUrl} within ${opts.connectTimeoutMs} ms`)), opts.connectTimeoutMs);
      });
    } catch (e) {
      await c.client.endAsync(true);
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return c;
  }

  device(productId: string, deviceName: string): DeviceRecord {
    const key = productId + "/" + deviceName;
    let d = this.devices.get(key);
    if (!d) {
      d = { key, reports: [], pushes: [], versions: {}, task: "none", percent: 0 };
      this.devices.set(key, d);
    }
    return d;
  }

  /** Creates an update task for a device and pushes it right away (as the console does). */
  deploy(productId: string, deviceName: string, offer: FirmwareOffer): void {
    if (offer.kind === "app" && offer.fwType === undefined) throw new Error("an application offer needs the fwType it is announced and reported under");
    const d = this.device(productId, deviceName);
    d.target = offer;
    d.reportedVersion = d.versions[isAppOffer(offer) ? moduleKey(offer.fwType) : ""];
    d.task = "pending";
    d.percent = 0;
    d.resultCode = undefined;
    d.resultMsg = undefined;
    d.deployedAt = Date.now();
    d.endedAt = undefined;
    this.push(d);
  }

  /** Sends a raw payload on a device's update topic (hostile-input tests). */
  sendRaw(productId: string, deviceName: string, payload: string | Buffer, topic = `$ota/update/${productId}/${deviceName}`): void {
    this.client.publish(topic, payload, { qos: 1 });
  }

  /** Resolves when `pred` holds for the device (checked after every report). */
  waitFor(productId: string, deviceName: string, pred: (d: DeviceRecord) => boolean, timeoutMs: number, what = "condition"): Promise<DeviceRecord> {
    const d = this.device(productId, deviceName);
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pred(d)) {
          this.listeners = this.listeners.filter((l) => l !== check);
          clearTimeout(timer);
          resolve(d);
        }
      };
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} on ${d.key}; last reports: ${JSON.stringify(d.reports.slice(-5))}`));
      }, timeoutMs);
      this.listeners.push(check);
      check();
    });
  }

  /** Calls `listener` after every message a device publishes (live displays); returns the unsubscribe. */
  onChange(listener: (d: DeviceRecord) => void): () => void {
    this.changeListeners.push(listener);
    return () => {
      this.changeListeners = this.changeListeners.filter((l) => l !== listener);
    };
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }

  private push(d: DeviceRecord): void {
    const o = d.target!;
    const msg: Record<string, unknown> = { file_size: o.size, md5sum: o.md5, type: "update_firmware", url: o.url(), version: o.version };
    if (o.taskId !== undefined) msg.task_id = o.taskId;
    if (o.fwType !== undefined) msg.fw_type = o.fwType;
    d.pushes.push(msg);
    const [productId, deviceName] = d.key.split("/");
    this.client.publish(`$ota/update/${productId}/${deviceName}`, JSON.stringify(msg), { qos: 1 });
  }

  private onReport(topic: string, text: string): void {
    const parts = topic.split("/");
    const d = this.device(parts[2], parts[3]);
    d.lastReportAt = Date.now();
    let msg: Record<string, any>;
    try {
      msg = JSON.parse(text);
    } catch {
      d.reports.push({ invalid: text });
      this.notify(d);
      return;
    }
    d.reports.push(msg);
    const o = d.target;
    const fwType = msg.report?.fw_type;
    if (msg.type === "report_version") {
      const version = msg.report?.version;
      if (typeof version === "string") d.versions[moduleKey(fwType)] = version;
      const mine = o ? reportIsFor(o, fwType) : fwType === undefined;
      if (mine) d.reportedVersion = version;
      this.client.publish(`$ota/update/${parts[2]}/${parts[3]}`, JSON.stringify({ result_code: 0, result_msg: "success", type: "report_version_rsp", version }), { qos: 1 });
      if (o && (d.task === "pending" || d.task === "downloading" || d.task === "burning")) {
        const more = d.pushes.length < (this.opts.maxPushes ?? 50);
        if (mine) {
          if (version === o.version) d.task = "done";
          else if (more) this.push(d);
        } else if (more && fwType === undefined && isAppOffer(o) && d.versions[moduleKey(o.fwType)] === undefined) {
          // a device with no application installed reports only its firmware (docs/app-ota.md):
          // that report is its only "push me again", at a connect or when a job of its ends
          this.push(d);
        }
      }
    } else if (msg.type === "report_progress" && o && msg.report?.version === o.version && reportIsFor(o, fwType)) {
      const p = msg.report.progress ?? {};
      if (p.state === "downloading") {
        if (d.task === "pending" || d.task === "downloading") d.task = "downloading";
        d.percent = Number(p.percent);
      } else if (p.state === "burning") d.task = d.task === "done" ? "done" : "burning";
      else if (p.state === "done") d.task = "done";
      else if (p.state === "fail") d.task = "failed";
      d.resultCode = p.result_code;
      d.resultMsg = p.result_msg;
    }
    if ((d.task === "done" || d.task === "failed") && d.endedAt === undefined) d.endedAt = Date.now();
    this.notify(d);
  }

  private notify(d: DeviceRecord): void {
    for (const l of [...this.listeners]) l();
    for (const l of [...this.changeListeners]) l(d);
  }
}
