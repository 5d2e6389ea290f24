// The resident agent's entry point, installed as Storage's AGENT_BOOT_FILE: it runs before
// the user's application, keeps only the MQTT session (src/core/agent/session.ts) and loads
// the job (job.ts, Storage's JOB_FILE) when there is work. Anything that goes wrong here
// logs one line and leaves the application alone. The only module with top-level effects,
// and the last one in the bundle (Espruino does not hoist).
import { mqtt, sign_required, trial_maxHoldMs } from "board-config";
import { PROVISION_FILE, type Provision } from "../core/provision";
import { startSession, type Job, type Link } from "../core/agent/session";
import type { MqttClient } from "../core/mqtt/client";
import { espruinoClock, espruinoNet, espruinoSha256, espruinoSystem } from "./ports";

/**
 * Loads the job file as a Storage module. Its code stays in flash (Storage is memory-mapped on
 * an ESP32) and each of its functions has a one-level scope chain. It leaves require()'s cache
 * at once, so what it allocates is freed once the session lets go of the job.
 */
function loadJob(link: Link): Job {
  // "ota.job" is JOB_FILE, written out: the gate wants a literal module name (test/unit/bundle.test.ts checks they agree)
  const job = require("ota.job");
  Modules.removeCached("ota.job");
  return job(link);
}

// Below, straight-line code rather than small functions: each function costs JsVars for as
// long as the agent runs.
let p: Provision | undefined;
try {
  p = require("Storage").readJSON(PROVISION_FILE, true);
} catch (e) {
  // readJSON(…, true) returns undefined for a missing or unparsable file; this is belt and braces
}
// Firmware built without SHA-256 has a crypto module without it (or no module: require throws).
let sha256: typeof espruinoSha256 | null = null;
try {
  const c: Partial<EspruinoCrypto> | undefined = require("crypto");
  if (c && c.SHA256) sha256 = espruinoSha256;
} catch (e) {
  // stays null: Tencent authentication is refused below
}
// Static functions work taken out of their object. ESP32.setOTAValid exists on an ESP32 only,
// the one chip whose boards ask the job for it (board bootloaderRollback).
espruinoSystem.reboot = typeof ESP32 !== "undefined" ? ESP32.reboot : E.reboot;
if (typeof ESP32 !== "undefined") espruinoSystem.setOtaValid = ESP32.setOTAValid;
try {
  espruinoNet.hasTls = !!require("tls");
} catch (e) {
  // firmware without TLS: the MQTT client refuses a TLS broker with one clear line
}
let bad = "";
if (!p || typeof p !== "object") bad = "missing or not JSON";
else if (!(typeof p.productId === "string" && p.productId) || !(typeof p.deviceName === "string" && p.deviceName)) bad = "productId and deviceName are required";
else if (mqtt.auth === "tencent" && !(typeof p.deviceSecret === "string" && p.deviceSecret)) bad = "deviceSecret is required";
else if (mqtt.auth === "tencent" && !sha256) bad = "Tencent authentication needs crypto.SHA256, which this firmware lacks";
else if (mqtt.auth === "plain" && (typeof p.username !== "string" || typeof p.password !== "string")) bad = "username and password are required";

let client: MqttClient | null = null;

/** Wi-Fi's callback, `err` its error if any: the MQTT client connects now, and reconnects by itself if this failed. */
function onWifi(err?: unknown): void {
  if (err) console.log("ota: wifi: " + err);
  client!.run(true);
}

// The session and its job start at once, Wi-Fi or not: the job also starts the application
// (docs/app-ota.md), which must not wait for a network. With Wi-Fi, MQTT connects once it is up.
if (bad) console.log("ota: agent disabled: " + PROVISION_FILE + ": " + bad);
else {
  if (!sign_required) console.log("ota: updates are NOT authenticated (board sign.required is false)");
  try {
    client = startSession(mqtt, trial_maxHoldMs, { net: espruinoNet, clock: espruinoClock, system: espruinoSystem, sha256: sha256 }, p as Provision, loadJob, !!p!.wifi);
  } catch (e) {
    console.log("ota: agent failed to start: " + e);
  }
  if (client && p!.wifi) {
    require("Wifi").connect(p!.wifi.ssid, { password: p!.wifi.password }, onWifi);
    // Espruino's Wifi keeps what it needs; the provision (the job's link.id) need not hold it too.
    delete p!.wifi;
  }
}
// Without a working agent the application still runs: the one app file there is (with two, only
// the agent's journal knows which is whole), without its signature trailer.
// __APP__: the board has the application kind (build flag): other boards carry none of this.
// "ota.app0"/"ota.app1" are app-files.ts's APP_FILE + 0 and + 1 written out: importing the
// constant would keep it in the resident (test/unit/bundle.test.ts checks they agree).
if (__APP__ && !client) {
  const S = require("Storage");
  const a = S.read("ota.app0", 0, 1) !== undefined;
  const f = a ? "ota.app0" : "ota.app1";
  const t: string | undefined = a === (S.read("ota.app1", 0, 1) !== undefined) ? undefined : S.read(f);
  if (t) setTimeout(t.substr(t.length - 80, 4) === "ESIG" ? S.read(f, 0, t.length - 80) : t, 0);
}
