// What the cloud saw, and what the flash holds, in the compact forms the end-to-end tests and
// the reliability campaign compare.
// Intermediate download percentages depend on timing (the throttle reports at most once
// a second), so only 0 % and 100 % are kept; the rest are checked for their shape.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { BoardConfig } from "../../core/board";
import { simulateBoot } from "../image/boot-model";
import { readAppDescriptor } from "../../core/esp32/app-image";
import { Journal } from "../../core/journal/journal";
import { loadOtaState, type OtaState } from "../../core/journal/ota-state";
import { NorFlash } from "../runtime/nor-flash";

export function story(reports: Record<string, any>[], withVersion = false): string[] {
  const out: string[] = [];
  for (const r of reports) {
    if (r.type === "report_version") out.push("version " + r.report.version);
    else if (r.type === "report_progress") {
      const p = r.report.progress;
      const at = withVersion ? " @" + r.report.version : "";
      if (p.state === "downloading") {
        if (p.percent === "0" || p.percent === "100") out.push("downloading " + p.percent + at);
      } else if (p.state === "fail") out.push("fail " + p.result_code + at);
      else out.push(p.state + at);
    } else out.push("other " + JSON.stringify(r));
  }
  return out;
}

/** Every progress report: strings for percent and result_code, non-decreasing percents within one download. */
export function checkProgressShape(reports: Record<string, any>[]): void {
  let last = -1;
  for (const r of reports) {
    if (r.type !== "report_progress") {
      last = -1;
      continue;
    }
    const p = r.report.progress;
    assert.equal(typeof p.result_code, "string");
    if (p.state !== "downloading") continue;
    assert.equal(typeof p.percent, "string");
    const n = Number(p.percent);
    assert.ok(n >= 0 && n <= 100);
    if (n < last && n !== 0) assert.fail(`progress went back from ${last} to ${n}`);
    last = n;
  }
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Which version the bootloader boots from this flash. */
export function bootedVersion(flash: Uint8Array, board: BoardConfig): string | null {
  const out = simulateBoot(flash, { rollbackBootloader: board.bootloaderRollback, tableOffset: board.partitionTable.offset });
  if (!out.booted) return null;
  const d = readAppDescriptor(new NorFlash({ size: flash.length, image: out.flash }).asPort(), out.booted.offset);
  return d ? d.version : null;
}

export function journalState(flash: Uint8Array, board: BoardConfig): OtaState | null {
  return loadOtaState(new Journal(new NorFlash({ size: flash.length, image: flash }).asPort(), board.journal));
}

/** Asserts that nothing outside the app slots, otadata and the journal changed. */
export function checkUntouched(before: Uint8Array, after: Uint8Array, board: BoardConfig, running: string[] = []): void {
  const writable = board.partitionTable.partitions.filter((p) => (p.type === "app" && !running.includes(p.label)) || p.subtype === "ota");
  const regions = writable.map((p) => [p.offset, p.offset + p.size]).concat([[board.journal.offset, board.journal.offset + board.journal.size]]);
  regions.sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [s, e] of regions.concat([[after.length, after.length]])) {
    if (s > at) assert.equal(sha(after.subarray(at, s)), sha(before.subarray(at, s)), `flash 0x${at.toString(16)}..0x${s.toString(16)} changed`);
    at = Math.max(at, e);
  }
}
