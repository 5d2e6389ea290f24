// The resident part of the agent: the MQTT session, the OTA topics and the running version.
// Everything else (flash layout, journal, download, verify, switch, trial) is the job
// (agent.ts), which lives in its own Storage file and is loaded only while it has work:
// at boot to read the layout and the journal, when an update_firmware arrives, and for as
// long as an update, a trial or an unacknowledged report keeps it busy. Then the session
// drops it and Espruino's garbage collector returns its memory to the application.
import type { BoardConfig } from "../board";
import type { ClockPort, NetPort, Sha256Fn, SystemPort } from "../ports";
import type { Provision } from "../provision";
import { MqttClient, type MqttCredentials } from "../mqtt/client";
import { tencentCredentials } from "../mqtt/tencent-auth";

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

/**
 * The job as the session sees it: one function (each function the job holds costs JsVars on the
 * board), called with what the session wants. "start" once after loading (with "boot" the first
 * time after power-on, when it also starts the application); "onConnected" at
 * every MQTT connect; "onMessage" with a message on the update topic; "onAppHealthy" when the
 * application said the running image (or app) works (OTA:healthy); "quiet" returns true when
 * nothing is in flight (no download, timer, trial or unacknowledged report); "runningVersion"
 * returns the running image's version; "appReport" the running application's report_version
 * message ("" without an application).
 */
export type JobCall = "start" | "onConnected" | "onMessage" | "onAppHealthy" | "quiet" | "runningVersion" | "appReport";
export type Job = (what: JobCall, payload?: string) => boolean | string | void;

export interface SessionPorts {
  net: NetPort;
  clock: ClockPort;
  system: SystemPort;
  /** Native SHA-256 (Espruino's crypto.SHA256); needed only for Tencent authentication. */
  sha256: Sha256Fn | null;
}


// One session per load (boot.ts starts it once), so its state lives in module-level variables
// and its callbacks are module-level functions: on Espruino a function created inside another
// one costs about half as much again as one at the top of a module, for as long as the agent runs.
let ports: SessionPorts;
let id: Provision;
let maxHold = 0;
let loadJob: (link: Link) => Job;
let link: Link;
let mqtt: MqttClient;
// Each topic exists once: the client's subscription list and the report publishes share these strings.
let update = "";
let report = "";
let job: Job | null = null;
let version = "unknown";
/** The running application's report_version (with its fw_type; "" without one), sent while the job is not loaded. */
let appReport = "";
// While the session is calling into the job, a quiet job is not dropped under its feet.
let calling = false;
let holdUntil = 0;
/** The latest moment the agent reboots, once the job asked for a reboot (0 before). */
let rebootBy = 0;
/** Timer turns taken since the reboot became due (see reboot). */
let rebootTurns = 0;

function publish(payload: string, qos: 0 | 1, onAck?: () => void): void {
  mqtt.publish(report, payload, qos, onAck);
}

function check(): void {
  if (job && !calling && job("quiet")) {
    version = job("runningVersion") as string;
    appReport = (job("appReport") as string) || "";
    job = null;
  }
}

/** Link.reboot, and its own timer while the application holds the reboot off. */
function reboot(): void {
  const now = ports.clock.now();
  if (!rebootBy) rebootBy = now + maxHold;
  const until = holdUntil < rebootBy ? holdUntil : rebootBy;
  // Two timer turns first: the application's state events go out from 0 ms timers (ports.ts
  // emit), and Espruino runs E.emit's listeners from its event queue (jsiQueueEvents), after the
  // timers of the turn that emitted them; a reboot in that same turn would drop the last event.
  if (now >= until) return void (rebootTurns++ < 2 ? ports.clock.after(0, reboot) : ports.system.reboot());
  ports.system.log("ota: reboot held by the application for " + ((until - now) | 0) + " ms");
  ports.clock.after(until - now, reboot);
}

function onHold(ms: unknown): void {
  const n = Number(ms);
  holdUntil = ports.clock.now() + (n > 0 ? n : 0);
}

function onHealthy(): void {
  if (job) withJob("onAppHealthy");
}

/**
 * Calls the job's method `name` (if any) with `arg`, loading and starting the job first if
 * needed, then lets it go if quiet. Without `name` (startSession's call at power-on) the job is
 * started with "boot". A method name rather than a callback: no function per call site.
 */
function withJob(name?: "onConnected" | "onMessage" | "onAppHealthy", arg?: string): void {
  calling = true;
  try {
    if (!job) {
      job = loadJob(link);
      // "boot" when called without a method: startSession's call, once per power-on, when the
      // job also starts the application
      job("start", name ? undefined : "boot");
    }
    if (name) job(name, arg);
  } finally {
    calling = false;
  }
  check();
}

/** Tencent's credentials, signed per connection (a fresh connId and expiry each time). */
function credentials(): MqttCredentials {
  return tencentCredentials(
    { productId: id.productId, deviceName: id.deviceName, deviceSecretBase64: id.deviceSecret || "", random: ports.system.random, unixNowSec: ports.system.unixTime() },
    ports.sha256!,
  );
}

function onMqtt(event: "up" | "down" | "message", a?: string, b?: string): void {
  const log = ports.system.log;
  // report_version at every connect: it is how the cloud learns to re-push a pending
  // update, and its PUBACK is a trial image's proof of a working uplink (the job's).
  if (event === "up") {
    if (job) withJob("onConnected");
    else {
      // {"type":"report_version","report":{"version":..}}, the bytes the job's otaReport("version", v)
      // builds, with the version quoted here as ../protocol/json-text does: only what JSON
      // requires is escaped, every other byte passes unchanged (one function fewer for a message).
      let q = "";
      let from = 0;
      for (let i = 0; i < version.length; i++) {
        const c = version.charCodeAt(i);
        if (c >= 32 && c !== 34 && c !== 92) continue;
        q += version.substring(from, i) + (c === 34 ? '\\"' : c === 92 ? "\\\\" : "\\u00" + (c >> 4).toString(16) + (c & 15).toString(16));
        from = i + 1;
      }
      publish('{"type":"report_version","report":{"version":"' + q + version.substring(from) + '"}}', 1);
      if (appReport) publish(appReport, 1);
    }
  } else if (event === "down") log("ota: mqtt down: " + a);
  else if (a !== update) log("ota: message on unexpected topic " + a + " ignored");
  // The cloud's answer to report_version (after every connect) is only logged: it never loads the job.
  else if (!job && b!.indexOf('"report_version_rsp"') >= 0 && b!.indexOf('"update_firmware"') < 0) log("ota: report_version_rsp");
  else withJob("onMessage", b);
}

/**
 * The application's side (docs/app-api.md): E.emit("OTA:healthy") confirms a trial,
 * E.emit("OTA:hold", ms) holds off the agent's next reboot for up to `maxHoldMs`; the job
 * tells the application what it does with E.emit("OTA", { state, version, percent }).
 * Called once per load. `later`: do not
 * connect yet (the network is still coming up): the caller calls the client's run(true) then.
 * The job starts at once either way: it also starts the application (docs/app-ota.md).
 */
export function startSession(m: BoardConfig["mqtt"], maxHoldMs: number, p: SessionPorts, i: Provision, load: (link: Link) => Job, later?: boolean): MqttClient {
  ports = p;
  id = i;
  maxHold = maxHoldMs;
  loadJob = load;
  update = "$ota/update/" + i.productId + "/" + i.deviceName;
  report = "$ota/report/" + i.productId + "/" + i.deviceName;
  link = { ports: p, id: i, publish: publish, check: check, reboot: reboot };
  p.system.on("OTA:hold", onHold);
  p.system.on("OTA:healthy", onHealthy);
  mqtt = MqttClient(
    { net: p.net, clock: p.clock, random: p.system.random, log: p.system.log },
    {
      host: m.host.replace("{productId}", i.productId),
      port: m.port,
      tls: m.tls,
      // Tencent's credentials carry the client id, built per connection: not kept here as well.
      clientId: m.auth === "tencent" ? "" : i.productId + i.deviceName,
      username: i.username,
      password: i.password,
      keepaliveSec: m.keepaliveSec,
      credentials: m.auth === "tencent" ? credentials : undefined,
    },
    onMqtt,
  );
  mqtt.subscribe(update);
  if (!later) mqtt.run(true);
  // The job reads the layout and the journal now (the connection is still being opened):
  // the running version, whether an interrupted update or a trial needs it to stay, and which
  // application file runs.
  withJob();
  return mqtt;
}
