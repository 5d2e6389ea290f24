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
import { TencentOtaCloud, type DeviceRecord } from "../cloud/tencent-ota-cloud";
import { startFirmwareServer, type FirmwareServer } from "../sim/firmware-server";
import type { Provision } from "../../core/provision";
import { agentStorageFiles } from "../build/install";
import { EspruinoProcess } from "./espruino-process";
import { linuxFlashFile, LINUX_FLASH_BASE } from "./linux-flash";
import { parseStubLine, type StubEvent } from "./device-stub";
import { installPlan, type InstallPlan } from "./install-plan";
import { appProgram, type AppOptions } from "./app-program";
import { BENCH_PROVISION } from "./provision";
import { ESP32_BLOCKSIZE, formatProblem } from "./esp32-format";

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
  /** Model a board with this process.memory().total (JsVars): see device-stub.ts. Default: the interpreter's own. */
  heap?: number;
  /** An application to install beside the agent (app-program.ts). */
  app?: AppOptions;
  /** More Storage files (binary strings), e.g. an application package in ota.app0. */
  files?: Record<string, string>;
  /** The device's identity; default BENCH_PROVISION. */
  provision?: Provision;
  /** Accept an interpreter whose JsVars are not the ESP32's 14 bytes (unit tests of the bench only). */
  anyFormat?: boolean;
}

/** The board cannot go on: it ran out of memory, or the interpreter is not the ESP32 format. */
export class BoardTrouble extends Error {
  constructor(
    readonly kind: "oom" | "format",
    message: string,
    readonly boot: number,
  ) {
    super(message);
  }
}

/** Console lines by which Espruino says it ran out of JsVars. */
export const OUT_OF_MEMORY = /OUT OF MEMORY|LOW_MEMORY|Out of memory/i;

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
  /** JsVars of ballast (0: none), free JsVars left after it, usage net of ballast before the agent loaded (interpreter and stub). */
  ballast: number;
  free: number;
  base: number;
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
  /** Application reports: JsVars it held, and the longest gap of its timer per boot. */
  appHeld: number | null = null;
  readonly appGaps: { boot: number; ms: number; tick: number }[] = [];
  /** Why the board cannot go on (first occurrence), and the console lines around it. */
  trouble: BoardTrouble | null = null;
  plan!: InstallPlan;
  readonly provision: Provision;
  private rebootRequested = false;
  private closing = false;

  private constructor(
    readonly broker: Broker,
    readonly cloud: TencentOtaCloud,
    readonly server: FirmwareServer,
    board: BoardConfig,
    bin: string,
    codeIn: "flash" | "ram",
    echo: boolean,
    provision: Provision,
    private readonly anyFormat: boolean,
  ) {
    this.board = board;
    this.provision = provision;
    const apps = board.partitionTable.partitions.filter((p) => p.type === "app");
    this.target = apps[1];
    this.proc = new EspruinoProcess(
      bin,
      (line, boot) => {
        if (echo) process.stderr.write("[espruino " + boot + "] " + line + "\n");
        const e = parseStubLine(line);
        if (e) this.onEvent(e, boot);
        else {
          if (!this.trouble && OUT_OF_MEMORY.test(line)) this.trouble = new BoardTrouble("oom", "OUT OF MEMORY in boot " + boot + ": " + line.trim().replace(/\s+/g, " "), boot);
          for (const f of this.lineObservers) f(line, boot);
        }
      },
      codeIn === "ram" ? "boot.js" : undefined,
    );
  }

  static async start(o: RealBoardOptions): Promise<RealBoard> {
    const base = o.board ?? loadBoard(join(BOARDS_DIR, LINUX_BOARD + ".json"));
    const broker = await startBroker("aedes");
    let cloud: TencentOtaCloud | null = null;
    let server: FirmwareServer | null = null;
    try {
      cloud = await TencentOtaCloud.start({ brokerUrl: broker.url });
      server = await startFirmwareServer();
      const adjusted = o.adjust ? o.adjust(base) : base;
      const provision = o.provision ?? BENCH_PROVISION;
      const board: BoardConfig = { ...adjusted, mqtt: { ...adjusted.mqtt, host: "127.0.0.1", port: broker.port } };
      const rb = new RealBoard(broker, cloud, server, board, o.bin, o.codeIn ?? "flash", !!o.echo, provision, !!o.anyFormat);
      const bundle = await buildBundle(board);
      const initialImage = buildAppImage({ version: "1.0.0", projectName: "espruino", size: 0x4000, seed: 7 });
      rb.plan = installPlan({
        agentFiles: agentStorageFiles(bundle, provision),
        stub: { flashBase: LINUX_FLASH_BASE, heap: o.heap },
        app: o.app ? appProgram(o.app) : undefined,
        codeIn: o.codeIn,
      });
      for (const [name, data] of Object.entries(o.files ?? {})) rb.plan.files.push({ name, data });
      rb.proc.writeFlash(linuxFlashFile(board, initialImage, rb.plan.files));
      if (o.codeIn === "ram") rb.proc.writeFile("boot.js", rb.plan.script as string);
      return rb;
    } catch (e) {
      if (cloud) await cloud.close();
      if (server) await server.close();
      await broker.close();
      throw e;
    }
  }

  get key(): { productId: string; deviceName: string } {
    return { productId: this.provision.productId, deviceName: this.provision.deviceName };
  }

  /** The boot now running (or the last one). */
  get memory(): BootMemory | undefined {
    return this.bootMemory[this.proc.boots - 1];
  }

  /** The last console lines, for a note or an error. */
  tail(n = 40): string[] {
    return this.proc.log.filter((l) => !l.includes("@@")).slice(-n);
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

  /**
   * Resolves when `pred` holds for the device's record; rejects at once with the BoardTrouble
   * when the board runs out of memory (or is the wrong format), else after `timeoutMs`.
   */
  waitFor(pred: (d: DeviceRecord) => boolean, timeoutMs: number, what: string): Promise<DeviceRecord> {
    const rec = this.record;
    return new Promise((resolve, reject) => {
      let over = false;
      const finish = (err?: Error) => {
        if (over) return;
        over = true;
        clearInterval(poll);
        clearTimeout(timer);
        off();
        if (err) reject(err);
        else resolve(rec);
      };
      const check = () => {
        if (pred(rec)) finish();
        else if (this.trouble) finish(this.trouble);
      };
      const off = this.cloud.onChange(check);
      const poll = setInterval(check, 100);
      const timer = setTimeout(
        () => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (real interpreter) on ${rec.key}; last reports: ${JSON.stringify(rec.reports.slice(-3))}`)),
        timeoutMs,
      );
      check();
    });
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
        this.bootMemory[boot - 1] = { boot, start: e.usage, loaded: 0, peak: e.usage, ballast: 0, free: e.total - e.usage, base: e.usage };
        this.blockSize = e.blockSize;
        if (!this.anyFormat && e.blockSize !== ESP32_BLOCKSIZE && !this.trouble) {
          this.trouble = new BoardTrouble("format", formatProblem(this.proc.bin, { blockSize: e.blockSize, total: e.total }) as string, boot);
        }
        break;
      case "ballast": {
        const bm = this.bootMemory[boot - 1];
        if (bm) Object.assign(bm, { ballast: e.ballast, free: e.free, base: e.base, peak: e.base });
        break;
      }
      case "app":
        this.appHeld = e.held;
        break;
      case "gap":
        this.appGaps.push({ boot, ms: e.ms, tick: e.tick });
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
