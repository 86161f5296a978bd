import type { RecordKey } from '../io.ts';
import type { Stateful } from '../state.ts';
import { SortedEvents, type HeldEvent } from './sortedEvents.ts';
import { TimerHeap, type Timer } from './timerHeap.ts';

export interface AsOfJoinSettings {
  /** How far behind the watermark the table's history is kept (Infinity: all of it). */
  readonly retention: number;
  /** How far behind the watermark a stream event is still taken. */
  readonly lateness: number;
}

/** A stream event joined with the table version valid at its time (undefined: none yet). */
export type AsOfResult = (key: RecordKey, event: HeldEvent, version: HeldEvent | undefined) => void;

interface Versions {
  readonly key: RecordKey;
  readonly events: SortedEvents;
  /** The live timer that drops the oldest version once the next one is itself past retention. */
  timer: Timer<Versions> | undefined;
}

interface Waiting {
  readonly key: RecordKey;
  readonly held: HeldEvent;
}

type SavedEvent = [time: number, seq: number, event: unknown];

interface AsOfJoinState {
  watermark: number;
  seq: number;
  versions: [key: RecordKey, SavedEvent[]][];
  waiting: [key: RecordKey, ...SavedEvent][];
}

/**
 * The state of an as-of join (docs/semantics.md, as-of join): per key, the table's versions sorted
 * by time; stream events wait until `W > t` (then no table event that is not late can change their
 * version) and are joined in (time, arrival) order. History older than `W − retention` is dropped,
 * keeping per key the version valid at `W − retention`.
 */
export class AsOfJoinStore implements Stateful {
  private readonly byKey = new Map<RecordKey, Versions>();
  /** Stream events waiting for the watermark to pass them. */
  private readonly waiting = new TimerHeap<Waiting>();
  /** One per key with more than one version: when its oldest may go. */
  private readonly pruning = new TimerHeap<Versions>();
  private watermark = -Infinity;
  private seq = 0;

  constructor(
    private readonly settings: AsOfJoinSettings,
    private readonly result: AsOfResult,
  ) {}

  /** Takes a table event: a new version of its key; false when it is older than the retention. */
  addVersion(key: RecordKey, time: number, event: unknown): boolean {
    if (time < this.watermark - this.settings.retention) return false;
    let versions = this.byKey.get(key);
    if (versions === undefined) {
      versions = { key, events: new SortedEvents(), timer: undefined };
      this.byKey.set(key, versions);
    }
    this.insertVersion(versions, { time, seq: this.seq++, event, matched: false });
    return true;
  }

  /** Takes a stream event: joined now if the watermark has passed it, else when it does; false when late. */
  addEvent(key: RecordKey, time: number, event: unknown): boolean {
    if (time + this.settings.lateness < this.watermark) return false;
    const held: HeldEvent = { time, seq: this.seq++, event, matched: false };
    if (time < this.watermark) this.join(key, held);
    else this.waiting.push(time, held.seq, { key, held });
    return true;
  }

  advance(watermark: number): void {
    if (watermark <= this.watermark) return;
    this.watermark = watermark;
    const { waiting, pruning } = this;
    while (waiting.size > 0 && waiting.peekAt() < watermark) {
      const { key, held } = waiting.pop().target;
      this.join(key, held);
    }
    const horizon = watermark - this.settings.retention;
    while (pruning.size > 0 && pruning.peekAt() <= horizon) {
      const timer = pruning.pop();
      if (!timer.live) continue;
      const versions = timer.target;
      versions.timer = undefined;
      versions.events.shift();
      this.schedulePruning(versions);
    }
  }

  snapshot(): AsOfJoinState {
    // The heap's order is its (time, arrival) order: restored by pushing them back in any order.
    const waiting = this.waiting.timers().map(({ target: { key, held } }): AsOfJoinState['waiting'][number] => [key, held.time, held.seq, held.event]);
    return {
      watermark: this.watermark,
      seq: this.seq,
      versions: [...this.byKey.values()].map((v) => [v.key, v.events.toArray().map((h): SavedEvent => [h.time, h.seq, h.event])]),
      waiting,
    };
  }

  restore(state: unknown): void {
    const { watermark, seq, versions, waiting } = state as AsOfJoinState;
    this.watermark = watermark;
    this.seq = seq;
    this.byKey.clear();
    this.waiting.clear();
    this.pruning.clear();
    for (const [key, saved] of versions) {
      const v: Versions = { key, events: new SortedEvents(), timer: undefined };
      this.byKey.set(key, v);
      for (const [time, s, event] of saved) this.insertVersion(v, { time, seq: s, event, matched: false });
    }
    for (const [key, time, s, event] of waiting) this.waiting.push(time, s, { key, held: { time, seq: s, event, matched: false } });
  }

  private join(key: RecordKey, held: HeldEvent): void {
    this.result(key, held, this.byKey.get(key)?.events.latestAtOrBefore(held.time));
  }

  private insertVersion(versions: Versions, held: HeldEvent): void {
    versions.events.insert(held);
    this.schedulePruning(versions);
  }

  /**
   * The oldest version may go once the next one is valid at `W − retention` (its time ≤ it): the
   * timer is at the second version's time. Rescheduled when a version is inserted, since it may be
   * the new second one.
   */
  private schedulePruning(versions: Versions): void {
    if (this.settings.retention === Infinity) return;
    const second = versions.events.second;
    if (versions.timer !== undefined) {
      if (second !== undefined && versions.timer.at === second.time) return;
      versions.timer.live = false;
      versions.timer = undefined;
    }
    if (second !== undefined) versions.timer = this.pruning.push(second.time, second.seq, versions);
  }
}
