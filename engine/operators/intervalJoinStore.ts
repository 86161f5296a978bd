import type { RecordKey } from '../io.ts';
import type { Stateful } from '../state.ts';
import { SortedEvents, type HeldEvent } from './sortedEvents.ts';
import { TimerHeap, type Timer } from './timerHeap.ts';

/** Left is the stream the join is piped on, right the other. */
export const LEFT = 0;
export const RIGHT = 1;
type Side = typeof LEFT | typeof RIGHT;

export interface IntervalJoinBounds {
  /** A pair joins when `lower ≤ right.t − left.t ≤ upper`. */
  readonly lower: number;
  readonly upper: number;
  readonly lateness: number;
  /** Emit each left event that matched nothing when it is freed. */
  readonly unmatchedLeft: boolean;
}

export interface IntervalJoinOutput {
  pair(key: RecordKey, left: HeldEvent, right: HeldEvent): void;
  unmatched(key: RecordKey, left: HeldEvent): void;
}

/** One key's events of both sides, and the timers that free them. */
class KeyEvents {
  readonly sides: readonly [SortedEvents, SortedEvents] = [new SortedEvents(), new SortedEvents()];
  /** The live timer that frees each side's first event. */
  readonly timers: [Timer<KeyTimerTarget> | undefined, Timer<KeyTimerTarget> | undefined] = [undefined, undefined];
  /** What each side's timers point at (made once per key, not per timer). */
  readonly targets: readonly [KeyTimerTarget, KeyTimerTarget];

  constructor(readonly key: RecordKey) {
    this.targets = [
      { events: this, side: LEFT },
      { events: this, side: RIGHT },
    ];
  }
}

interface KeyTimerTarget {
  readonly events: KeyEvents;
  readonly side: Side;
}

type SavedEvent = [time: number, seq: number, event: unknown, matched: boolean];

interface IntervalJoinState {
  watermark: number;
  seq: number;
  keys: [key: RecordKey, left: SavedEvent[], right: SavedEvent[]][];
}

/**
 * The state of an interval join (docs/semantics.md, interval join): per key, each side's events
 * sorted by time. An arriving event meets the other side's events in its range at once; the
 * watermark frees a left event once `W > t + upper + lateness`, a right one once
 * `W > t − lower + lateness` (no event that is not late can match it after that). One heap of
 * timers, one per key and side for its first event, frees events in (time, arrival) order, so a
 * left join's unmatched rows come out in that order whatever the keys.
 */
export class IntervalJoinStore implements Stateful {
  private readonly byKey = new Map<RecordKey, KeyEvents>();
  private readonly timers = new TimerHeap<KeyTimerTarget>();
  private watermark = -Infinity;
  private seq = 0;

  constructor(
    private readonly bounds: IntervalJoinBounds,
    private readonly output: IntervalJoinOutput,
  ) {}

  /** Takes an event of one side; false when it is late (`t + lateness < W`). */
  add(side: Side, key: RecordKey, time: number, event: unknown): boolean {
    const { lower, upper, lateness, unmatchedLeft } = this.bounds;
    if (time + lateness < this.watermark) return false;
    const held: HeldEvent = { time, seq: this.seq++, event, matched: false };
    let events = this.byKey.get(key);
    if (events !== undefined) {
      const output = this.output;
      if (side === LEFT) {
        events.sides[RIGHT].each(time + lower, time + upper, (right) => {
          held.matched = true;
          output.pair(key, held, right);
        });
      } else {
        events.sides[LEFT].each(time - upper, time - lower, (left) => {
          left.matched = true;
          output.pair(key, left, held);
        });
      }
    }
    // Already past its keeping (a negative bound with lateness): nothing can match it any more.
    if (this.freeAt(side, time) < this.watermark) {
      if (side === LEFT && unmatchedLeft && !held.matched) this.output.unmatched(key, held);
      return true;
    }
    if (events === undefined) {
      events = this.keyEvents(key);
    }
    this.hold(events, side, held);
    return true;
  }

  advance(watermark: number): void {
    if (watermark <= this.watermark) return;
    this.watermark = watermark;
    const { timers, output } = this;
    const unmatchedLeft = this.bounds.unmatchedLeft;
    while (timers.size > 0 && timers.peekAt() < watermark) {
      const timer = timers.pop();
      if (!timer.live) continue;
      const { events, side } = timer.target;
      events.timers[side] = undefined;
      const freed = events.sides[side].shift();
      if (side === LEFT && unmatchedLeft && !freed.matched) output.unmatched(events.key, freed);
      const next = events.sides[side].first;
      if (next !== undefined) this.schedule(events, side, next);
      else if (events.sides[LEFT].size === 0 && events.sides[RIGHT].size === 0) this.byKey.delete(events.key);
    }
  }

  snapshot(): IntervalJoinState {
    const save = (s: SortedEvents): SavedEvent[] => s.toArray().map((h) => [h.time, h.seq, h.event, h.matched]);
    return { watermark: this.watermark, seq: this.seq, keys: [...this.byKey.values()].map((e) => [e.key, save(e.sides[LEFT]), save(e.sides[RIGHT])]) };
  }

  restore(state: unknown): void {
    const { watermark, seq, keys } = state as IntervalJoinState;
    this.watermark = watermark;
    this.seq = seq;
    this.byKey.clear();
    this.timers.clear();
    for (const [key, ...sides] of keys) {
      const events = this.keyEvents(key);
      for (const side of [LEFT, RIGHT] as const) {
        for (const [time, s, event, matched] of sides[side]) this.hold(events, side, { time, seq: s, event, matched });
      }
    }
  }

  private keyEvents(key: RecordKey): KeyEvents {
    const events = new KeyEvents(key);
    this.byKey.set(key, events);
    return events;
  }

  /** When an event of `side` at `time` is freed: once the watermark is past it. */
  private freeAt(side: Side, time: number): number {
    const { lower, upper, lateness } = this.bounds;
    return side === LEFT ? time + upper + lateness : time - lower + lateness;
  }

  private hold(events: KeyEvents, side: Side, held: HeldEvent): void {
    if (events.sides[side].insert(held)) this.schedule(events, side, held);
  }

  /** Makes `first` the side's timer, replacing the one it had. */
  private schedule(events: KeyEvents, side: Side, first: HeldEvent): void {
    const previous = events.timers[side];
    if (previous !== undefined) previous.live = false;
    events.timers[side] = this.timers.push(this.freeAt(side, first.time), first.seq, events.targets[side]);
  }
}
