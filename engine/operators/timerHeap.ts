/** A timer: at `at`, something about `target` is due; `seq` breaks ties (arrival or creation order). */
export interface Timer<T> {
  readonly at: number;
  readonly seq: number;
  readonly target: T;
  /** Cleared when a newer timer replaces it: its owner skips it when popped. */
  live: boolean;
}

/** A binary min-heap of timers ordered by (at, seq): deterministic ties. Shared by sessions and joins. */
export class TimerHeap<T> {
  private readonly items: Timer<T>[] = [];

  get size(): number {
    return this.items.length;
  }

  clear(): void {
    this.items.length = 0;
  }

  peekAt(): number {
    return this.items.length > 0 ? this.items[0]!.at : Infinity;
  }

  /** The timers held, in no particular order. */
  timers(): readonly Timer<T>[] {
    return this.items;
  }

  push(at: number, seq: number, target: T): Timer<T> {
    const items = this.items;
    const timer: Timer<T> = { at, seq, target, live: true };
    let i = items.push(timer) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(timer, items[parent]!)) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = timer;
    return timer;
  }

  pop(): Timer<T> {
    const items = this.items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= items.length) break;
        const r = l + 1;
        const c = r < items.length && before(items[r]!, items[l]!) ? r : l;
        if (!before(items[c]!, last)) break;
        items[i] = items[c]!;
        i = c;
      }
      items[i] = last;
    }
    return top;
  }
}

function before<T>(a: Timer<T>, b: Timer<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
