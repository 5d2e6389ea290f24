// The bench's figures, each with its target beside it, as a table for people and as one JSON
// line for tools.

export type Verdict = "pass" | "FAIL" | "info" | "not measured" | "error";

export interface Figure {
  /** Stable key for the JSON output. */
  key: string;
  /** Issue #6 item the figure belongs to (1..6, 7 for the blocking turn); 8: issue #10's ESP32 memory model; 9: issue #16's signature check. */
  item: number;
  label: string;
  /** null: not measured (see note). */
  value: number | null;
  unit: string;
  /** Human-readable target, e.g. ">= 6" (null: reported without a target). */
  target: string | null;
  verdict: Verdict;
  note?: string;
}

/** A figure against an upper or lower bound; `shown` replaces the default "<op> <bound>" text. */
export function judged(f: Omit<Figure, "verdict" | "target">, op: "<=" | ">=", bound: number, shown?: string): Figure {
  const target = shown ?? op + " " + bound;
  if (f.value === null || !Number.isFinite(f.value)) return { ...f, target, verdict: "not measured" };
  const ok = op === "<=" ? f.value <= bound : f.value >= bound;
  return { ...f, target, verdict: ok ? "pass" : "FAIL" };
}

export function info(f: Omit<Figure, "verdict" | "target">): Figure {
  return { ...f, target: null, verdict: f.value === null ? "not measured" : "info" };
}

export function notMeasured(key: string, item: number, label: string, unit: string, target: string | null, why: string): Figure {
  return { key, item, label, value: null, unit, target, verdict: "not measured", note: why };
}

export function failed(key: string, item: number, label: string, unit: string, target: string | null, error: unknown): Figure {
  const msg = error instanceof Error ? error.message.split("\n")[0] : String(error);
  return { key, item, label, value: null, unit, target, verdict: "error", note: msg };
}

function shown(f: Figure): string {
  if (f.value === null) return "-";
  const v = f.value;
  const digits = f.unit === "x" || f.unit === "ratio" ? (Math.abs(v) < 10 ? 4 : 1) : Number.isInteger(v) ? 0 : Math.abs(v) < 10 ? 2 : 1;
  return v.toFixed(digits) + (f.unit === "x" ? "x" : f.unit === "ratio" ? "" : " " + f.unit);
}

export function table(figures: Figure[]): string {
  const rows = figures.map((f) => [String(f.item), f.label, shown(f), f.target ?? "", f.verdict, f.note ?? ""]);
  const head = ["#", "figure", "measured", "target", "verdict", "notes"];
  const width = [0, 1, 2, 3, 4].map((i) => Math.max(head[i].length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i < 5 ? c.padEnd(width[i]) : c)).join("  ").trimEnd();
  return [line(head), line(width.map((w) => "-".repeat(w)).concat("-----")), ...rows.map(line)].join("\n");
}

export function jsonLine(figures: Figure[], extra: Record<string, unknown>): string {
  const out: Record<string, unknown> = {};
  for (const f of figures) out[f.key] = { value: f.value, unit: f.unit, target: f.target, verdict: f.verdict, note: f.note };
  return JSON.stringify({ ...extra, figures: out });
}
