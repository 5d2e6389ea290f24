// One "board" made of Espruino's Linux interpreter (ESPRUINO_BIN): a process started in its
// own temporary directory, whose espruino.flash is the board's flash. Started without
// arguments it boots like a board (runs Storage's .bootcde); stdin stays open because the
// interactive build reads its console from it. Killing the process is a power cut; starting
// it again on the same directory is power on.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The interpreter the user pointed the bench at, or null. */
export function espruinoBin(env: NodeJS.ProcessEnv = process.env): string | null {
  const bin = env.ESPRUINO_BIN;
  if (!bin) return null;
  if (!existsSync(bin)) throw new Error("ESPRUINO_BIN=" + bin + " does not exist");
  return bin;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

// The interactive interpreter ignores SIGTERM and a closed stdin, so an interrupted bench must
// not leave its boards running: every live child is killed when this process ends.
const live = new Set<ChildProcess>();
let exitHooked = false;
function killLive(): void {
  for (const c of live) c.kill("SIGKILL");
  live.clear();
}
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once("exit", killLive);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      killLive();
      process.exit(128 + (sig === "SIGINT" ? 2 : 15));
    });
  }
}

export class EspruinoProcess {
  readonly dir: string;
  boots = 0;
  /** Every console line of every boot (prompts and escapes removed). */
  readonly log: string[] = [];
  private child: ChildProcess | null = null;
  private exited: Promise<number | null> = Promise.resolve(null);
  private partial = "";

  /**
   * @param script  run this file (code text in RAM) instead of booting from .bootcde (code in
   *                flash): the Linux build reads flash through file I/O 16 bytes at a time, far
   *                slower than an ESP32's cached flash, so timings are taken with code in RAM.
   */
  constructor(
    readonly bin: string,
    private readonly onLine: (line: string, boot: number) => void,
    private readonly script?: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "espruino-linux-"));
  }

  get flashPath(): string {
    return join(this.dir, "espruino.flash");
  }

  writeFlash(bytes: Uint8Array): void {
    writeFileSync(this.flashPath, bytes);
  }

  /** Writes a file into the process directory (the script of a `script` run). */
  writeFile(name: string, text: string): void {
    writeFileSync(join(this.dir, name), text, "latin1");
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Starts the interpreter (a boot); resolves nothing, lines arrive through onLine. */
  powerOn(): void {
    if (this.child) throw new Error("already running");
    this.boots++;
    const boot = this.boots;
    const child = spawn(this.bin, this.script ? [this.script] : [], { cwd: this.dir, stdio: ["pipe", "pipe", "pipe"] });
    this.child = child;
    hookExit();
    live.add(child);
    this.partial = "";
    child.stdout!.setEncoding("latin1");
    child.stdout!.on("data", (s: string) => this.take(s, boot));
    child.stderr!.on("data", () => undefined);
    child.stdin!.on("error", () => undefined);
    this.exited = new Promise((resolve) => {
      // "close" (not "exit"): every line the boot printed has been read by then.
      child.once("close", (code) => {
        live.delete(child);
        if (this.partial) this.emit(this.partial, boot);
        this.partial = "";
        if (this.child === child) this.child = null;
        resolve(code);
      });
      child.once("error", () => {
        live.delete(child);
        if (this.child === child) this.child = null;
        resolve(null);
      });
    });
  }

  /** Resolves when the current boot has ended by itself (quit() after ESP32.reboot()). */
  whenExited(): Promise<number | null> {
    return this.exited;
  }

  /** Power cut: the process dies on the spot, whatever it was doing. */
  async powerCut(): Promise<void> {
    const c = this.child;
    if (!c) return;
    c.kill("SIGKILL");
    await this.exited;
  }

  async close(): Promise<void> {
    await this.powerCut();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private take(s: string, boot: number): void {
    const text = this.partial + s;
    const lines = text.split(/\r?\n/);
    this.partial = lines.pop() ?? "";
    for (const l of lines) this.emit(l, boot);
  }

  private emit(raw: string, boot: number): void {
    const line = raw.replace(ANSI, "").replace(/^>+/, "").replace(/\r/g, "");
    if (!line.trim()) return;
    this.log.push(line);
    this.onLine(line, boot);
  }
}
