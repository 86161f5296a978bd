import assert from 'node:assert/strict';
import type { Observable } from 'rxjs';
import { asOfJoin, coGroup, count, defineTopology, hopping, intervalJoin, keyBy, session, sum, tumbling, windowJoin, type Keyed, type Topology, type TopologyBuilder, type TopologyOutput, type WindowSpec } from '../../engine/index.ts';
import type { RecordKey, SinkConnector, SourceConnector } from '../../engine/io.ts';
import { runTopology, type RunOptions, type RunStats } from '../../engine/runtime.ts';
import { prng } from './generate.ts';
import { memorySource } from './memory.ts';

/**
 * The join tests' harness: two keyed sources `left` and `right` (declared in that order, so the
 * merge breaks time ties left before right), sinks that record what the engine writes with its
 * key and event time, and brute-force references of every join in docs/semantics.md ("Joins").
 *
 * The references simulate only what decides lateness: the order the scheduler dispatches events
 * in (engine/run/scheduler.ts) and the topology watermark after each (engine/run/watermarks.ts),
 * and, for window joins, which windows exist and when they fire (the rules of windows). What the
 * joins emit is then computed by nested loops over the events accepted so far, never with buffers
 * like an operator's.
 */

/** An input event of either side; `id` names it in results (`L0.3`: left, partition 0, offset 3). */
export interface Ev {
  k: string;
  t: number;
  v: number;
  id: string;
}

export type Side = 'left' | 'right';

/** Events of the two sources, partition by partition. */
export interface TwoSides {
  left: Ev[][];
  right: Ev[][];
}

export interface OutOfOrder {
  left: number;
  right: number;
}

export function ev(id: string, k: string, t: number, v = 1): Ev {
  return { k, t, v, id };
}

// ---- input ------------------------------------------------------------------------------------

export interface RandomInput {
  /** Keys drawn from `a`, `b`, …. */
  keys: number;
  /** Mean event-time step between consecutive events of a partition (steps are 0..2×mean). */
  step: number;
  /** Events per partition, drawn from this range. */
  events: [min: number, max: number];
  outOfOrder: OutOfOrder;
  /** Share of events placed further back than outOfOrder (most of them end up late)… */
  beyond: number;
  /** …by up to this much more. */
  reach: number;
}

/**
 * Random disordered input, two partitions per side: each partition's times rise by random steps;
 * each event is shifted back by up to its source's outOfOrder, or (a `beyond` share) by more, so
 * some events are late. Partitions differ in length, so some finish early and stop holding the
 * watermark back.
 */
export function randomInput(seed: number, o: RandomInput): TwoSides {
  const rand = prng(seed);
  const side = (prefix: string, outOfOrder: number): Ev[][] =>
    [0, 1].map((p) => {
      const n = o.events[0] + Math.floor(rand() * (o.events[1] - o.events[0] + 1));
      let base = Math.floor(rand() * 4 * o.step);
      const events: Ev[] = [];
      for (let i = 0; i < n; i++) {
        base += Math.floor(rand() * (2 * o.step + 1));
        const back = rand() < o.beyond ? outOfOrder + 1 + Math.floor(rand() * o.reach) : Math.floor(rand() * (outOfOrder + 1));
        const k = String.fromCharCode(97 + Math.floor(rand() * o.keys));
        events.push(ev(`${prefix}${p}.${i}`, k, base - back, 1 + Math.floor(rand() * 9)));
      }
      return events;
    });
  return { left: side('L', o.outOfOrder.left), right: side('R', o.outOfOrder.right) };
}

// ---- the engine's dispatch order and watermark --------------------------------------------------

/** What the operators see, in order: each event with the watermark before it, and each new watermark. */
export type Step =
  | { kind: 'event'; side: Side; partition: number; event: Ev; seq: number; watermark: number }
  | { kind: 'watermark'; watermark: number };

/**
 * The scheduler's order over bounded partitions: the lane head with the least event time, ties by
 * lane order (sources in declaration order, then partitions). After each event its partition's
 * watermark is `max time − outOfOrder`; a partition that has dispatched its last event finishes at
 * once and stops holding the minimum back (an empty one from the start); the topology watermark is
 * the minimum over unfinished partitions, never moving back, and +∞ once all have finished.
 */
export function dispatchOrder(input: TwoSides, outOfOrder: OutOfOrder): Step[] {
  const lanes = (['left', 'right'] as const).flatMap((side) =>
    input[side].map((events, partition) => ({ side, partition, events, pos: 0, max: -Infinity, outOfOrder: outOfOrder[side], finished: events.length === 0 })),
  );
  const steps: Step[] = [];
  let watermark = -Infinity;
  const recompute = () => {
    let min = Infinity;
    for (const l of lanes) if (!l.finished) min = Math.min(min, l.max - l.outOfOrder);
    if (min > watermark) {
      watermark = min;
      steps.push({ kind: 'watermark', watermark });
    }
  };
  recompute();
  for (let seq = 0; ; seq++) {
    let best: (typeof lanes)[number] | undefined;
    for (const l of lanes) if (!l.finished && (best === undefined || l.events[l.pos]!.t < best.events[best.pos]!.t)) best = l;
    if (best === undefined) break;
    const event = best.events[best.pos++]!;
    steps.push({ kind: 'event', side: best.side, partition: best.partition, event, seq, watermark });
    best.max = Math.max(best.max, event.t);
    recompute();
    if (best.pos === best.events.length) {
      best.finished = true;
      recompute();
    }
  }
  return steps;
}

// ---- running a topology ------------------------------------------------------------------------

/** A value a sink was given, with the key and event time the engine gave it. */
export interface Written {
  /** The value after a JSON round trip, as a file sink stores it. */
  value: Record<string, unknown>;
  /** The value as written. */
  raw: unknown;
  key: RecordKey | undefined;
  time: number;
}

function recordingSink(): { connector: SinkConnector; written: Written[] } {
  const written: Written[] = [];
  return {
    written,
    connector: {
      uri: 'memory:recording',
      async open() {
        return {
          pending: 0,
          write(value, key, time) {
            written.push({ value: JSON.parse(JSON.stringify(value)) as Record<string, unknown>, raw: value, key, time });
          },
          async flush() {},
          async close() {},
        };
      },
    },
  };
}

/** A topology over the sources `left` and `right`, each keyed by `k`; `build` wires the join and its sinks. */
export function twoSided(
  name: string,
  outOfOrder: OutOfOrder,
  build: (left: Observable<Keyed<Ev>>, right: Observable<Keyed<Ev>>, sink: TopologyBuilder['sink']) => TopologyOutput,
): Topology {
  return defineTopology(name, ({ source, sink }) => {
    const left = source<Ev>('left', { time: 't', outOfOrder: outOfOrder.left }).pipe(keyBy('k'));
    const right = source<Ev>('right', { time: 't', outOfOrder: outOfOrder.right }).pipe(keyBy('k'));
    return build(left, right, sink);
  });
}

export interface JoinRun {
  /** The `out` and `late` sinks' values (empty when not bound). */
  out: Written[];
  late: Written[];
  dlq: Written[];
  /** Every bound sink by name. */
  sinks: Record<string, Written[]>;
  stats: RunStats;
  warnings: string[];
}

export interface RunJoinOptions extends Partial<RunOptions> {
  /** The sinks to bind and record besides dlq (default out and late). */
  record?: string[];
  /** The sources as connectors (default: memory sources over the partitions). */
  connectors?: { left: SourceConnector; right: SourceConnector };
}

/** Runs `topology` over `input`, recording what its sinks (`record`, and dlq) are given. */
export async function runJoin(topology: Topology, input: TwoSides, options: RunJoinOptions = {}): Promise<JoinRun> {
  const { record = ['out', 'late'], connectors, ...rest } = options;
  const sinks = Object.fromEntries(['dlq', ...record].map((n) => [n, recordingSink()]));
  const warnings: string[] = [];
  const stats = await runTopology(topology, {
    sources: connectors ?? { left: memorySource(input.left), right: memorySource(input.right) },
    sinks: Object.fromEntries(Object.entries(sinks).map(([n, s]) => [n, s.connector])),
    warn: (m) => warnings.push(m),
    ...rest,
  });
  const written = Object.fromEntries(Object.entries(sinks).map(([n, s]) => [n, s.written]));
  return { out: written.out ?? [], late: written.late ?? [], dlq: written.dlq!, sinks: written, stats, warnings };
}

/** Every join of docs/semantics.md on the same two sources, each to its own result and late sinks (the restart tests). */
export const RESTART_OUT_OF_ORDER: OutOfOrder = { left: 3, right: 5 };
export const allJoins = twoSided('all-joins', RESTART_OUT_OF_ORDER, (left, right, sink) => {
  const grouped = { left: { ln: count(), lsum: sum('v') }, right: { rn: count(), rsum: sum('v') } };
  return [
    left.pipe(intervalJoin(right, { between: [-3, 4], late: 'late-interval-inner' }), sink('interval-inner')),
    left.pipe(intervalJoin(right, { between: [-3, 4], lateness: 2, type: 'left', late: 'late-interval-left' }), sink('interval-left')),
    left.pipe(windowJoin(right, tumbling(10), { lateness: 4, type: 'left', late: 'late-window-tumbling' }), sink('window-tumbling')),
    left.pipe(windowJoin(right, hopping(10, 4), { lateness: 3, late: 'late-window-hopping' }), sink('window-hopping')),
    left.pipe(windowJoin(right, session(3), { lateness: 5, type: 'left', late: 'late-window-session' }), sink('window-session')),
    left.pipe(coGroup(right, tumbling(10), grouped, { lateness: 6, late: 'late-cogroup' }), sink('cogroup')),
    left.pipe(coGroup(right, session(3), grouped, { emit: 'update', late: 'late-cogroup-session' }), sink('cogroup-session')),
    left.pipe(asOfJoin(right, { lateness: 2, type: 'left', late: 'late-asof-left' }), sink('asof-left')),
    left.pipe(asOfJoin(right, { retention: 8, lateness: 2, late: 'late-asof-retention' }), sink('asof-retention')),
  ];
});
/** The sinks of `allJoins`: results, then late outputs. */
export const ALL_JOINS_SINKS = ['interval-inner', 'interval-left', 'window-tumbling', 'window-hopping', 'window-session', 'cogroup', 'cogroup-session', 'asof-left', 'asof-retention'].flatMap((s) => [s, `late-${s}`]);

// ---- comparing -----------------------------------------------------------------------------------

/** JSON with object keys sorted: equal values give equal strings whatever their field order. */
export function canon(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** A result as one string: its value, key and event time. */
export function row(w: Pick<Written, 'value' | 'key' | 'time'>): string {
  return `${canon(w.value)} key=${String(w.key)} t=${w.time}`;
}

export function sorted(values: string[]): string[] {
  return [...values].sort();
}

/** A late output: the value only. */
export function lateRow(w: Pick<Written, 'value'>): string {
  return canon(w.value);
}

/** What a reference expects of a run. */
export interface Expected {
  out: Pick<Written, 'value' | 'key' | 'time'>[];
  late: { side: string; event: Ev }[];
}

/** The run's outputs equal the reference's as multisets, its late outputs too, and its counts add up. */
export function assertLike(run: JoinRun, expected: Expected, total: number, what: string): void {
  assert.deepEqual(sorted(run.out.map(row)), sorted(expected.out.map(row)), `${what}: results`);
  assertLateAndStats(run, expected.late, total, what);
}

export function assertLateAndStats(run: JoinRun, late: Expected['late'], total: number, what: string): void {
  assert.deepEqual(sorted(run.late.map(lateRow)), sorted(late.map((l) => canon(l))), `${what}: late outputs`);
  const s = run.stats;
  assert.deepEqual(
    { in: s.in, processed: s.processed, late: s.late, deadLettered: s.deadLettered, resultsOut: s.resultsOut },
    { in: total, processed: total - late.length, late: late.length, deadLettered: 0, resultsOut: run.out.length },
    `${what}: counts`,
  );
  assert.equal(run.dlq.length, 0, `${what}: no dead letters`);
}

export function eventCount(input: TwoSides): number {
  return [...input.left, ...input.right].reduce((n, p) => n + p.length, 0);
}

function events(steps: Step[]): Extract<Step, { kind: 'event' }>[] {
  return steps.filter((s): s is Extract<Step, { kind: 'event' }> => s.kind === 'event');
}

// ---- interval join -------------------------------------------------------------------------------

export interface IntervalSpec {
  lower: number;
  upper: number;
  lateness: number;
  type: 'inner' | 'left';
}

/**
 * Interval join, by brute force in dispatch order: an event is late when `t + lateness < W`; an
 * accepted event pairs with every accepted event of the other side seen before it (same key,
 * `lower ≤ r.t − l.t ≤ upper`), partners by time then arrival, at time max(l.t, r.t). A left
 * join emits an accepted left event that no accepted right matched once `W > l.t + upper +
 * lateness`, by time then arrival, at its own time.
 */
export function intervalReference(steps: Step[], spec: IntervalSpec): Expected {
  const out: Expected['out'] = [];
  const late: Expected['late'] = [];
  const accepted: Record<Side, { e: Ev; seq: number }[]> = { left: [], right: [] };
  const unmatchedDone = new Set<number>();
  const matches = (l: Ev, r: Ev) => l.k === r.k && spec.lower <= r.t - l.t && r.t - l.t <= spec.upper;
  const byTimeThenArrival = (a: { e: Ev; seq: number }, b: { e: Ev; seq: number }) => a.e.t - b.e.t || a.seq - b.seq;
  for (const step of steps) {
    if (step.kind === 'event') {
      const { event: e, side, seq } = step;
      if (e.t + spec.lateness < step.watermark) {
        late.push({ side, event: e });
        continue;
      }
      const other = side === 'left' ? accepted.right : accepted.left;
      const partners = other.filter((o) => (side === 'left' ? matches(e, o.e) : matches(o.e, e))).sort(byTimeThenArrival);
      for (const p of partners) {
        const [l, r] = side === 'left' ? [e, p.e] : [p.e, e];
        out.push({ value: { key: e.k, left: l, right: r }, key: e.k, time: Math.max(l.t, r.t) });
      }
      accepted[side].push({ e, seq });
    } else if (spec.type === 'left') {
      const freed = accepted.left
        .filter((l) => !unmatchedDone.has(l.seq) && l.e.t + spec.upper + spec.lateness < step.watermark && !accepted.right.some((r) => matches(l.e, r.e)))
        .sort(byTimeThenArrival);
      for (const l of freed) {
        unmatchedDone.add(l.seq);
        out.push({ value: { key: l.e.k, left: l.e, right: null }, key: l.e.k, time: l.e.t });
      }
    }
  }
  return { out, late };
}

// ---- windows (window join and coGroup) -------------------------------------------------------------

/** An event taken into a window. */
export interface Member {
  side: Side;
  event: Ev;
  seq: number;
}

export interface SimWindow {
  key: string;
  start: number;
  end: number;
  members: Member[];
  fired: boolean;
  /** Results of a window and of the windows it becomes (sessions merge) share it: `key|start` (time windows) or `key` (sessions). */
  lineage: string;
}

export interface WindowHooks {
  /** `w` fires: the watermark reached its end, or a session was made when it had already passed it. */
  fire(w: SimWindow): void;
  /** `m` was taken into `w` (already fired: `w.fired`); for sessions `w` may be a new or merged window not yet due. */
  taken(w: SimWindow, m: Member): void;
}

/**
 * The windows of both sides' events together, per key, by the rules of windows (docs/semantics.md):
 * a time window is kept until `W ≥ end + lateness` and one made after `W ≥ end` counts as fired;
 * an event is late when none of its windows is kept. Sessions merge when they intersect, judged on
 * kept sessions; a new or merged session already due fires at once. Returns the late events.
 */
export function simulateWindows(steps: Step[], spec: WindowSpec, lateness: number, hooks: WindowHooks): Member[] {
  const late: Member[] = [];
  let open: SimWindow[] = [];
  let watermark = -Infinity;
  for (const step of steps) {
    if (step.kind === 'watermark') {
      watermark = step.watermark;
      const due = open.filter((w) => !w.fired && w.end <= watermark).sort((a, b) => a.end - b.end);
      for (const w of due) {
        w.fired = true;
        hooks.fire(w);
      }
      open = open.filter((w) => w.end + lateness > watermark);
      continue;
    }
    const { event: e, side, seq } = step;
    const m: Member = { side, event: e, seq };
    if (spec.kind === 'session') {
      const end = e.t + spec.gap;
      const touching = open.filter((w) => w.key === e.k && w.start < end && e.t < w.end);
      if (touching.length === 0 && end + lateness <= watermark) {
        late.push(m);
      } else if (touching.length === 1 && touching[0]!.start <= e.t && end <= touching[0]!.end) {
        touching[0]!.members.push(m);
        hooks.taken(touching[0]!, m);
      } else {
        const members = [...touching.flatMap((w) => w.members), m].sort((a, b) => a.seq - b.seq);
        const merged: SimWindow = {
          key: e.k,
          start: Math.min(e.t, ...touching.map((w) => w.start)),
          end: Math.max(end, ...touching.map((w) => w.end)),
          members,
          fired: false,
          lineage: e.k,
        };
        open = open.filter((w) => !touching.includes(w));
        open.push(merged);
        if (merged.end <= watermark) {
          merged.fired = true;
          hooks.fire(merged);
        } else hooks.taken(merged, m);
      }
      continue;
    }
    let taken = false;
    for (const start of windowStarts(e.t, spec.size, spec.advance)) {
      const end = start + spec.size;
      if (end + lateness <= watermark) continue;
      let w = open.find((x) => x.key === e.k && x.start === start);
      if (w === undefined) {
        w = { key: e.k, start, end, members: [], fired: end <= watermark, lineage: `${e.k}|${start}` };
        open.push(w);
      }
      w.members.push(m);
      taken = true;
      hooks.taken(w, m);
    }
    if (!taken) late.push(m);
  }
  return late;
}

/** Every `start = k × advance` with `start ≤ t < start + size`, ascending. */
function windowStarts(t: number, size: number, advance: number): number[] {
  const starts: number[] = [];
  for (let start = Math.floor(t / advance) * advance; start > t - size; start -= advance) starts.unshift(start);
  return starts;
}

export interface WindowJoinExpected extends Expected {
  /** Pairs only, exact. */
  pairs: Expected['out'];
  /** Null rows as emitted by the reading that emits one whenever a left event is in a firing window without rights. */
  nulls: Expected['out'];
  /** `lineage|left id` of every accepted left event whose final window has no right: each must have exactly one null row. */
  requiredNulls: string[];
  /** `lineage|left id` of every accepted left event: a null row for any other is wrong. */
  allowedNulls: string[];
}

/**
 * Window join: when a window fires, every pair (l, r) of its events; an event taken into a fired
 * window adds its pairs at once; no pair is emitted twice (also across session merges). A left join
 * also emits a left event of a window without rights with `right: null`. With lateness 0 nothing
 * enters a fired window, so `out` is exact; with lateness the contract pins the pairs, and null
 * rows only as `requiredNulls` / `allowedNulls` say.
 */
export function windowJoinReference(steps: Step[], spec: WindowSpec, lateness: number, type: 'inner' | 'left'): WindowJoinExpected {
  const pairs: Expected['out'] = [];
  const nulls: Expected['out'] = [];
  const done = new Set<string>();
  const result = (w: SimWindow, l: Ev, r: Ev | null) => ({ value: { key: w.key, window_start: w.start, window_end: w.end, left: l, right: r }, key: w.key, time: w.end - 1 });
  const pair = (w: SimWindow, l: Member, r: Member) => {
    const id = `${w.lineage}|${l.seq}|${r.seq}`;
    if (done.has(id)) return;
    done.add(id);
    pairs.push(result(w, l.event, r.event));
  };
  const unmatched = (w: SimWindow, l: Member) => {
    const id = `${w.lineage}|${l.seq}|null`;
    if (type !== 'left' || done.has(id)) return;
    done.add(id);
    nulls.push(result(w, l.event, null));
  };
  const lefts = (w: SimWindow) => w.members.filter((m) => m.side === 'left');
  const rights = (w: SimWindow) => w.members.filter((m) => m.side === 'right');
  const finals = new Map<string, SimWindow>();
  const late = simulateWindows(steps, spec, lateness, {
    fire(w) {
      finals.set(w.lineage, w);
      const rs = rights(w);
      for (const l of lefts(w)) {
        for (const r of rs) pair(w, l, r);
        if (rs.length === 0) unmatched(w, l);
      }
    },
    taken(w, m) {
      finals.set(w.lineage, w);
      if (!w.fired) return;
      if (m.side === 'left') {
        const rs = rights(w);
        for (const r of rs) pair(w, m, r);
        if (rs.length === 0) unmatched(w, m);
      } else for (const l of lefts(w)) pair(w, l, m);
    },
  });
  // A session's lineage is its key: its final windows are those of each event's last session.
  const requiredNulls: string[] = [];
  const allowedNulls: string[] = [];
  const finalWindows = spec.kind === 'session' ? finalSessions(steps, spec, lateness) : [...finals.values()];
  for (const w of finalWindows) {
    const none = rights(w).length === 0;
    for (const l of lefts(w)) {
      const id = nullIdentity(spec, w.key, w.start, l.event.id);
      allowedNulls.push(id);
      if (none && type === 'left') requiredNulls.push(id);
    }
  }
  return { out: [...pairs, ...nulls], pairs, nulls, late: late.map((m) => ({ side: m.side, event: m.event })), requiredNulls, allowedNulls };
}

/** The last session each accepted event ended up in. */
function finalSessions(steps: Step[], spec: WindowSpec, lateness: number): SimWindow[] {
  const last = new Map<number, SimWindow>();
  const note = (w: SimWindow) => {
    for (const m of w.members) last.set(m.seq, w);
  };
  simulateWindows(steps, spec, lateness, { fire: note, taken: note });
  return [...new Set(last.values())];
}

/** Which null row a left event's is, for a window join's output row: per window for time windows, per event for sessions. */
export function nullIdentity(spec: WindowSpec, key: unknown, windowStart: unknown, leftId: string): string {
  return spec.kind === 'session' ? `${String(key)}|${leftId}` : `${String(key)}|${String(windowStart)}|${leftId}`;
}

/**
 * coGroup: a window's result is `aggregate(lefts, rights)` over its events so far; it is emitted
 * when the window fires, at once for every event taken into a fired window, and with
 * `emit: 'update'` after every event taken (a new or merged session not yet due: once).
 */
export function coGroupReference(
  steps: Step[],
  spec: WindowSpec,
  lateness: number,
  emit: 'final' | 'update',
  aggregate: (lefts: Ev[], rights: Ev[]) => Record<string, unknown>,
): Expected {
  const out: Expected['out'] = [];
  const result = (w: SimWindow) => {
    const side = (s: Side) => w.members.filter((m) => m.side === s).map((m) => m.event);
    out.push({ value: { key: w.key, window_start: w.start, window_end: w.end, ...aggregate(side('left'), side('right')) }, key: w.key, time: w.end - 1 });
  };
  const late = simulateWindows(steps, spec, lateness, {
    fire: result,
    taken(w) {
      if (w.fired || emit === 'update') result(w);
    },
  });
  return { out, late: late.map((m) => ({ side: m.side, event: m.event })) };
}

// ---- as-of join ----------------------------------------------------------------------------------

export interface AsOfSpec {
  retention: number;
  lateness: number;
  type: 'inner' | 'left';
}

/**
 * As-of join, the left source being the stream and the right the table. A table event is late
 * when `t < W − retention`, a stream event when `t + lateness < W`. A stream event's result is due
 * once `W > e.t` (at once if it already is): it joins, among the accepted table events of its key
 * arrived by then, the one with the greatest time ≤ e.t, the later arrival of equal times. Results
 * due at one watermark go by time, then arrival.
 */
export function asOfReference(steps: Step[], spec: AsOfSpec): Expected {
  const out: Expected['out'] = [];
  const late: Expected['late'] = [];
  const versions: { e: Ev; seq: number }[] = [];
  let waiting: { e: Ev; seq: number }[] = [];
  const join = (e: Ev) => {
    let best: Ev | undefined;
    for (const v of versions) if (v.e.k === e.k && v.e.t <= e.t && (best === undefined || v.e.t >= best.t)) best = v.e;
    if (best !== undefined || spec.type === 'left') out.push({ value: { key: e.k, left: e, right: best ?? null }, key: e.k, time: e.t });
  };
  for (const step of steps) {
    if (step.kind === 'watermark') {
      const due = waiting.filter((s) => s.e.t < step.watermark).sort((a, b) => a.e.t - b.e.t || a.seq - b.seq);
      waiting = waiting.filter((s) => s.e.t >= step.watermark);
      for (const s of due) join(s.e);
      continue;
    }
    const { event: e, side, seq, watermark } = step;
    if (side === 'right') {
      if (e.t + spec.retention < watermark) late.push({ side: 'table', event: e });
      else versions.push({ e, seq });
    } else if (e.t + spec.lateness < watermark) late.push({ side: 'stream', event: e });
    else if (e.t < watermark) join(e);
    else waiting.push({ e, seq });
  }
  return { out, late };
}

/** Accepted events of one side, in dispatch order. */
export function acceptedOf(steps: Step[], side: Side, late: Expected['late']): Ev[] {
  const lateIds = new Set(late.map((l) => l.event.id));
  return events(steps)
    .filter((s) => s.side === side && !lateIds.has(s.event.id))
    .map((s) => s.event);
}
