import { Observable, type OperatorFunction } from 'rxjs';
import { currentHost } from '../host.ts';
import type { RecordFrame } from '../record.ts';
import { errorMessage } from '../errors.ts';
import type { RecordKey } from '../io.ts';
import { callerLocation } from '../location.ts';

declare const keyed: unique symbol;

/**
 * An event of a keyed stream: what keyBy() or repartition() emits. Event-time windows take only
 * keyed streams, so `window()` without a key before it fails type checking (a plain rxjs `map`
 * after keyBy() drops the mark: put it before keyBy()). Operators that pass events on unchanged
 * (`filter`) or extend them (enrich, score) keep it.
 */
export type Keyed<T> = T & { readonly [keyed]: true };

/**
 * Keys the stream: each event passes through unchanged, and the key travels beside it (in the
 * record context) to the window operators downstream, also across rxjs `map` and `filter`.
 *
 * 1. `key` is a field name or a function of the event; the key must be a string or a finite number.
 * 2. An event whose key is missing or of another type, or whose key function throws, goes to the
 *    dead-letter output with the reason; the stream goes on.
 *
 * ```ts
 * source('events', { time: 'ts' }).pipe(keyBy('card_id'), window(tumbling('1m')), aggregate({ n: count() }))
 * ```
 */
export function keyBy<T>(key: string | ((event: T) => RecordKey)): OperatorFunction<T, Keyed<T>> {
  const at = callerLocation();
  const label = typeof key === 'string' ? `keyBy('${key}')` : 'keyBy(fn)';
  const select = typeof key === 'string' ? (e: T) => (e as Record<string, unknown>)[key] : key;
  return (source) =>
    new Observable<Keyed<T>>((subscriber) => {
      const { record, outputs } = currentHost(`${label} at ${at}`);
      const frame: RecordFrame = { key: undefined };
      const emit = (event: T): void => subscriber.next(event as Keyed<T>);
      return source.subscribe({
        next(event) {
          let k: unknown;
          try {
            k = select(event);
          } catch (err) {
            outputs.deadLetter(`${label} threw: ${errorMessage(err)}`);
            return;
          }
          if (!(typeof k === 'string' || (typeof k === 'number' && Number.isFinite(k)))) {
            outputs.deadLetter(`${label}: key is ${k === undefined ? 'missing' : JSON.stringify(k)}, not a string or finite number`);
            return;
          }
          frame.key = k;
          record.within(frame, emit, event);
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}
