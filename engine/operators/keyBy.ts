import { Observable, type OperatorFunction } from 'rxjs';
import { currentHost } from '../context.ts';
import { errorMessage } from '../errors.ts';
import type { RecordKey } from '../io.ts';
import { callerLocation } from '../location.ts';

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
export function keyBy<T>(key: string | ((event: T) => RecordKey)): OperatorFunction<T, T> {
  const at = callerLocation();
  const label = typeof key === 'string' ? `keyBy('${key}')` : 'keyBy(fn)';
  const select = typeof key === 'string' ? (e: T) => (e as Record<string, unknown>)[key] : key;
  return (source) =>
    new Observable<T>((subscriber) => {
      const host = currentHost(`${label} at ${at}`);
      const record = host.record;
      return source.subscribe({
        next(event) {
          let k: unknown;
          try {
            k = select(event);
          } catch (err) {
            host.deadLetter(`${label} threw: ${errorMessage(err)}`);
            return;
          }
          if (!(typeof k === 'string' || (typeof k === 'number' && Number.isFinite(k)))) {
            host.deadLetter(`${label}: key is ${k === undefined ? 'missing' : JSON.stringify(k)}, not a string or finite number`);
            return;
          }
          const outer = record.key;
          record.key = k;
          subscriber.next(event);
          record.key = outer;
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}
