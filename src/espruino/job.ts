// The job's entry point, installed as Storage's JOB_FILE. The file is a Storage module whose
// exports is this function: the resident session require()s it when there is work and calls it
// with its Link; the returned job does the layout, journal, download, verify, switch and
// trial, borrowing the session's network, clock and system ports.
import board from "board-config";
import { createAgent } from "../core/agent/agent";
import type { Job, Link } from "../core/agent/session";
import { jsMd5 } from "../core/crypto/md5";
import { espruinoBytes, espruinoFlash } from "./ports";
import { romMd5 } from "./md5-rom";
import type { Formats } from "../core/agent/formats";
import type { Ports } from "../core/ports";

/**
 * The flash formats module (Storage FORMATS_FILE, src/espruino/formats.ts), loaded for one use
 * and dropped from require()'s cache at once: while the job holds no reference to it, none of
 * its functions is in memory. "ota.fmt" is FORMATS_FILE written out: the gate wants a literal.
 */
function formats(): Formats {
  const f = require("ota.fmt");
  Modules.removeCached("ota.fmt");
  return f;
}

export default function job(link: Link): Job {
  const p = link.ports;
  // The ROM MD5 runs at native speed; it proves itself on known vectors first and the
  // JS backend (same 88-byte state) takes over if it does not.
  // __MD5_ROM__ is the board's md5 === "rom", fixed at build time: other boards carry no ROM code.
  const md5 = (__MD5_ROM__ && romMd5(board.chip, p.system.log)) || jsMd5;
  p.system.log("ota: md5 backend " + md5.backend);
  const ports: Ports = { flash: espruinoFlash, bytes: espruinoBytes, clock: p.clock, net: p.net, system: p.system, md5: md5, sha256: p.sha256 };
  // __APP__ is the board's app kind, fixed at build time (docs/app-ota.md)
  if (__APP__) {
    ports.storage = require("Storage");
    ports.process = process;
  }
  return createAgent(board, ports, link, formats);
}
