// The global invariants of the campaign, checked after every scenario and at every power
// cut: the bootloader model (src/host/image/boot-model.ts, written apart from the agent's
// own otadata code) finds a valid image; the slot it boots holds exactly the old image or
// a new one; nothing outside the target slot, otadata and journal changed (every flash
// operation is audited as it happens, and the regions are hashed at the end); the NOR
// model saw no illegal operation.
import { createHash } from "node:crypto";
import type { BoardConfig, PartitionSpec } from "../../core/board";
import { readAppDescriptor } from "../../core/esp32/app-image";
import { simulateBoot } from "../image/boot-model";
import { NorFlash } from "../runtime/nor-flash";
import type { InvariantCounts } from "./types";

export interface Region {
  name: string;
  start: number;
  end: number;
}

export interface BootState {
  slot: string | null;
  offset: number;
  version: string | null;
}

const hex = (n: number) => "0x" + n.toString(16);
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

export function emptyCounts(): InvariantCounts {
  return { unbootable: 0, corruptAccepted: 0, outsideWrites: 0, flashViolations: 0, deviceViolations: 0, uncaught: 0, noCompleteApp: 0, details: [] };
}

export function addCounts(into: InvariantCounts, from: InvariantCounts): void {
  into.unbootable += from.unbootable;
  into.corruptAccepted += from.corruptAccepted;
  into.outsideWrites += from.outsideWrites;
  into.flashViolations += from.flashViolations;
  into.deviceViolations += from.deviceViolations;
  into.uncaught += from.uncaught;
  into.noCompleteApp += from.noCompleteApp;
  into.details.push(...from.details);
}

export function countsClean(c: InvariantCounts): boolean {
  return c.unbootable + c.corruptAccepted + c.outsideWrites + c.flashViolations + c.deviceViolations + c.uncaught + c.noCompleteApp === 0;
}

/** What the bootloader would boot from this flash (without keeping its otadata writes). */
export function bootState(flash: Uint8Array, board: BoardConfig): BootState {
  const out = simulateBoot(flash, { rollbackBootloader: board.bootloaderRollback, tableOffset: board.partitionTable.offset });
  if (!out.booted) return { slot: null, offset: -1, version: null };
  const d = readAppDescriptor(new NorFlash({ size: flash.length, image: out.flash }).asPort(), out.booted.offset);
  return { slot: out.booted.label, offset: out.booted.offset, version: d ? d.version : null };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The app slots the agent may write: every app slot except the one running when the board
 * left the factory (single-update scenarios never write the running slot).
 */
export function allowedRegions(board: BoardConfig, initialFlash: Uint8Array): Region[] {
  const running = bootState(initialFlash, board).slot;
  const parts = board.partitionTable.partitions;
  const out: Region[] = parts
    .filter((p) => (p.type === "app" && p.label !== running) || (p.type === "data" && p.subtype === "ota"))
    .map((p) => ({ name: p.label, start: p.offset, end: p.offset + p.size }));
  out.push({ name: "journal", start: board.journal.offset, end: board.journal.offset + board.journal.size });
  return out;
}

function regionName(board: BoardConfig, offset: number): string {
  if (offset >= board.partitionTable.offset && offset < board.partitionTable.offset + 0x1000) return "partition table";
  const p = board.partitionTable.partitions.find((x: PartitionSpec) => offset >= x.offset && offset < x.offset + x.size);
  return p ? p.label : offset < board.partitionTable.offset ? "bootloader" : "unpartitioned flash";
}

/**
 * Watches every erase and write a NorFlash performs (after FlashWatch, so both see the same
 * operations) and records those outside the allowed regions. `onOp` lets callers classify
 * operations (the power-cut matrix labels each with its update phase).
 */
export class FlashAudit {
  readonly outside: string[] = [];
  ops = 0;
  private restore: () => void;

  constructor(
    flash: NorFlash,
    private board: BoardConfig,
    private allowed: Region[],
    onOp?: (kind: "erase" | "write", offset: number, length: number) => void,
  ) {
    const erase = flash.erase;
    const write = flash.write;
    flash.erase = (offset: number) => {
      this.check("erase", offset, 4096);
      onOp?.("erase", offset, 4096);
      erase.call(flash, offset);
    };
    flash.write = (offset: number, data: Uint8Array) => {
      this.check("write", offset, data.length);
      onOp?.("write", offset, data.length);
      write.call(flash, offset, data);
    };
    this.restore = () => {
      flash.erase = erase;
      flash.write = write;
    };
  }

  stop(): void {
    this.restore();
  }

  private check(kind: string, offset: number, length: number): void {
    this.ops++;
    const inside = this.allowed.some((r) => offset >= r.start && offset + length <= r.end);
    if (!inside && this.outside.length < 50) this.outside.push(`${kind} of ${length} bytes at ${hex(offset)} (${regionName(this.board, offset)})`);
  }
}

/** Regions outside `allowed` whose bytes differ between the two flash images. */
export function changedOutside(before: Uint8Array, after: Uint8Array, board: BoardConfig, allowed: Region[]): string[] {
  const spans = allowed.map((r) => [r.start, r.end]).sort((a, b) => a[0] - b[0]);
  const out: string[] = [];
  let at = 0;
  for (const [s, e] of spans.concat([[after.length, after.length]])) {
    if (s > at && sha(after.subarray(at, s)) !== sha(before.subarray(at, s))) {
      let first = at;
      while (first < s && after[first] === before[first]) first++;
      out.push(`flash ${hex(at)}..${hex(s)} changed (first at ${hex(first)}, ${regionName(board, first)})`);
    }
    at = Math.max(at, e);
  }
  return out;
}

/**
 * Whether the slot the bootloader picks holds exactly a known image: one of `images`
 * (compared over its length), or the slot's factory contents (the old image, untouched).
 */
export function bootsKnownImage(flash: Uint8Array, initialFlash: Uint8Array, board: BoardConfig, images: Uint8Array[]): { state: BootState; known: boolean; which: string } {
  const state = bootState(flash, board);
  if (!state.slot) return { state, known: false, which: "nothing bootable" };
  const slot = board.partitionTable.partitions.find((p) => p.label === state.slot)!;
  if (equalBytes(flash.subarray(slot.offset, slot.offset + slot.size), initialFlash.subarray(slot.offset, slot.offset + slot.size))) {
    return { state, known: true, which: "factory contents of " + slot.label };
  }
  for (let i = 0; i < images.length; i++) {
    if (equalBytes(flash.subarray(slot.offset, slot.offset + images[i].length), images[i])) return { state, known: true, which: "image #" + i };
  }
  return { state, known: false, which: slot.label + " holds bytes that are neither the old nor a new image" };
}

/**
 * Checks one flash state (at a power cut, at a boot, at the end) and adds what is wrong to `c`.
 * Returns the boot state for the caller's own checks.
 */
export function checkBootable(c: InvariantCounts, where: string, flash: Uint8Array, initialFlash: Uint8Array, board: BoardConfig, images: Uint8Array[]): BootState {
  const r = bootsKnownImage(flash, initialFlash, board, images);
  if (!r.state.slot) {
    c.unbootable++;
    c.details.push(`${where}: the bootloader finds no valid image`);
  } else if (!r.known) {
    c.corruptAccepted++;
    c.details.push(`${where}: ${r.which}`);
  }
  return r.state;
}
