// A board made of Espruino's Linux interpreter (ESPRUINO_BIN) running the agent bundle built
// for boards/espruino-linux.json with this session's broker port, against the project's
// broker, simulated cloud and firmware server on 127.0.0.1. The device stub
// (device-stub.ts) reports every flash operation with the memory in use, late timer ticks
// and reboots; this class turns those reports into per-boot facts and powers the board back
// on after ESP32.reboot().
import { join } from "node:path";
import type { BoardConfig } from "../../core/board";
import { loadBoard, BOARDS_DIR } from "../boards/load-board";
import { buildBundle } from "../build/bundle";
import { buildAppImage } from "../image/app-image-builder";
import { signedFile } from "../sim/ota-run";
import { SIGN_TRAILER } from "../../core/sign/verify";
import { startBroker, type Broker } from "../sim/broker";
import { SimCloud, type DeviceRecord } from "../sim/cloud";
import { startFirmwareServer, type FirmwareServer } from "../sim/firmware-server";
import { EspruinoProcess } from "./espruino-process";
import { linuxFlashFile, LINUX_FLASH_BASE } from "./linux-flash";
import { parseStubLine, withStub, type StubEvent } from "./device-stub";

export const LINUX_BOARD = "espruino-linux";

export interface RealBoardOptions {
  bin: string;
  board?: BoardConfig;
  /** Changes to the board (e.g. spanBytes) for this session; the port is always the broker's. */
  adjust?: (b: BoardConfig) => BoardConfig;
  /**
   * "flash" (default): boot from .bootcde like a board, function code stays in flash (memory
   * figures). "ram": run the same code as a script, code text in RAM (timing figures: the
   * Linux build reads its emulated flash through file I/O, far slower than an ESP32's cache).
   */
  codeIn?: "flash" | "ram";
  echo?: boolean;
}

export interface LateTurn {
  ms: number;
  boot: number;
  /** Flash work done in that turn. */
  erases: number;
  writes: number;
  reads: number;
  bytesRead: number;
}

export interface BootMemory {
  boot: number;
  /** Usage when the stub starts (the interpreter alone). */
  start: number;
  /** After the bundle's code is loaded, before the agent starts. */
  loaded: number;
  /** Highest usage seen in this boot. */
  peak: number;
}

/** Something the stub observed, with the boot it happened in. */
export type Observer = (e: StubEvent, boot: number) => void;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RealBoard {
  readonly board: BoardConfig;
  readonly target: { offset: number; size: number };
  readonly proc: EspruinoProcess;
  /** Usage in the latest report. */
  lastUsage = 0;
  blockSize: number | null = null;
  readonly bootMemory: BootMemory[] = [];
  readonly lateTurns: LateTurn[] = [];
  /** Calls the stub had to repair (they throw on a board), with counts. */
  readonly boardFaults = new Map<string, number>();
  journalErases = 0;
  slotErases = 0;
  private observers: Observer[] = [];
  private lineObservers: ((line: string, boot: number) => void)[] = [];
  private rebootRequested = false;
  private closing = false;

  private constructor(
    readonly broker: Broker,
    readonly cloud: SimCloud,
    readonly server: FirmwareServer,
    board: BoardConfig,
    bin: string,
    codeIn: "flash" | "ram",
    echo: boolean,
  ) {
    this.board = board;
    const apps = board.partitionTable.partitions.filter((p) => p.type === "app");
    this.target = apps[1];
    this.proc = new EspruinoProcess(
      bin,
      (line, boot) => {
        if (echo) process.stderr.write("[espruino " + boot + "] " + line + "\n");
        const e = parseStubLine(line);
        if (e) this.onEvent(e, boot);
        else for (const f of this.lineObservers) f(line, boot);
      },
      codeIn === "ram" ? "boot.js" : undefined,
    );
  }

  static async start(o: RealBoardOptions): Promise<RealBoard> {
    const base = o.board ?? loadBoard(join(BOARDS_DIR, LINUX_BOARD + ".json"));
    const broker = await startBroker("aedes");
    let cloud: SimCloud | null = null;
    let server: FirmwareServer | null = null;
    try {
      cloud = await SimCloud.start({ brokerUrl: broker.url });
      server = await startFirmwareServer();
      const adjusted = o.adjust ? o.adjust(base) : base;
      const board: BoardConfig = { ...adjusted, mqtt: { ...adjusted.mqtt, host: "127.0.0.1", port: broker.port } };
      const rb = new RealBoard(broker, cloud, server, board, o.bin, o.codeIn ?? "flash", !!o.echo);
      const bundle = await buildBundle(board);
      const initialImage = buildAppImage({ version: "1.0.0", projectName: "espruino", size: 0x4000, seed: 7 });
      const bootCode = withStub(bundle, { flashBase: LINUX_FLASH_BASE });
      rb.proc.writeFlash(linuxFlashFile(board, initialImage, bootCode));
      if (o.codeIn === "ram") rb.proc.writeFile("boot.js", bootCode);
      return rb;
    } catch (e) {
      if (cloud) await cloud.close();
      if (server) await server.close();
      await broker.close();
      throw e;
    }
  }

  get key(): { productId: string; deviceName: string } {
    return { productId: this.board.mqtt.productId, deviceName: this.board.mqtt.deviceName };
  }

  get record(): DeviceRecord {
    return this.cloud.device(this.key.productId, this.key.deviceName);
  }

  observe(f: Observer): void {
    this.observers.push(f);
  }

  /** Agent log lines (everything that is not a stub report). */
  observeLines(f: (line: string, boot: number) => void): void {
    this.lineObservers.push(f);
  }

  inSlot(offset: number): boolean {
    return offset >= this.target.offset && offset < this.target.offset + this.target.size;
  }

  inJournal(offset: number): boolean {
    const j = this.board.journal;
    return offset >= j.offset && offset < j.offset + j.size;
  }

  /** Powers the board on and keeps powering it on after every ESP32.reboot(). */
  powerOn(): void {
    this.proc.powerOn();
    void this.followReboots();
  }

  /** Power cut now; the board comes back `offMs` later. */
  async powerCut(offMs = 200): Promise<void> {
    await this.proc.powerCut();
    await sleep(offMs);
    if (!this.closing && !this.proc.running) this.proc.powerOn();
  }

  waitFor(pred: (d: DeviceRecord) => boolean, timeoutMs: number, what: string): Promise<DeviceRecord> {
    return this.cloud.waitFor(this.key.productId, this.key.deviceName, pred, timeoutMs, what + " (real interpreter)");
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.proc.close();
    await this.cloud.close();
    await this.server.close();
    await this.broker.close();
  }

  private async followReboots(): Promise<void> {
    while (!this.closing) {
      if (!this.proc.running) {
        await sleep(20);
        continue;
      }
      await this.proc.whenExited();
      if (this.closing) return;
      if (this.rebootRequested) {
        this.rebootRequested = false;
        await sleep(100);
        if (!this.closing && !this.proc.running) this.proc.powerOn();
      }
    }
  }

  private onEvent(e: StubEvent, boot: number): void {
    if ("usage" in e) {
      this.lastUsage = e.usage;
      const bm = this.bootMemory[boot - 1];
      if (bm) bm.peak = Math.max(bm.peak, e.usage);
    }
    switch (e.kind) {
      case "boot":
        this.bootMemory[boot - 1] = { boot, start: e.usage, loaded: 0, peak: e.usage };
        this.blockSize = e.blockSize;
        break;
      case "loaded":
        if (this.bootMemory[boot - 1]) this.bootMemory[boot - 1].loaded = e.usage;
        break;
      case "erase":
        if (this.inJournal(e.offset)) this.journalErases++;
        if (this.inSlot(e.offset)) this.slotErases++;
        break;
      case "late":
        this.lateTurns.push({ ms: e.ms, boot, erases: e.erases, writes: e.writes, reads: e.reads, bytesRead: e.bytesRead });
        break;
      case "reboot":
        // esp_restart(): the stub spins; the process dies here and boots again
        this.rebootRequested = true;
        void this.proc.powerCut();
        break;
      case "fault": {
        const what = e.what.replace(/^(\S+) \d+ /, "$1: ");
        this.boardFaults.set(what, (this.boardFaults.get(what) ?? 0) + 1);
        break;
      }
    }
    for (const f of this.observers) f(e, boot);
  }
}

/** The file for a test update into the board's target slot: an application image signed with the board's key, at most `size` bytes in all. */
export function updateImage(board: BoardConfig, version: string, size: number, seed: number): Uint8Array {
  return signedFile(board, buildAppImage({ version, projectName: "espruino", size: (size - SIGN_TRAILER) & ~15, seed }), version, undefined);
}
