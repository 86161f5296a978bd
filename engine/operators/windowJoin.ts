import { Observable, type OperatorFunction } from 'rxjs';
import { AggregateSet, defineAggregate } from '../aggregates.ts';
import { RtmlError } from '../errors.ts';
import { currentHost } from '../host.ts';
import type { RecordKey } from '../io.ts';
import { callerLocation } from '../location.ts';
import { isWindowSpec, type WindowSpec } from '../windowSpecs.ts';
import { LEFT, RIGHT } from './intervalJoinStore.ts';
import { checkOtherStream, connectSides, resolveJoinOptions, type JoinOptions, type JoinRight, type JoinType } from './joinInputs.ts';
import { resultEmitter } from './emitResult.ts';
import type { Keyed } from './keyBy.ts';
import { createWindowStore } from './windowStores.ts';

/** A window join's result when no `select` is given. */
export interface WindowJoined<L, R> {
  key: RecordKey;
  window_start: number;
  window_end: number;
  left: L;
  right: R;
}

/** An input event of a two-sided window operator, with its side. */
export interface SideEvent {
  readonly side: typeof LEFT | typeof RIGHT;
  readonly event: unknown;
}

/**
 * One window's events of both sides. A pair is emitted once: events that were in the window when
 * it last emitted share a cohort (all their pairs are out); new events have none (-1). Windows that
 * merge (sessions) keep their cohorts apart, so the pairs across them are still to come. A plain
 * object, not a class: checkpoints serialize it.
 */
interface WindowPairs {
  left: unknown[];
  leftCohort: number[];
  leftMatched: boolean[];
  right: unknown[];
  rightCohort: number[];
  cohorts: number;
}

const windowPairs = defineAggregate<SideEvent, WindowPairs, WindowPairs>({
  name: 'pairs',
  init: () => ({ left: [], leftCohort: [], leftMatched: [], right: [], rightCohort: [], cohorts: 0 }),
  add(acc, { side, event }) {
    if (side === LEFT) {
      acc.left.push(event);
      acc.leftCohort.push(-1);
      acc.leftMatched.push(false);
    } else {
      acc.right.push(event);
      acc.rightCohort.push(-1);
    }
    return acc;
  },
  merge(a, b) {
    const shift = (c: number): number => (c < 0 ? c : c + a.cohorts);
    a.left.push(...b.left);
    a.leftCohort.push(...b.leftCohort.map(shift));
    a.leftMatched.push(...b.leftMatched);
    a.right.push(...b.right);
    a.rightCohort.push(...b.rightCohort.map(shift));
    a.cohorts += b.cohorts;
    return a;
  },
  result: (acc) => acc,
});

/** Calls `pair` for every pair of the window not emitted yet (lefts in arrival order, each with the rights in order). */
function newPairs(acc: WindowPairs, pair: (left: unknown, right: unknown) => void): void {
  const { left, leftCohort, leftMatched, right, rightCohort } = acc;
  if (left.length === 0 || right.length === 0) return;
  for (let i = 0; i < left.length; i++) {
    const li = leftCohort[i]!;
    for (let j = 0; j < right.length; j++) {
      if (li < 0 || li !== rightCohort[j]) pair(left[i], right[j]);
    }
    leftMatched[i] = true;
  }
  const cohort = acc.cohorts++;
  leftCohort.fill(cohort);
  rightCohort.fill(cohort);
}

/**
 * Joins two keyed streams window by window: when a window fires, every pair of the key's events of
 * both sides in it (docs/semantics.md, window join). Both sides are cut into the same windows;
 * sessions are those of both sides' events together. `type: 'left'` also emits each left event of a
 * window that met no right one, when the window is freed.
 *
 * ```ts
 * persons.pipe(keyBy('id'), windowJoin(auctions.pipe(keyBy('seller')), tumbling('10s')))
 * ```
 */
export function windowJoin<L, R, T extends JoinType = 'inner', O = WindowJoined<L, JoinRight<R, T>>>(
  other: Observable<Keyed<R>>,
  spec: WindowSpec,
  options: JoinOptions<L, R, T, O> = {},
): OperatorFunction<Keyed<L>, Keyed<O>> {
  const at = callerLocation();
  const what = `windowJoin() at ${at}`;
  checkOtherStream(what, other);
  if (!isWindowSpec(spec)) throw new RtmlError('RTML_E_WINDOW', `${what} needs tumbling(size), hopping(size, advance) or session(gap), got ${JSON.stringify(spec)}`);
  const { lateness, type, late, select } = resolveJoinOptions(what, options, []);
  const aggs = new AggregateSet({ pairs: windowPairs }, at);
  return (left) =>
    new Observable<Keyed<O>>((subscriber) => {
      const host = currentHost(what);
      const { state } = host;
      const id = state.operatorId(`${spec.kind}-window-join`);
      const emit = resultEmitter(host, subscriber);
      const shape = (key: RecordKey, start: number, end: number, l: unknown, r: unknown): unknown =>
        select !== undefined ? select(l, r) : { key, window_start: start, window_end: end, left: l, right: r };
      const store = createWindowStore(
        spec,
        {
          lateness,
          emitUpdates: false,
          edges: state.edges,
          freed:
            type === 'left'
              ? (key, start, end, accs, cut) => {
                  const acc = accs[0] as WindowPairs;
                  for (let i = 0; i < acc.left.length; i++) if (!acc.leftMatched[i]) emit(key, end - 1, shape(key, start, end, acc.left[i], null), cut);
                }
              : undefined,
        },
        aggs,
        (key, start, end, accs, cut) => newPairs(accs[0] as WindowPairs, (l, r) => emit(key, end - 1, shape(key, start, end, l, r), cut)),
      );
      state.register(id, store, JSON.stringify({ spec, lateness, type }));
      return connectSides(
        host,
        what,
        {
          id,
          inputs: [left, other],
          sides: ['left', 'right'],
          take: [(event, key, time) => store.add(key, time, { side: LEFT, event } satisfies SideEvent), (event, key, time) => store.add(key, time, { side: RIGHT, event } satisfies SideEvent)],
          late,
          advance: (watermark) => store.advance(watermark),
          emitsBehind: lateness,
        },
        subscriber,
      );
    });
}
