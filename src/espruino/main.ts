// Device entry point: the only module with top-level effects, and the last one in the
// bundle (Espruino does not hoist, so everything it uses is defined above it).
import board from "board-config";
import { Agent } from "../core/agent/agent";
import { jsMd5 } from "../core/crypto/md5";
import { espruinoPorts } from "./ports";
import { romMd5 } from "./md5-rom";

function startAgent(): void {
  const log = (s: string) => console.log(s);
  // The ROM MD5 runs at native speed; it proves itself on known vectors first and the
  // JS backend (same 88-byte state) takes over if it does not.
  const md5 = (board.md5 === "rom" && romMd5(board.chip, log)) || jsMd5;
  log("ota: md5 backend " + md5.backend);
  new Agent(board, espruinoPorts(board, md5)).start();
}

function connectWifiThen(next: () => void): void {
  const w = board.wifi;
  if (!w) return next();
  require("Wifi").connect(w.ssid, { password: w.password }, (err: unknown) => {
    if (err) console.log("ota: wifi: " + err);
    // The MQTT client reconnects by itself, so start either way.
    next();
  });
}

connectWifiThen(startAgent);
