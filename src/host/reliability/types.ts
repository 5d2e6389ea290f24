// The campaign as data: every scenario says what it does, what a best-in-class agent must
// do (the expectation), and how to run it. The runner (runner.ts) compares what it saw with
// the expectation and checks the global invariants (invariants.ts) after every scenario.

export type Group = "power-cut" | "app-power-cut" | "network" | "mqtt" | "hostile-input";

/**
 * How an update (or a hostile message) ended, as the cloud saw it.
 * - done: the update completed and the new image reported done;
 * - failed: the agent reported fail with a result code;
 * - ignored: the agent reported nothing for it (no addressable version) and logged why;
 * - board-error: a board file was refused at load time (no device involved);
 * - timeout / crashed: the scenario did not end (never expected; always a mismatch).
 */
export type Outcome = "done" | "failed" | "ignored" | "board-error" | "timeout" | "crashed";

export interface Expected {
  outcome: Outcome;
  /** Tencent result_code of the fail report ("-1" .. "-5"). */
  code?: string;
  /** The exact compressed report sequence (story() with versions when `storyVersions`). */
  story?: string[];
  /** Or its essential shape, when the exact sequence depends on where a fault lands. */
  shape?: { pattern: RegExp; text: string };
  storyVersions?: boolean;
  /** result_msg of the fail report (or the BoardError text) must match. */
  msg?: RegExp;
  /** A device log line that must appear: the clear error a hostile input gets. */
  log?: RegExp;
  /** Version the bootloader boots when the scenario is over. */
  runs?: string;
  /** A normal update pushed afterwards in the same run completes (the agent kept running). */
  thenUpdates?: boolean;
  /** Behaviour in words, for the report (the checks the run function makes itself). */
  notes?: string;
}

/** Global invariants, checked after every scenario (and at every power cut). */
export interface InvariantCounts {
  /** States in which the bootloader model found no valid image to boot. */
  unbootable: number;
  /** Boots (or final states) whose booted slot held bytes that are neither the old nor a new image. */
  corruptAccepted: number;
  /** Flash operations that touched a region outside target slot, otadata and journal, plus changed regions found by hashing. */
  outsideWrites: number;
  /** NorFlash.violations (setting bits without an erase, out-of-range or oversized writes). */
  flashViolations: number;
  /** Device.violations: things that work in the host runtime but would misbehave on a board. */
  deviceViolations: number;
  /** Uncaught exceptions in the agent. */
  uncaught: number;
  /**
   * Application updates: boots that started no application although one was installed (and the
   * boot was not cut short), or started one whose file is neither the old nor the new package byte
   * for byte (docs/app-ota.md).
   */
  noCompleteApp: number;
  /** Human-readable details of every non-zero count. */
  details: string[];
}

export interface Metrics {
  imageBytes?: number;
  bytesFetched?: number;
  /** Firmware bytes fetched beyond the image size (fetched twice, or discarded). */
  refetched?: number;
  requests?: number;
  reboots?: number;
  powerCuts?: number;
  /** Flash operation the cut was armed at (power-cut matrix). */
  cutAtOp?: number;
  phase?: string;
  /** OTA phase committed in the journal when the cut hit (what the restart falls back to). */
  journal?: string;
  durationMs?: number;
}

export interface Observed {
  outcome: Outcome;
  code?: string;
  msg?: string;
  story: string[];
  /** Version the bootloader boots at the end (null: nothing bootable). */
  runs?: string | null;
  thenUpdated?: boolean;
  /** Whether a device log line matched Expected.log. */
  logMatched?: boolean;
  /** Scenario-specific checks that failed (e.g. "bytes fetched 300000 > 262144"). */
  problems: string[];
  /** Short facts worth showing in the report (e.g. "restarted from 0 once"). */
  facts: string[];
  metrics: Metrics;
  invariants: InvariantCounts;
  /** The last lines of the device log, kept for mismatches. */
  logTail: string[];
}

export interface ScenarioContext {
  /** Seed for everything random in this scenario (offsets, flash cut leftovers). */
  seed: number;
}

export interface Scenario {
  /** Stable, unique id (used for --only and the CI subset). */
  id: string;
  name: string;
  group: Group;
  expected: Expected;
  run(ctx: ScenarioContext): Promise<Observed>;
  /** Part of the fast seeded subset CI runs. */
  quick?: boolean;
  /** Seconds it may take before it counts as hung (default 60). */
  timeoutSec?: number;
  /** Labels for grouping in the report and for known-bug matching (power cuts: variant, phase, journal). */
  tags?: Record<string, string>;
}

export interface ScenarioResult {
  scenario: Scenario;
  observed: Observed;
  /** Why observed != expected or an invariant broke (empty: pass). */
  mismatches: string[];
}
