import { Observable, type OperatorFunction } from 'rxjs';
import { AggregateSet, type Aggregate, type AggregateResult } from '../aggregates.ts';
import { currentHost } from '../host.ts';
import { errorMessage, RtmlError } from '../errors.ts';
import type { RecordKey } from '../io.ts';
import { callerLocation } from '../location.ts';
import { markShape } from '../shape.ts';
import { resultEmitter } from './emitResult.ts';
import { createWindowStore } from './windowStores.ts';
import { WindowedObservable, type Windowed } from './window.ts';

/** A window's result: `{ key, window_start, window_end, <name>: value, … }` (times in epoch ms). */
export type WindowResult<A> = { key: RecordKey; window_start: number; window_end: number } & {
  [K in keyof A]: AggregateResult<A[K]>;
};

/**
 * Aggregates each key's windows and emits their results (docs/semantics.md, firing and lateness).
 *
 * 1. Must follow `window(...)` directly, on a stream keyed by `keyBy(...)`.
 * 2. An event every aggregate cannot take (`check`) is dead-lettered whole, before any state changes.
 * 3. Events late for all their windows go to the window's `late` sink, else are counted and dropped.
 * 4. Results carry the window's key and `window_end - 1` as their event time downstream; a dead
 *    letter downstream of it is the result's (OutputCapability.deadLetter), not the input event's.
 * 5. Its output stream is marked with the results' fields (engine/shape.ts), so materialize()
 *    right after it checks a feature view's fields at start.
 *
 * ```ts
 * window(tumbling('1m')), aggregate({ n: count(), total: sum('amount'), uniq: distinct('merchant_id') })
 * ```
 */
export function aggregate<T, A extends Record<string, Aggregate<never>>>(
  aggregates: A,
): OperatorFunction<Windowed<T>, WindowResult<A>> {
  const at = callerLocation();
  const aggs = new AggregateSet(aggregates, at);
  return (source) => {
    if (!(source instanceof WindowedObservable)) {
      throw new RtmlError('RTML_E_OPERATOR', `aggregate() at ${at} must directly follow window(...)`);
    }
    const { upstream, spec, options } = source as WindowedObservable<T>;
    const results = new Observable<WindowResult<A>>((subscriber) => {
      const host = currentHost(`aggregate() at ${at}`);
      const { record, state, outputs, lifecycle } = host;
      const id = state.operatorId(`${spec.kind}-window`);
      const late = outputs.late(options.late, id);
      // A ranged run (replay, backfill): windows its edges cut are marked, or dropped (edges.drop).
      const edges = state.edges;
      const emitResult = resultEmitter(host, subscriber);
      const emit = (key: RecordKey, start: number, end: number, accs: unknown[], cut: boolean): void => emitResult(key, end - 1, aggs.result(key, start, end, accs), cut);
      const storeOptions = { lateness: options.lateness, emitUpdates: options.emit === 'update', edges };
      const store = createWindowStore(spec, storeOptions, aggs, emit);
      state.register(id, store, JSON.stringify({ spec, lateness: options.lateness, emit: options.emit, aggregates: aggs.names }));
      const subscription = upstream.subscribe({
        next(event) {
          const key = record.key;
          if (key === undefined) {
            subscriber.error(new RtmlError('RTML_E_OPERATOR', `window() at ${source.at} needs a keyed stream: put keyBy(...) before it`));
            return;
          }
          const reason = aggs.check(event);
          if (reason !== undefined) {
            outputs.deadLetter(reason);
            return;
          }
          let taken: boolean;
          try {
            taken = store.add(key, record.time, event);
          } catch (err) {
            outputs.deadLetter(`aggregate() at ${at} threw: ${errorMessage(err)}`);
            return;
          }
          if (!taken) late(event);
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      // Checked once upstream is subscribed: only then is a batching operator above it known.
      if (lifecycle.holdingBack !== undefined) {
        subscription.unsubscribe();
        throw new RtmlError('RTML_E_OPERATOR', `window() at ${source.at} cannot follow ${lifecycle.holdingBack}: it holds events back in batches, so a window after it would see the watermark pass events still in a batch; put windows before it`);
      }
      // Registered after subscribing upstream, so upstream operators see each watermark first.
      state.onWatermark((watermark) => store.advance(watermark));
      return subscription;
    });
    return markShape(results, { fields: ['key', 'window_start', 'window_end', ...aggs.names], by: `aggregate() at ${at}` });
  };
}
