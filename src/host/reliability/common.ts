// Building blocks shared by the scenario files: the report sequences a clean update
// produces, a seeded generator, and `updateScenario`, which covers the common drive
// (arm faults, power on, push 1.1.0, wait for the end, run the scenario's own checks).
import type { FirmwareOffer } from "../cloud/tencent-ota-cloud";
import { withHarness, type Harness, type HarnessOptions } from "./harness";
import type { Expected, Group, Scenario, ScenarioContext } from "./types";
import { seededRandom } from "../seeded-random";

/** A clean update, as the cloud sees it. */
export const HAPPY = ["version 1.0.0", "downloading 0", "downloading 100", "burning", "version 1.1.0", "done"];
/** A clean update after one MQTT reconnect (report_version again, then the same push is taken). */
export const HAPPY_RECONNECTED = ["version 1.0.0", "downloading 0", "version 1.0.0", "downloading 100", "burning", "version 1.1.0", "done"];

export const SPAN = 65536;
export const IMAGE = 192 * 1024;

/** For fault offsets and sample points that repeat with the seed. */
export const rng = seededRandom;

/** An integer in [lo, hi]. */
export function between(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

export interface UpdateScenario {
  id: string;
  name: string;
  group: Group;
  expected: Expected;
  quick?: boolean;
  timeoutSec?: number;
  harness?: HarnessOptions | ((ctx: ScenarioContext) => HarnessOptions | Promise<HarnessOptions>);
  /** Before the first power-on (arm server faults here). */
  before?: (h: Harness, ctx: ScenarioContext) => void | Promise<void>;
  /** What to push (default: h.offer()). */
  offer?: (h: Harness) => FirmwareOffer;
  /** Right after the push (arm flash-progress triggers here). */
  during?: (h: Harness, ctx: ScenarioContext) => void | Promise<void>;
  /** After the update ended: the scenario's own checks (h.check / h.fact). */
  after?: (h: Harness, ctx: ScenarioContext) => void | Promise<void>;
  /** How long the update may take (ms). */
  waitMs?: number;
}

/** One update of 1.1.0 under whatever `before` / `during` arrange. */
export function updateScenario(u: UpdateScenario): Scenario {
  return {
    id: u.id,
    name: u.name,
    group: u.group,
    expected: u.expected,
    quick: u.quick,
    timeoutSec: u.timeoutSec,
    run: async (ctx) => {
      const opts = typeof u.harness === "function" ? await u.harness(ctx) : u.harness ?? {};
      return withHarness({ seed: ctx.seed, ...opts }, u.expected, async (h) => {
        await u.before?.(h, ctx);
        await h.powerOn();
        h.deploy(u.offer ? u.offer(h) : h.offer());
        await u.during?.(h, ctx);
        await h.waitEnded(h.version, u.waitMs ?? 45000);
        // let late reports (report_version after a rollback, a second done) arrive
        await new Promise((r) => setTimeout(r, 150));
        await u.after?.(h, ctx);
      });
    },
  };
}

/** Checks that every byte was fetched exactly once. */
export function nothingFetchedTwice(h: Harness): void {
  h.check(h.bytesFetched === h.run.image.length, `fetched ${h.bytesFetched} bytes for a ${h.run.image.length}-byte image (expected every byte exactly once)`);
}

/** Checks the refetch stays within `spans` request spans. */
export function refetchWithin(h: Harness, spans: number): void {
  const extra = h.bytesFetched - h.run.image.length;
  h.check(extra <= spans * h.board.download.spanBytes, `fetched ${extra} bytes beyond the image, more than ${spans} span(s) of ${h.board.download.spanBytes}`);
}

/** How the server's requests ended, e.g. "complete x3, reset x1". */
export function requestEnds(h: Harness): string {
  const m = new Map<string, number>();
  for (const r of h.run.server.requests) {
    const k = r.status + " " + r.end;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return [...m].map(([k, n]) => `${k} x${n}`).join(", ");
}
