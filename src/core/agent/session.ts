// The resident part of the agent: the MQTT session, the OTA topics and the running version.
// Everything else (flash layout, journal, download, verify, switch, trial) is the job
// (agent.ts), which lives in its own Storage file and is loaded only while it has work:
// at boot to read the layout and the journal, when an update_firmware arrives, and for as
// long as an update, a trial or an unacknowledged report keeps it busy. Then the session
// drops it and Espruino's garbage collector returns its memory to the application.
import type { BoardConfig } from "../board";
import type { ClockPort, NetPort, Sha256Fn, SystemPort } from "../ports";
import type { Provision } from "../provision";
import { MqttClient } from "../mqtt/client";
import { randomConnId, tencentCredentials, tencentExpiry } from "../mqtt/tencent-auth";
import { reportVersion } from "../protocol/messages";

/** What the session lends the job. */
export interface Link {
  ports: SessionPorts;
  id: Provision;
  /** Publishes on the report topic. */
  publish(payload: string, qos: 0 | 1, onAck?: () => void): void;
  /** The job calls this whenever it may have become quiet. */
  check(): void;
  /** Reboots, after any hold the application asked for (OTA:hold), never later than the board allows. */
  reboot(): void;
}

/** The job as the session sees it (an Agent). */
export interface Job {
  start(): void;
  onConnected(): void;
  onMessage(payload: string): void;
  /** True when nothing is in flight: no download, timer, trial or unacknowledged report. */
  quiet(): boolean;
  runningVersion(): string;
  /** The application said the running image (or app) works (OTA:healthy). */
  onAppHealthy(): void;
}

export interface SessionPorts {
  net: NetPort;
  clock: ClockPort;
  system: SystemPort;
  /** Native SHA-256 (Espruino's crypto.SHA256); needed only for Tencent authentication. */
  sha256: Sha256Fn | null;
}


/**
 * The application's side (docs/app-api.md): E.emit("OTA:healthy") confirms a trial,
 * E.emit("OTA:hold", ms) holds off the agent's next reboot for up to `maxHoldMs`; the job
 * tells the application what it does with E.emit("OTA", { state, version, percent }).
 */
export function startSession(m: BoardConfig["mqtt"], maxHoldMs: number, ports: SessionPorts, id: Provision, loadJob: (link: Link) => Job): void {
  const log = ports.system.log;
  // Each topic exists once: the client's subscription list and the report publishes share these strings.
  const update = "$ota/update/" + id.productId + "/" + id.deviceName;
  const report = "$ota/report/" + id.productId + "/" + id.deviceName;
  let job: Job | null = null;
  let version = "unknown";
  // While the session is calling into the job, a quiet job is not dropped under its feet.
  let calling = false;
  let holdUntil = 0;

  const link: Link = {
    ports: ports,
    id: id,
    publish: (payload, qos, onAck) => mqtt.publish(report, payload, qos, onAck),
    check: () => {
      if (job && !calling && job.quiet()) {
        version = job.runningVersion();
        job = null;
      }
    },
    reboot: () => {
      const latest = ports.clock.now() + maxHoldMs;
      const tick = () => {
        const now = ports.clock.now();
        const until = holdUntil < latest ? holdUntil : latest;
        if (now >= until) return ports.system.reboot();
        log("ota: reboot held by the application for " + ((until - now) | 0) + " ms");
        ports.clock.after(until - now, tick);
      };
      tick();
    },
  };
  ports.system.on("OTA:hold", (ms) => {
    const n = Number(ms);
    holdUntil = ports.clock.now() + (n > 0 ? n : 0);
  });
  ports.system.on("OTA:healthy", () => {
    if (job) withJob("onAppHealthy");
  });
  /**
   * Calls the job's method `name` (if any) with `arg`, loading and starting the job first if
   * needed, then lets it go if quiet. A method name rather than a callback: no function per call site.
   */
  const withJob = (name?: "onConnected" | "onMessage" | "onAppHealthy", arg?: string): void => {
    calling = true;
    try {
      if (!job) {
        job = loadJob(link);
        job.start();
      }
      if (name) job[name](arg!);
    } finally {
      calling = false;
    }
    link.check();
  };

  const mqtt = new MqttClient(
    { net: ports.net, clock: ports.clock, random: ports.system.random, log: log },
    {
      host: m.host.replace("{productId}", id.productId),
      port: m.port,
      tls: m.tls,
      // Tencent's credentials carry the client id, built per connection: not kept here as well.
      clientId: m.auth === "tencent" ? "" : id.productId + id.deviceName,
      username: id.username,
      password: id.password,
      keepaliveSec: m.keepaliveSec,
      credentials:
        m.auth === "tencent"
          ? () =>
              tencentCredentials(
                { productId: id.productId, deviceName: id.deviceName, deviceSecretBase64: id.deviceSecret || "", connId: randomConnId(ports.system.random), expiry: tencentExpiry(ports.system.unixTime(), 3600) },
                ports.sha256!,
              )
          : undefined,
    },
    (event, a, b) => {
      // report_version at every connect: it is how the cloud learns to re-push a pending
      // update, and its PUBACK is a trial image's proof of a working uplink (the job's).
      if (event === "up") {
        if (job) withJob("onConnected");
        else link.publish(reportVersion(version), 1);
      } else if (event === "down") log("ota: mqtt down: " + a);
      else if (a !== update) log("ota: message on unexpected topic " + a + " ignored");
      // The cloud's answer to report_version (after every connect) is only logged: it never loads the job.
      else if (!job && b!.indexOf('"report_version_rsp"') >= 0 && b!.indexOf('"update_firmware"') < 0) log("ota: report_version_rsp");
      else withJob("onMessage", b);
    },
  );
  mqtt.subscribe(update);
  mqtt.start();
  // The job reads the layout and the journal now (the connection is still being opened):
  // the running version, and whether an interrupted update or a trial needs it to stay.
  withJob();
}
