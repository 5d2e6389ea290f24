// Device entry point: the only module with top-level effects, and the last one in the
// bundle (Espruino does not hoist, so everything it uses is defined above it).
// The bundle is installed as Storage's AGENT_BOOT_FILE and runs before the user's
// application; anything that goes wrong here logs one line and leaves the application alone.
import board from "board-config";
import { Agent } from "../core/agent/agent";
import { jsMd5 } from "../core/crypto/md5";
import { PROVISION_FILE, type Provision } from "../core/provision";
import { espruinoPorts } from "./ports";
import { romMd5 } from "./md5-rom";

/** The provisioning file, or null after one log line saying what is wrong (never its secrets). */
function readProvision(): Provision | null {
  let p: Provision | undefined;
  try {
    p = require("Storage").readJSON(PROVISION_FILE, true);
  } catch (e) {
    // readJSON(…, true) returns undefined for a missing or unparsable file; this is belt and braces
  }
  const text = (v: unknown) => typeof v === "string" && v.length > 0;
  let bad = "";
  if (!p || typeof p !== "object") bad = "missing or not JSON";
  else if (!text(p.productId) || !text(p.deviceName)) bad = "productId and deviceName are required";
  else if (board.mqtt.auth === "tencent" && !text(p.deviceSecret)) bad = "deviceSecret is required";
  else if (board.mqtt.auth === "plain" && (typeof p.username !== "string" || typeof p.password !== "string")) bad = "username and password are required";
  if (bad) {
    console.log("ota: agent disabled: " + PROVISION_FILE + ": " + bad);
    return null;
  }
  return p as Provision;
}

function startAgent(id: Provision): void {
  const log = (s: string) => console.log(s);
  // The ROM MD5 runs at native speed; it proves itself on known vectors first and the
  // JS backend (same 88-byte state) takes over if it does not.
  const md5 = (board.md5 === "rom" && romMd5(board.chip, log)) || jsMd5;
  log("ota: md5 backend " + md5.backend);
  new Agent(board, espruinoPorts(board, md5), id).start();
}

function connectWifiThen(id: Provision, next: () => void): void {
  const w = id.wifi;
  if (!w) return next();
  require("Wifi").connect(w.ssid, { password: w.password }, (err: unknown) => {
    if (err) console.log("ota: wifi: " + err);
    // The MQTT client reconnects by itself, so start either way.
    next();
  });
}

const provision = readProvision();
if (provision) connectWifiThen(provision, () => startAgent(provision));
