import { Observable, type OperatorFunction } from 'rxjs';
import { parseDuration, type Duration } from '../duration.ts';
import { RtmlError } from '../errors.ts';
import { currentHost } from '../host.ts';
import { callerLocation } from '../location.ts';
import { AsOfJoinStore } from './asOfJoinStore.ts';
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

export interface AsOfJoinOptions<L, R, T extends JoinType, O> extends JoinOptions<L, R, T, O> {
  /**
   * How far behind the watermark the table's history is kept (default: all of it). A table event
   * older than that is late: it goes to the late output instead of rewriting history.
   */
  retention?: Duration;
}

/**
 * Joins each event with the version of a changelog stream (the table) valid at the event's time:
 * the table event of its key with the greatest time ≤ the event's (docs/semantics.md, as-of join).
 * Results wait for the watermark to pass the event, so they do not depend on which side arrived first.
 *
 * ```ts
 * payments.pipe(keyBy('account'), asOfJoin(profiles.pipe(keyBy('account')), { retention: '7d', type: 'left' }))
 * ```
 */
export function asOfJoin<L, R, T extends JoinType = 'inner', O = Joined<L, JoinRight<R, T>>>(
  table: Observable<Keyed<R>>,
  options: AsOfJoinOptions<L, R, T, O> = {},
): OperatorFunction<Keyed<L>, Keyed<O>> {
  const at = callerLocation();
  const what = `asOfJoin() at ${at}`;
  checkOtherStream(what, table);
  const { lateness, type, late, select } = resolveJoinOptions(what, options, ['retention']);
  const retention = options.retention === undefined ? Infinity : parseDuration(options.retention, `${what} retention`);
  if (lateness > retention) throw new RtmlError('RTML_E_TOPOLOGY', `${what}: lateness (${lateness} ms) may not exceed retention (${retention} ms): a late event's version would be gone`);
  const shape = resultShaper(select);
  return (stream) =>
    new Observable<Keyed<O>>((subscriber) => {
      const host = currentHost(what);
      const { state } = host;
      const id = state.operatorId('as-of-join');
      const emit = resultEmitter(host, subscriber);
      // A ranged run: an event that found no version may have one before the range.
      const edges = state.edges;
      const store = new AsOfJoinStore({ retention, lateness }, (key, event, version) => {
        if (version !== undefined) emit(key, event.time, shape(key, event.event, version.event), false);
        else if (type === 'left') {
          edges?.cut(1);
          emit(key, event.time, shape(key, event.event, null), edges !== undefined);
        }
      });
      state.register(id, store, JSON.stringify({ retention, lateness, type }));
      return connectSides(
        host,
        what,
        {
          id,
          inputs: [stream, table],
          sides: ['stream', 'table'],
          take: [(event, key, time) => store.addEvent(key, time, event), (event, key, time) => store.addVersion(key, time, event)],
          late,
          advance: (watermark) => store.advance(watermark),
          emitsBehind: lateness,
        },
        subscriber,
      );
    });
}
