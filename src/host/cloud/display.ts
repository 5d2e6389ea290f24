// How `ota-cloud` shows devices: live progress lines while an update runs (redrawn in place
// on a terminal, a log line per change otherwise) and the result table at the end, which
// `ota-cloud status` prints too. The table has one whitespace-separated row per device
// (the free-text message last), so scripts and tests can read it.
import type { DeviceStatus } from "./service";

export function formatBytes(n: number): string {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
  return (n / 1024 / 1024).toFixed(2) + " MB";
}

export function formatRate(bytesPerSecond: number): string {
  return bytesPerSecond > 0 ? formatBytes(Math.round(bytesPerSecond)) + "/s" : "-";
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1) + " s";
}

function bar(percent: number, width = 24): string {
  const p = Math.max(0, Math.min(100, percent || 0));
  const full = Math.round((p / 100) * width);
  return "[" + "#".repeat(full) + ".".repeat(width - full) + "]";
}

/** One live line: device, bar, percent, state, throughput, result code. */
export function progressLine(s: DeviceStatus, keyWidth: number): string {
  const code = s.resultCode ?? "-";
  return `${s.key.padEnd(keyWidth)}  ${bar(s.percent)} ${String(s.percent).padStart(3)}%  ${s.state.padEnd(11)} ${formatRate(s.throughput).padStart(11)}  code ${code}`;
}

export const TABLE_COLUMNS = ["device", "result", "version", "percent", "code", "fetched", "x_image", "requests", "time", "message"];

/** The final table: one row per device, then a tally line. */
export function resultTable(statuses: DeviceStatus[], imageBytes: number | ((s: DeviceStatus) => number), now = Date.now()): string {
  const sizeOf = typeof imageBytes === "number" ? () => imageBytes : imageBytes;
  const rows = statuses.map((s) => [
    s.key,
    s.state,
    s.reportedVersion ?? "-",
    String(s.percent),
    s.resultCode ?? "-",
    String(s.bytes),
    sizeOf(s) > 0 ? (s.bytes / sizeOf(s)).toFixed(2) : "-",
    String(s.requests),
    seconds((s.endedAt ?? now) - s.startedAt).replace(" ", ""),
    s.resultMsg ? s.resultMsg : "",
  ]);
  const all = [TABLE_COLUMNS, ...rows];
  const widths = TABLE_COLUMNS.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const lines = all.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i])))
      .join("  ")
      .trimEnd(),
  );
  return lines.join("\n") + "\n" + tally(statuses);
}

export function tally(statuses: DeviceStatus[]): string {
  const count = (state: string) => statuses.filter((s) => s.state === state).length;
  const parts = [`${count("done")} done`, `${count("failed")} failed`];
  for (const other of ["timeout", "offline"]) if (count(other)) parts.push(`${count(other)} ${other === "timeout" ? "timed out" : "offline"}`);
  return `${statuses.length} device${statuses.length === 1 ? "" : "s"}: ${parts.join(", ")}`;
}

/** Reads rows back from a printed table (tests, scripts): column name -> cell. */
export function parseResultTable(text: string): Record<string, string>[] {
  const lines = text.split("\n");
  const head = lines.findIndex((l) => l.startsWith("device ") && l.includes(" result ") && l.includes(" x_image "));
  if (head < 0) return [];
  const out: Record<string, string>[] = [];
  for (const line of lines.slice(head + 1)) {
    if (!line.trim() || /^\d+ devices?: /.test(line)) break;
    const cells = line.trim().split(/\s+/);
    const row: Record<string, string> = {};
    TABLE_COLUMNS.forEach((c, i) => (row[c] = i === TABLE_COLUMNS.length - 1 ? cells.slice(i).join(" ") : (cells[i] ?? "")));
    out.push(row);
  }
  return out;
}

/** Live progress on a stream: redrawn in place on a TTY, one line per notable change otherwise. */
export class LiveView {
  private drawn = 0;
  private printed = new Map<string, { state: string; percent: number }>();
  private readonly t0 = Date.now();

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly tty: boolean,
  ) {}

  update(statuses: DeviceStatus[]): void {
    const w = Math.max(...statuses.map((s) => s.key.length), 6);
    if (this.tty) {
      // redrawn in place, so it must fit the screen: unfinished devices first, the rest counted
      const room = Math.max(3, ((this.out as { rows?: number }).rows ?? 40) - 3);
      let shown = statuses;
      let more = "";
      if (statuses.length > room) {
        const open = statuses.filter((s) => !["done", "failed", "timeout", "offline"].includes(s.state));
        const ended = statuses.filter((s) => !open.includes(s));
        shown = open.concat(ended).slice(0, room - 1);
        more = `… and ${statuses.length - shown.length} more; ${tally(statuses)}`;
      }
      const lines = shown.map((s) => progressLine(s, w));
      if (more) lines.push(more);
      while (lines.length < this.drawn) lines.push(""); // clear what a longer frame left below
      let text = this.drawn ? `\x1b[${this.drawn}A` : "";
      for (const l of lines) text += "\x1b[2K" + l + "\n";
      this.drawn = lines.length;
      this.out.write(text);
      return;
    }
    for (const s of statuses) {
      const last = this.printed.get(s.key);
      const notable = !last || last.state !== s.state || (s.state === "downloading" && s.percent - last.percent >= 25);
      if (!notable) continue;
      this.printed.set(s.key, { state: s.state, percent: s.percent });
      this.out.write(`${seconds(Date.now() - this.t0).padStart(8)}  ${progressLine(s, w)}\n`);
    }
  }
}
