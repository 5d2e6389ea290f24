// One simulated board: a NOR-flash emulator holding a complete ESP32 flash image, the
// host runtime running the agent bundle, and the ESP-IDF bootloader model deciding at
// every boot which slot runs (including a rollback bootloader's otadata writes and its
// fallback when an image fails verification). Every slot runs the same agent bundle; the
// version a slot "contains" is the one in its app descriptor, which is what the agent
// reports. A version can be marked broken to simulate an image that never becomes healthy.
import type { BoardConfig } from "../../core/board";
import type { Provision } from "../../core/provision";
import { simProvision } from "../boards/load-board";
import { agentStorageFiles, storageRecord } from "../build/install";
import type { AgentCode } from "../build/install";
import { markState, readOtadata, OTA_STATE_INVALID, OTA_STATE_VALID } from "../../core/esp32/otadata";
import { parsePartitionTable, PARTITION_TABLE_MAX_LEN } from "../../core/esp32/partition-table";
import { readAppDescriptor } from "../../core/esp32/app-image";
import { applyFlashOps } from "../../core/esp32/otadata";
import { md5Bytes } from "../../core/crypto/md5";
import { NorFlash } from "../runtime/nor-flash";
import { Device } from "../runtime/device";
import type { RomFunctionFactory } from "../runtime/rom-types";
import { VirtualNetwork } from "../runtime/virtual-network";
import { assertBundle } from "../gate/check-bundle";
import { buildFlashImage } from "../image/flash-image";
import { simulateBoot } from "../image/boot-model";

export interface BrokenImage {
  version: string;
  /** "offline": the image runs but its network never works; "crash": it reboots after crashAfterMs. */
  mode: "offline" | "crash";
  crashAfterMs?: number;
}

export interface SimDeviceOptions {
  board: BoardConfig;
  /** The agent bundle, installed in Storage with its provisioning file as `npm run flash` does. */
  bundle: AgentCode;
  /** The device's identity; default the board's "provision". */
  provision?: Provision;
  /** More Storage files at the factory, e.g. the user's application as `.bootcde`. */
  files?: Record<string, string>;
  /** The app image flashed at the factory (goes to factory, or ota_0 when there is none). */
  initialImage: Uint8Array;
  /** What this board can reach: (host, port) as the bundle names them -> real 127.0.0.1 ports. */
  routes: Route[];
  seed?: number;
  broken?: BrokenImage[];
  onLog?: (line: string) => void;
  echo?: boolean;
  /** The mask ROM behind E.nativeCall; default the runtime's model (e.g. a wrapper that faults once). */
  romFunction?: RomFunctionFactory;
}

export interface Route {
  host: string;
  port: number;
  realPort: number;
}

export interface BootRecord {
  slot: string | null;
  version: string | null;
}

export class SimDevice {
  readonly flash: NorFlash;
  readonly device: Device;
  readonly network = new VirtualNetwork();
  readonly boots: BootRecord[] = [];
  /** Set when the bootloader found no bootable image: the device is bricked. */
  bricked = false;

  constructor(private readonly opts: SimDeviceOptions) {
    const b = opts.board;
    this.flash = new NorFlash({ size: b.flash.size, image: buildFlashImage(b, { bootApp: opts.initialImage }), seed: opts.seed ?? 1 });
    this.device = new Device({
      files: { ...storageRecord(agentStorageFiles(opts.bundle, opts.provision ?? simProvision(b))), ...opts.files },
      flash: this.flash,
      flashBase: b.flash.base,
      network: this.network,
      gate: assertBundle,
      onLog: opts.onLog,
      echo: opts.echo,
      rebootDelayMs: 50,
      onBoot: () => this.bootloader(),
      onSetOTAValid: (valid) => this.setOtaValid(valid),
      romFunction: opts.romFunction,
    });
  }

  /** Powers the board on (or back on after a power cut). */
  powerOn(): void {
    this.flash.powerOn();
    this.device.boot();
  }

  powerCut(): void {
    this.device.powerCut();
  }

  stop(): void {
    this.device.stop();
  }

  /** The version in the slot that booted last. */
  get runningVersion(): string | null {
    return this.boots.length ? this.boots[this.boots.length - 1].version : null;
  }

  private bootloader(): void {
    const b = this.opts.board;
    const outcome = simulateBoot(this.flash.bytes, { rollbackBootloader: b.bootloaderRollback, tableOffset: b.partitionTable.offset });
    // The bootloader's own otadata writes (rollback state changes) land in flash.
    if (outcome.flash !== this.flash.bytes) this.flash.bytes.set(outcome.flash);
    const slot = outcome.booted;
    if (!slot) {
      this.bricked = true;
      this.boots.push({ slot: null, version: null });
      this.device.powerCut();
      return;
    }
    const desc = readAppDescriptor(this.flash.asPort(), slot.offset);
    const version = desc ? desc.version : null;
    this.boots.push({ slot: slot.label, version });
    const broken = (this.opts.broken ?? []).find((x) => x.version === version);
    this.setOffline(!!broken && broken.mode === "offline");
    if (broken && broken.mode === "crash") {
      const boot = this.device.boots;
      setTimeout(() => {
        if (this.device.boots === boot && this.device.running) this.device.reset();
      }, broken.crashAfterMs ?? 300).unref();
    }
  }

  /** Adds a route for later connections (e.g. a firmware server started after boot). */
  addRoute(r: Route): void {
    this.opts.routes.push(r);
    this.network.route(r.host, r.port, r.realPort);
  }

  /** An image whose network is broken knows no host at all during this boot. */
  private setOffline(offline: boolean): void {
    for (const r of this.opts.routes) {
      if (offline) this.network.unroute(r.host, r.port);
      else this.network.route(r.host, r.port, r.realPort);
    }
  }

  /**
   * ESP32.setOTAValid as ESP-IDF implements it: rewrite the active otadata copy's state.
   * Returns false when IDF would refuse (running from factory), so the runtime does not reboot.
   */
  private setOtaValid(valid: boolean): boolean {
    const port = this.flash.asPort();
    const table = parsePartitionTable(port.read(this.opts.board.partitionTable.offset, PARTITION_TABLE_MAX_LEN), md5Bytes, this.opts.board.flash.size);
    if (!table.otadata) return false;
    const copies = readOtadata(port, table.otadata);
    try {
      applyFlashOps(port, markState(table, copies, valid ? OTA_STATE_VALID : OTA_STATE_INVALID));
      return true;
    } catch {
      // "Running firmware is factory": IDF returns an error and changes nothing.
      return false;
    }
  }
}
