import type { AggregateSet } from '../aggregates.ts';
import type { Stateful } from '../state.ts';
import type { RecordKey } from '../io.ts';
import type { WindowEdges } from '../rangeEdges.ts';
import type { SessionWindow, TumblingWindow, HoppingWindow, WindowSpec } from '../windowSpecs.ts';
import { TimerHeap } from './timerHeap.ts';

/**
 * Keyed window state shared by the window operators. A store takes events (`add`) and watermarks
 * (`advance`) and calls `emit` for every result, following docs/semantics.md:
 *
 * 1. A window fires once when the watermark W reaches its end; with `emit: 'update'` it also emits
 *    after every event it takes.
 * 2. A window is kept until `W >= end + lateness`, then its state is freed. An event is late when
 *    none of its windows is still kept (W as it was before the event).
 * 3. A kept window that has already fired emits again at once for every event it takes.
 * 4. Emission order depends only on input order: windows fire by end, then by first-seen key.
 *
 * Stores never read the wall clock.
 */
/** A window's result, `cut` when a ranged run's edge cuts the window (see WindowStoreOptions.edges). */
export type Emit = (key: RecordKey, start: number, end: number, accs: unknown[], cut: boolean) => void;

export interface WindowStoreOptions {
  lateness: number;
  emitUpdates: boolean;
  /**
   * A ranged run's edges: a window some of whose events may lie outside the range is emitted with
   * `cut` set (its updates and its final result); it is counted when it fires.
   */
  edges?: WindowEdges;
  /** Called for each window as its state is freed (`W ≥ end + lateness`), before it goes. */
  freed?: Emit;
}

export interface WindowStore extends Stateful {
  /** Adds the event to each of its windows still kept; false when it is late for all of them. */
  add(key: RecordKey, time: number, event: unknown): boolean;
  /** Moves the watermark forward: fires and frees windows. */
  advance(watermark: number): void;
  /** Windows (per key) holding state now. */
  readonly openWindows: number;
}

interface TimeWindowsState {
  watermark: number;
  panes: [end: number, fired: boolean, entries: [RecordKey, unknown[]][]][];
}

interface Pane {
  readonly end: number;
  readonly entries: Map<RecordKey, unknown[]>;
  fired: boolean;
}

function insertSorted(sorted: number[], value: number): void {
  let i = sorted.length;
  if (i === 0 || sorted[i - 1]! < value) {
    sorted.push(value);
    return;
  }
  let lo = 0;
  while (lo < i) {
    const mid = (lo + i) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else i = mid;
  }
  sorted.splice(lo, 0, value);
}

/** The store for a window spec: panes for tumbling and hopping windows, a session list per key for sessions. */
export function createWindowStore(spec: WindowSpec, options: WindowStoreOptions, aggs: AggregateSet, emit: Emit): WindowStore {
  return spec.kind === 'session' ? new SessionWindowStore(spec, options, aggs, emit) : new TimeWindowStore(spec, options, aggs, emit);
}

/**
 * Tumbling and hopping windows. State is held in panes, one per window end, each mapping key to
 * accumulators; all keys' windows with the same end fire and free together, so a watermark step
 * costs O(panes due), not O(keys).
 */
export class TimeWindowStore implements WindowStore {
  private readonly size: number;
  private readonly advanceBy: number;
  private readonly panes = new Map<number, Pane>();
  /** Ends of panes that have not fired, ascending. */
  private readonly pending: number[] = [];
  /** Ends of fired panes kept for lateness, ascending. */
  private readonly kept: number[] = [];
  private watermark = -Infinity;
  private open = 0;
  private lastPane: Pane | undefined = undefined;

  constructor(
    spec: TumblingWindow | HoppingWindow,
    private readonly options: WindowStoreOptions,
    private readonly aggs: AggregateSet,
    private readonly emit: Emit,
  ) {
    this.size = spec.size;
    this.advanceBy = spec.advance;
  }

  get openWindows(): number {
    return this.open;
  }

  add(key: RecordKey, time: number, event: unknown): boolean {
    const { size, advanceBy } = this;
    const horizon = this.watermark - this.options.lateness;
    const lastStart = Math.floor(time / advanceBy) * advanceBy;
    let start = lastStart;
    while (start - advanceBy > time - size) start -= advanceBy;
    let taken = false;
    for (; start <= lastStart; start += advanceBy) {
      const end = start + size;
      if (end <= horizon) continue; // freed: end + lateness <= W
      // Consecutive events mostly share a pane: skip the map lookup for them.
      let pane = this.lastPane;
      if (pane === undefined || pane.end !== end) this.lastPane = pane = this.panes.get(end) ?? this.createPane(end);
      let accs = pane.entries.get(key);
      if (accs === undefined) {
        accs = this.aggs.init();
        pane.entries.set(key, accs);
        this.open++;
        if (pane.fired && this.isCut(end)) this.options.edges!.cut(1);
      }
      this.aggs.add(accs, event, time);
      taken = true;
      if (pane.fired || this.options.emitUpdates) this.emit(key, start, end, accs, this.isCut(end));
    }
    return taken;
  }

  advance(watermark: number): void {
    if (watermark <= this.watermark) return;
    this.watermark = watermark;
    const { pending, kept, panes } = this;
    while (pending.length > 0 && pending[0]! <= watermark) {
      const end = pending.shift()!;
      const pane = panes.get(end)!;
      pane.fired = true;
      const cut = this.isCut(end);
      if (cut) this.options.edges!.cut(pane.entries.size);
      for (const [key, accs] of pane.entries) this.emit(key, end - this.size, end, accs, cut);
      insertSorted(kept, end);
    }
    const horizon = watermark - this.options.lateness;
    const freed = this.options.freed;
    while (kept.length > 0 && kept[0]! <= horizon) {
      const end = kept.shift()!;
      const pane = panes.get(end)!;
      if (freed !== undefined) for (const [key, accs] of pane.entries) freed(key, end - this.size, end, accs, this.isCut(end));
      this.open -= pane.entries.size;
      panes.delete(end);
      if (this.lastPane?.end === end) this.lastPane = undefined;
    }
  }

  /** Kept windows, pane by pane in creation order, keys in first-seen order (emission order). */
  snapshot(): TimeWindowsState {
    return { watermark: this.watermark, panes: [...this.panes.values()].map((p) => [p.end, p.fired, [...p.entries]]) };
  }

  restore(state: unknown): void {
    const { watermark, panes } = state as TimeWindowsState;
    this.watermark = watermark;
    this.panes.clear();
    this.pending.length = 0;
    this.kept.length = 0;
    this.lastPane = undefined;
    this.open = 0;
    for (const [end, fired, entries] of panes) {
      this.panes.set(end, { end, entries: new Map(entries), fired });
      insertSorted(fired ? this.kept : this.pending, end);
      this.open += entries.length;
    }
  }

  /** True when a range edge cuts the window ending at `end` (see WindowStoreOptions.edges). */
  private isCut(end: number): boolean {
    const edges = this.options.edges;
    return edges !== undefined && (end - this.size < edges.start || end + this.options.lateness > edges.end);
  }

  private createPane(end: number): Pane {
    // A pane created after the watermark passed its end (an allowed-late event) counts as fired.
    const fired = end <= this.watermark;
    const pane: Pane = { end, entries: new Map(), fired };
    this.panes.set(end, pane);
    insertSorted(fired ? this.kept : this.pending, end);
    return pane;
  }
}

interface Session {
  readonly key: RecordKey;
  readonly start: number;
  readonly end: number;
  readonly accs: unknown[];
  /** Creation order: breaks ties between sessions due at the same time. */
  readonly seq: number;
  fired: boolean;
  alive: boolean;
}

interface SessionsState {
  watermark: number;
  nextSeq: number;
  sessions: [key: RecordKey, start: number, end: number, accs: unknown[], fired: boolean, seq: number][];
}

/**
 * Session windows: per key, a list of sessions sorted by start. An event opens `[t, t + gap)`; the
 * sessions it intersects (touching is not intersecting) merge with it into a new window. One heap
 * of timers fires sessions at their end and frees them at end + lateness; a timer of a session
 * that has been merged away is skipped.
 */
export class SessionWindowStore implements WindowStore {
  private readonly byKey = new Map<RecordKey, Session[]>();
  private readonly timers = new TimerHeap<Session>();
  private watermark = -Infinity;
  private count = 0;
  private nextSeq = 0;

  constructor(
    private readonly spec: SessionWindow,
    private readonly options: WindowStoreOptions,
    private readonly aggs: AggregateSet,
    private readonly emit: Emit,
  ) {}

  get openWindows(): number {
    return this.count;
  }

  add(key: RecordKey, time: number, event: unknown): boolean {
    const end = time + this.spec.gap;
    let sessions = this.byKey.get(key);
    let first = -1;
    let last = -1;
    if (sessions !== undefined) {
      for (let i = 0; i < sessions.length; i++) {
        const s = sessions[i]!;
        if (s.start < end && time < s.end) {
          if (first < 0) first = i;
          last = i;
        } else if (s.start >= end) break;
      }
    }
    if (first < 0) {
      if (end + this.options.lateness <= this.watermark) return false;
      const accs = this.aggs.init();
      this.aggs.add(accs, event, time);
      if (sessions === undefined) {
        sessions = [];
        this.byKey.set(key, sessions);
      }
      this.insert(sessions, { key, start: time, end, accs, seq: this.nextSeq++, fired: false, alive: true });
      return true;
    }
    const only = sessions![first]!;
    if (first === last && only.start <= time && end <= only.end) {
      this.aggs.add(only.accs, event, time);
      if (only.fired || this.options.emitUpdates) this.emit(key, only.start, only.end, only.accs, this.isCut(only));
      return true;
    }
    // The event extends one session or bridges several: the result is a new window.
    const absorbed = sessions!.splice(first, last - first + 1);
    let accs = absorbed[0]!.accs;
    let start = Math.min(time, absorbed[0]!.start);
    let mergedEnd = end;
    for (let i = 0; i < absorbed.length; i++) {
      const s = absorbed[i]!;
      if (i > 0) accs = this.aggs.merge(accs, s.accs);
      if (s.end > mergedEnd) mergedEnd = s.end;
      if (s.start < start) start = s.start;
      s.alive = false;
    }
    this.count -= absorbed.length;
    this.aggs.add(accs, event, time);
    this.insert(sessions!, { key, start, end: mergedEnd, accs, seq: this.nextSeq++, fired: false, alive: true });
    return true;
  }

  advance(watermark: number): void {
    if (watermark <= this.watermark) return;
    this.watermark = watermark;
    const { timers } = this;
    while (timers.size > 0 && timers.peekAt() <= watermark) {
      const { target: session } = timers.pop();
      if (!session.alive) continue;
      if (!session.fired) {
        session.fired = true;
        const cut = this.isCut(session);
        if (cut) this.options.edges!.cut(1);
        this.emit(session.key, session.start, session.end, session.accs, cut);
      }
      const freeAt = session.end + this.options.lateness;
      if (freeAt <= watermark) this.free(session);
      else timers.push(freeAt, session.seq, session);
    }
  }

  snapshot(): SessionsState {
    const sessions: SessionsState['sessions'] = [];
    for (const list of this.byKey.values()) for (const s of list) sessions.push([s.key, s.start, s.end, s.accs, s.fired, s.seq]);
    return { watermark: this.watermark, nextSeq: this.nextSeq, sessions };
  }

  restore(state: unknown): void {
    const { watermark, nextSeq, sessions } = state as SessionsState;
    this.watermark = watermark;
    this.nextSeq = nextSeq;
    this.byKey.clear();
    this.timers.clear();
    this.count = sessions.length;
    for (const [key, start, end, accs, fired, seq] of sessions) {
      const session: Session = { key, start, end, accs, seq, fired, alive: true };
      let list = this.byKey.get(key);
      if (list === undefined) this.byKey.set(key, (list = []));
      list.push(session); // saved in start order per key
      this.timers.push(fired ? end + this.options.lateness : end, seq, session);
    }
  }

  /** Inserts a new window into its key's list and schedules it; emits now if W passed its end. */
  private insert(sessions: Session[], session: Session): void {
    let i = sessions.length;
    while (i > 0 && sessions[i - 1]!.start > session.start) i--;
    sessions.splice(i, 0, session);
    this.count++;
    const cut = this.isCut(session);
    if (session.end <= this.watermark) {
      session.fired = true;
      if (cut) this.options.edges!.cut(1);
      this.emit(session.key, session.start, session.end, session.accs, cut);
      this.timers.push(session.end + this.options.lateness, session.seq, session);
    } else {
      if (this.options.emitUpdates) this.emit(session.key, session.start, session.end, session.accs, cut);
      this.timers.push(session.end, session.seq, session);
    }
  }

  /** True when a range edge cuts the session: an event up to a gap before its start, or after its end, may lie outside the range. */
  private isCut(session: Session): boolean {
    const edges = this.options.edges;
    return edges !== undefined && (session.start < edges.start + this.spec.gap || session.end + this.options.lateness > edges.end);
  }

  private free(session: Session): void {
    this.options.freed?.(session.key, session.start, session.end, session.accs, this.isCut(session));
    session.alive = false;
    this.count--;
    const sessions = this.byKey.get(session.key)!;
    sessions.splice(sessions.indexOf(session), 1);
    if (sessions.length === 0) this.byKey.delete(session.key);
  }
}
