import { Observable, type OperatorFunction } from 'rxjs';
import { parseDuration, type Duration } from '../duration.ts';
import { RtmlError } from '../errors.ts';
import { currentHost } from '../host.ts';
import { callerLocation } from '../location.ts';
import { IntervalJoinStore, LEFT, RIGHT } from './intervalJoinStore.ts';
import {
  checkOtherStream,
  resolveJoinOptions,
  resultShaper,
  connectSides,
  type JoinOptions,
  type JoinRight,
  type JoinType,
  type Joined,
} from './joinInputs.ts';
import { resultEmitter } from './emitResult.ts';
import type { Keyed } from './keyBy.ts';

/** A bound of an interval: milliseconds (negative allowed), or a duration string with an optional '-'. */
export type IntervalBound = number | Duration | `-${Duration}`;

export interface IntervalJoinOptions<L, R, T extends JoinType, O> extends JoinOptions<L, R, T, O> {
  /** `[lower, upper]`: a pair joins when `lower ≤ right.t − left.t ≤ upper` (inclusive). */
  between: readonly [IntervalBound, IntervalBound];
}

function parseBound(value: IntervalBound, what: string, at: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RtmlError('RTML_E_DURATION', `${what}: ${value} is not a finite number of milliseconds at ${at}`);
    return value;
  }
  const negative = typeof value === 'string' && value.trim().startsWith('-');
  const ms = parseDuration(negative ? value.trim().slice(1) : value, what, at);
  return negative ? -ms : ms;
}

/**
 * Joins two keyed streams on time: each pair of events of the same key with
 * `lower ≤ right.t − left.t ≤ upper`, emitted as soon as both are there, with the later of their
 * times (docs/semantics.md, interval join). `type: 'left'` also emits each left event that matched
 * nothing, once, when the watermark proves no match can come.
 *
 * ```ts
 * payments.pipe(keyBy('card'), intervalJoin(logins.pipe(keyBy('card')), { between: ['-10m', 0], type: 'left', late: 'late' }))
 * ```
 */
export function intervalJoin<L, R, T extends JoinType = 'inner', O = Joined<L, JoinRight<R, T>>>(
  other: Observable<Keyed<R>>,
  options: IntervalJoinOptions<L, R, T, O>,
): OperatorFunction<Keyed<L>, Keyed<O>> {
  const at = callerLocation();
  const what = `intervalJoin() at ${at}`;
  checkOtherStream(what, other);
  const resolved = resolveJoinOptions(what, options, ['between']);
  const between = options.between;
  if (!Array.isArray(between) || between.length !== 2) throw new RtmlError('RTML_E_TOPOLOGY', `${what} needs between: [lower, upper]`);
  const lower = parseBound(between[0], `${what} between[0]`, at);
  const upper = parseBound(between[1], `${what} between[1]`, at);
  if (lower > upper) throw new RtmlError('RTML_E_TOPOLOGY', `${what}: between [${lower}, ${upper}] needs lower ≤ upper`);
  const { lateness, type, late, select } = resolved;
  const shape = resultShaper(select);
  return (left) =>
    new Observable<Keyed<O>>((subscriber) => {
      const host = currentHost(what);
      const { state } = host;
      const id = state.operatorId('interval-join');
      const emit = resultEmitter(host, subscriber);
      const edges = state.edges;
      // A ranged run: a left row unmatched within the range may have its match outside it.
      const cut = (time: number): boolean => {
        const isCut = edges !== undefined && (time + lower < edges.start || time + upper + lateness > edges.end);
        if (isCut) edges.cut(1);
        return isCut;
      };
      const store = new IntervalJoinStore(
        { lower, upper, lateness, unmatchedLeft: type === 'left' },
        {
          pair: (key, l, r) => emit(key, Math.max(l.time, r.time), shape(key, l.event, r.event), false),
          unmatched: (key, l) => emit(key, l.time, shape(key, l.event, null), cut(l.time)),
        },
      );
      state.register(id, store, JSON.stringify({ lower, upper, lateness, type }));
      return connectSides(
        host,
        what,
        {
          id,
          inputs: [left, other],
          sides: ['left', 'right'],
          take: [(event, key, time) => store.add(LEFT, key, time, event), (event, key, time) => store.add(RIGHT, key, time, event)],
          late,
          advance: (watermark) => store.advance(watermark),
          // A left join's unmatched rows come out `upper` behind the watermark, and lateness behind that.
          emitsBehind: lateness + (type === 'left' ? Math.max(upper, 0) : 0),
        },
        subscriber,
      );
    });
}
