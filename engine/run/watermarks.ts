import type { Stateful } from '../state.ts';

/**
 * Watermarks of a topology's inputs (docs/semantics.md, time). Each source partition is a slot with
 * `W = max event time seen - outOfOrder`; the topology's watermark is the min over slots, leaving
 * out slots that are finished (a bounded partition at its end) or idle for their `idleTimeout`
 * (processing time, from an injectable clock); when every unfinished slot is idle, the most advanced
 * one sets it. It never moves back.
 */
interface WatermarksState {
  maxTime: number[];
  excluded: boolean[];
  finished: boolean[];
  current: number;
}

export class WatermarkTracker implements Stateful {
  private readonly maxTime: number[] = [];
  private readonly outOfOrder: number[] = [];
  private readonly idleTimeout: number[] = [];
  private readonly lastActive: number[] = [];
  private readonly excluded: boolean[] = [];
  private readonly finished: boolean[] = [];
  private min = -Infinity;
  private current = -Infinity;

  constructor(private readonly clock: () => number) {}

  /** Adds a slot; returns its index. */
  addSlot(outOfOrder: number, idleTimeout: number): number {
    this.maxTime.push(-Infinity);
    this.outOfOrder.push(outOfOrder);
    this.idleTimeout.push(idleTimeout);
    this.lastActive.push(this.clock());
    this.excluded.push(false);
    this.finished.push(false);
    this.min = -Infinity;
    return this.maxTime.length - 1;
  }

  get watermark(): number {
    return this.current;
  }

  /**
   * Records an event time on a slot. Returns true when the topology watermark moved forward.
   * O(1) unless this slot held the minimum.
   */
  observe(slot: number, time: number): boolean {
    if (this.idleTimeout[slot]! < Infinity) this.lastActive[slot] = this.clock();
    const wasExcluded = this.excluded[slot]!;
    this.excluded[slot] = false;
    const before = this.maxTime[slot]! - this.outOfOrder[slot]!;
    if (time > this.maxTime[slot]!) this.maxTime[slot] = time;
    if (!wasExcluded && before > this.min) return false;
    return this.recompute();
  }

  /** Marks a bounded slot as finished: it no longer holds the watermark back. */
  finish(slot: number): boolean {
    this.finished[slot] = true;
    this.excluded[slot] = true;
    return this.recompute();
  }

  isFinished(slot: number): boolean {
    return this.finished[slot] === true;
  }

  /** Leaves out slots idle past their timeout; returns true when the watermark moved forward. */
  checkIdle(): boolean {
    const now = this.clock();
    let changed = false;
    for (let i = 0; i < this.maxTime.length; i++) {
      if (!this.excluded[i] && now - this.lastActive[i]! >= this.idleTimeout[i]!) {
        this.excluded[i] = true;
        changed = true;
      }
    }
    return changed && this.recompute();
  }

  snapshot(): WatermarksState {
    return { maxTime: [...this.maxTime], excluded: [...this.excluded], finished: [...this.finished], current: this.current };
  }

  /** Restores slots saved by a run with the same sources and partitions (checked by the caller). */
  restore(state: unknown): void {
    const saved = state as WatermarksState;
    if (saved.maxTime.length !== this.maxTime.length) {
      throw new Error(`the checkpoint has ${saved.maxTime.length} source partitions, this run ${this.maxTime.length}`);
    }
    const now = this.clock();
    for (let i = 0; i < saved.maxTime.length; i++) {
      this.maxTime[i] = saved.maxTime[i]!;
      this.excluded[i] = saved.excluded[i]!;
      this.finished[i] = saved.finished[i]!;
      this.lastActive[i] = now;
    }
    this.current = saved.current;
    this.recompute();
  }

  private recompute(): boolean {
    let min = Infinity;
    let idle = false;
    let idleMax = -Infinity;
    for (let i = 0; i < this.maxTime.length; i++) {
      const w = this.maxTime[i]! - this.outOfOrder[i]!;
      if (!this.excluded[i]) {
        if (w < min) min = w;
      } else if (!this.finished[i]) {
        idle = true;
        if (w > idleMax) idleMax = w;
      }
    }
    // Every unfinished slot idle: the whole input is quiet, so what is due up to the most advanced
    // slot fires (nothing when none has seen an event yet: the watermark stays). Only when every
    // slot is finished (bounded input at its end) does it become +inf.
    if (min === Infinity && idle) min = idleMax;
    this.min = min;
    if (min > this.current) {
      this.current = min;
      return true;
    }
    return false;
  }
}
