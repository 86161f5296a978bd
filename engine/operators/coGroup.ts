import { Observable, type OperatorFunction } from 'rxjs';
import { AggregateSet, defineAggregate, type Aggregate, type AggregateResult } from '../aggregates.ts';
import { parseDuration } from '../duration.ts';
import { errorMessage, RtmlError } from '../errors.ts';
import { currentHost } from '../host.ts';
import type { RecordKey } from '../io.ts';
import { callerLocation } from '../location.ts';
import { markShape } from '../shape.ts';
import { isWindowSpec, type WindowSpec } from '../windowSpecs.ts';
import { LEFT, RIGHT } from './intervalJoinStore.ts';
import { checkOtherStream, connectSides } from './joinInputs.ts';
import type { Keyed } from './keyBy.ts';
import type { WindowOptions } from './window.ts';
import type { SideEvent } from './windowJoin.ts';
import { resultEmitter } from './emitResult.ts';
import { createWindowStore } from './windowStores.ts';

type Aggregates = Record<string, Aggregate<never>>;

/** A co-grouped window's result: `{ key, window_start, window_end, ...left aggregates, ...right aggregates }`. */
export type CoGroupResult<A extends Aggregates, B extends Aggregates> = { key: RecordKey; window_start: number; window_end: number } & {
  [K in keyof A]: AggregateResult<A[K]>;
} & { [K in keyof B]: AggregateResult<B[K]> | null };

interface SideAcc {
  n: number;
  acc: unknown;
}

/**
 * One side's aggregate over both sides' events: it takes only its side's. With none of them in the
 * window it gives what the aggregate gives for no values when that is a finite number (count 0,
 * sum 0), else null (min, max, avg, first, last).
 */
function ofSide(side: typeof LEFT | typeof RIGHT, agg: Aggregate<unknown>): Aggregate<SideEvent, SideAcc, unknown> {
  const empty = agg.result(agg.init());
  const none = typeof empty === 'number' && Number.isFinite(empty) ? empty : null;
  return defineAggregate<SideEvent, SideAcc, unknown>({
    name: agg.name,
    init: () => ({ n: 0, acc: agg.init() }),
    add(acc, e, time) {
      if (e.side === side) {
        acc.acc = agg.add(acc.acc, e.event as never, time);
        acc.n++;
      }
      return acc;
    },
    merge: (a, b) => ({ n: a.n + b.n, acc: agg.merge(a.acc, b.acc) }),
    result: (acc) => (acc.n === 0 ? none : agg.result(acc.acc)),
    check: (e) => (e.side === side ? agg.check?.(e.event as never) : undefined),
  });
}

/**
 * Aggregates two keyed streams in the same windows: one result per key and window with the left
 * side's aggregates and the right side's (docs/semantics.md, co-grouped aggregation), with every
 * rule of windows (firing, lateness, `emit: 'update'`, cut windows).
 *
 * ```ts
 * clicks.pipe(keyBy('ad'), coGroup(impressions.pipe(keyBy('ad')), tumbling('1m'), { left: { clicks: count() }, right: { shown: count() } }))
 * ```
 */
export function coGroup<L, R, A extends Aggregates, B extends Aggregates>(
  other: Observable<Keyed<R>>,
  spec: WindowSpec,
  aggregates: { left: A; right: B },
  options: WindowOptions = {},
): OperatorFunction<Keyed<L>, Keyed<CoGroupResult<A, B>>> {
  const at = callerLocation();
  const what = `coGroup() at ${at}`;
  checkOtherStream(what, other);
  if (!isWindowSpec(spec)) throw new RtmlError('RTML_E_WINDOW', `${what} needs tumbling(size), hopping(size, advance) or session(gap), got ${JSON.stringify(spec)}`);
  const { left: leftAggs = {}, right: rightAggs = {} } = aggregates ?? {};
  for (const name of Object.keys(leftAggs)) {
    if (name in rightAggs) throw new RtmlError('RTML_E_AGGREGATE', `${what}: '${name}' names a left and a right aggregate; the result needs distinct names`);
  }
  const wrap = (side: typeof LEFT | typeof RIGHT, aggs: Aggregates) => Object.fromEntries(Object.entries(aggs).map(([n, a]) => [n, ofSide(side, a as Aggregate<unknown>)]));
  const aggs = new AggregateSet({ ...wrap(LEFT, leftAggs), ...wrap(RIGHT, rightAggs) }, at);
  const known = new Set(['lateness', 'late', 'emit']);
  for (const name of Object.keys(options)) if (!known.has(name)) throw new RtmlError('RTML_E_WINDOW', `${what}: unknown option '${name}' (options: lateness, late, emit)`);
  const emitUpdates = (options.emit ?? 'final') === 'update';
  if (options.emit !== undefined && options.emit !== 'final' && options.emit !== 'update') throw new RtmlError('RTML_E_WINDOW', `${what}: emit must be 'final' or 'update', got ${JSON.stringify(options.emit)}`);
  const lateness = parseDuration(options.lateness ?? 0, `${what} lateness`);
  return (left) => {
    const results = new Observable<Keyed<CoGroupResult<A, B>>>((subscriber) => {
      const host = currentHost(what);
      const { state, outputs } = host;
      const id = state.operatorId(`${spec.kind}-co-group`);
      const emit = resultEmitter(host, subscriber);
      const store = createWindowStore(spec, { lateness, emitUpdates, edges: state.edges }, aggs, (key, start, end, accs, cut) => emit(key, end - 1, aggs.result(key, start, end, accs), cut));
      state.register(id, store, JSON.stringify({ spec, lateness, emit: options.emit, aggregates: aggs.names }));
      const take = (side: typeof LEFT | typeof RIGHT) => (event: unknown, key: RecordKey, time: number): boolean => {
        const tagged: SideEvent = { side, event };
        const reason = aggs.check(tagged);
        if (reason !== undefined) {
          outputs.deadLetter(reason);
          return true;
        }
        try {
          return store.add(key, time, tagged);
        } catch (err) {
          outputs.deadLetter(`${what} threw: ${errorMessage(err)}`);
          return true;
        }
      };
      // An allowed-late update comes out up to `lateness` behind the watermark.
      return connectSides(
        host,
        what,
        { id, inputs: [left, other], sides: ['left', 'right'], take: [take(LEFT), take(RIGHT)], late: options.late, advance: (watermark) => store.advance(watermark), emitsBehind: lateness },
        subscriber,
      );
    });
    return markShape(results, { fields: ['key', 'window_start', 'window_end', ...aggs.names], by: what });
  };
}
