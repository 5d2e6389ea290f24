// Runs scenarios (a few at a time), compares each observation with its expectation and
// checks the global invariants. A scenario that throws or hangs is recorded as such, never
// allowed to stop the campaign.
import { isDeepStrictEqual } from "node:util";
import { countsClean, emptyCounts } from "./invariants";
import type { Expected, Observed, Scenario, ScenarioResult } from "./types";

/** Why `o` differs from `e` (empty when it matches), invariants included. */
export function compare(e: Expected, o: Observed): string[] {
  const m: string[] = [];
  if (o.outcome !== e.outcome) m.push(`outcome is ${o.outcome}, expected ${e.outcome}`);
  if (e.code !== undefined && o.code !== e.code) m.push(`fail code is ${o.code ?? "none"}, expected ${e.code}`);
  if (e.story && !isDeepStrictEqual(o.story, e.story)) m.push(`reports were [${o.story.join(", ")}], expected [${e.story.join(", ")}]`);
  if (e.shape && !e.shape.pattern.test(o.story.join(", "))) m.push(`reports [${o.story.join(", ")}] do not have the shape: ${e.shape.text}`);
  if (e.msg && !(o.msg !== undefined && e.msg.test(o.msg))) m.push(`message ${JSON.stringify(o.msg ?? null)} does not match ${e.msg}`);
  if (e.log && !o.logMatched) m.push(`no device log line matches ${e.log}`);
  if (e.runs !== undefined && o.runs !== e.runs) m.push(`the bootloader boots ${o.runs ?? "nothing"}, expected ${e.runs}`);
  if (e.thenUpdates && !o.thenUpdated) m.push("the normal update pushed afterwards did not complete");
  for (const p of o.problems) m.push(p);
  if (!countsClean(o.invariants)) m.push("invariants: " + o.invariants.details.slice(0, 8).join("; "));
  return m;
}

/** A stable per-scenario seed: the campaign seed mixed with the scenario id. */
export function scenarioSeed(base: number, id: string): number {
  let h = (base ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < id.length; i++) h = (Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0) as number;
  return (h % 2147483647) + 1;
}

function crashed(reason: string, outcome: "timeout" | "crashed"): Observed {
  return { outcome, story: [], problems: [reason], facts: [], metrics: {}, invariants: emptyCounts(), logTail: [] };
}

export async function runOne(s: Scenario, baseSeed: number): Promise<ScenarioResult> {
  const t0 = Date.now();
  let observed: Observed;
  let guard: NodeJS.Timeout | undefined;
  try {
    const limit = (s.timeoutSec ?? 60) * 1000;
    observed = await Promise.race([
      s.run({ seed: scenarioSeed(baseSeed, s.id) }),
      new Promise<Observed>((resolve) => {
        guard = setTimeout(() => resolve(crashed(`no result within ${limit / 1000} s`, "timeout")), limit);
      }),
    ]);
  } catch (e) {
    observed = crashed("the scenario threw: " + (e instanceof Error ? e.stack ?? e.message : String(e)), "crashed");
  } finally {
    clearTimeout(guard);
  }
  observed.metrics.durationMs = Date.now() - t0;
  return { scenario: s, observed, mismatches: compare(s.expected, observed) };
}

export interface RunOptions {
  seed: number;
  /** Scenarios run at the same time (each has its own broker, cloud, server and board). */
  concurrency?: number;
  onResult?: (r: ScenarioResult, done: number, total: number) => void;
}

/** Runs every scenario; results come back in the order of `list`. */
export async function runScenarios(list: Scenario[], o: RunOptions): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = new Array(list.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < list.length) {
      const i = next++;
      results[i] = await runOne(list[i], o.seed);
      done++;
      o.onResult?.(results[i], done, list.length);
    }
  };
  const n = Math.max(1, Math.min(o.concurrency ?? 1, list.length));
  await Promise.all(Array.from({ length: n }, worker));
  return results;
}
