// Watches a simulated board's flash operations (without changing them) to count journal
// erases, follow how far the new image has reached in its slot, and arm power cuts at
// chosen points of an update.
import type { BoardConfig } from "../../core/board";
import type { NorFlash } from "../runtime/nor-flash";

interface Trigger {
  when: () => boolean;
  fire: () => void;
}

export class FlashWatch {
  journalErases = 0;
  /** Highest byte written into an app slot (slot-relative), per slot offset. */
  readonly slotProgress = new Map<number, number>();
  private triggers: Trigger[] = [];
  private readonly restore: () => void;
  private apps: { offset: number; size: number }[];

  constructor(
    private readonly flash: NorFlash,
    private readonly board: BoardConfig,
  ) {
    this.apps = board.partitionTable.partitions.filter((p) => p.type === "app");
    const erase = flash.erase.bind(flash);
    const write = flash.write.bind(flash);
    const j = board.journal;
    flash.erase = (offset: number) => {
      if (offset >= j.offset && offset < j.offset + j.size) this.journalErases++;
      this.check();
      erase(offset);
    };
    flash.write = (offset: number, data: Uint8Array) => {
      this.check();
      write(offset, data);
      const app = this.apps.find((a) => offset >= a.offset && offset < a.offset + a.size);
      if (app) this.slotProgress.set(app.offset, Math.max(this.slotProgress.get(app.offset) ?? 0, offset + data.length - app.offset));
    };
    this.restore = () => {
      flash.erase = erase;
      flash.write = write;
    };
  }

  /** The furthest any app slot has been written (the slot being updated). */
  get progress(): number {
    let m = 0;
    for (const v of this.slotProgress.values()) m = Math.max(m, v);
    return m;
  }

  /** Cuts power during the first flash operation after `bytes` of the image are in the slot. */
  cutWhenSlotReaches(bytes: number, onCut: () => void): void {
    this.arm(() => this.progress >= bytes, 1, onCut);
  }

  /** Calls `fn` (once) before the first flash operation after `bytes` of the image are in the slot. */
  whenSlotReaches(bytes: number, fn: () => void): void {
    this.triggers.push({ when: () => this.progress >= bytes, fire: fn });
  }

  /** Once the whole image is written, cuts power during the n-th flash operation after that. */
  cutDuringSwitch(imageBytes: number, n: number, onCut: () => void): void {
    this.arm(() => this.progress >= imageBytes, n, onCut);
  }

  stop(): void {
    this.triggers = [];
    this.restore();
  }

  private arm(when: () => boolean, opsAfter: number, onCut: () => void): void {
    this.triggers.push({
      when,
      fire: () => {
        this.flash.onPowerCut = () => {
          this.flash.onPowerCut = undefined;
          onCut();
        };
        this.flash.cutPowerAfter(opsAfter);
      },
    });
  }

  /** Fires at most one trigger per operation, before the operation runs. */
  private check(): void {
    const t = this.triggers.find((x) => x.when());
    if (!t) return;
    this.triggers = this.triggers.filter((x) => x !== t);
    t.fire();
  }
}
