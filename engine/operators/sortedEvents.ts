/** An event a join keeps, with its event time and arrival order. */
export interface HeldEvent {
  readonly time: number;
  /** Arrival order in the operator: breaks ties between equal times. */
  readonly seq: number;
  readonly event: unknown;
  /** An interval join's left event has found a partner. */
  matched: boolean;
}

/**
 * One key's events of one side, sorted by event time, then arrival. Events arrive mostly in time
 * order, so inserting is mostly an append; the oldest are removed from the front (by moving a head
 * index, compacting now and then) as the watermark frees them.
 */
export class SortedEvents {
  private items: HeldEvent[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  get first(): HeldEvent | undefined {
    return this.items[this.head];
  }

  /** Inserts after every event of the same or an earlier time; returns true when it is the new first. */
  insert(held: HeldEvent): boolean {
    const items = this.items;
    if (items.length === this.head || items[items.length - 1]!.time <= held.time) {
      items.push(held);
      return items.length - 1 === this.head;
    }
    const at = this.firstAfter(held.time);
    items.splice(at, 0, held);
    return at === this.head;
  }

  /** Removes the first event. */
  shift(): HeldEvent {
    const held = this.items[this.head++]!;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 64 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return held;
  }

  /** Calls `fn` for each event with `from ≤ time ≤ to`, in order. */
  each(from: number, to: number, fn: (held: HeldEvent) => void): void {
    const items = this.items;
    for (let i = this.firstAtOrAfter(from); i < items.length; i++) {
      const held = items[i]!;
      if (held.time > to) break;
      fn(held);
    }
  }

  /** The last event with `time ≤ at` (of equal times, the last to arrive), if any. */
  latestAtOrBefore(at: number): HeldEvent | undefined {
    const i = this.firstAfter(at) - 1;
    return i >= this.head ? this.items[i] : undefined;
  }

  /** The event after the first, if any. */
  get second(): HeldEvent | undefined {
    return this.items[this.head + 1];
  }

  toArray(): HeldEvent[] {
    return this.items.slice(this.head);
  }

  /** Index of the first event with time > t. */
  private firstAfter(t: number): number {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.time <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first event with time ≥ t. */
  private firstAtOrAfter(t: number): number {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.time < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
