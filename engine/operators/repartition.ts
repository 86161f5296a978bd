import { Observable, type OperatorFunction } from 'rxjs';
import { currentHost } from '../host.ts';
import type { RecordKey } from '../io.ts';
import { callerLocation } from '../location.ts';
import { keyBy, type Keyed } from './keyBy.ts';

/**
 * Re-keys the stream so that every event of a key reaches the same task — what Kafka Streams does
 * with a repartition topic. In one process it is keyBy (the process holds every key). In a scale-out
 * run (`rtml run --scale-out`), where each task holds only the keys of its input partition, events go
 * through an exchange topic partitioned by the new key, and the operators after repartition() run
 * in the task of that topic's partition. Same key rules and dead letters as keyBy.
 *
 * ```ts
 * source('events', { time: 'ts' }).pipe(repartition('merchant_id'), window(tumbling('1m')), aggregate({ n: count() }))
 * ```
 */
export function repartition<T>(key: string | ((event: T) => RecordKey)): OperatorFunction<T, Keyed<T>> {
  const at = callerLocation();
  const rekey = keyBy(key);
  const label = `${typeof key === 'string' ? `repartition('${key}')` : 'repartition(fn)'} at ${at}`;
  return (source) =>
    new Observable<Keyed<T>>((subscriber) => {
      const host = currentHost(label);
      const exchange = host.exchange(label);
      if (exchange.side === 'local') return rekey(source).subscribe(subscriber);
      if (exchange.side === 'send') {
        const record = host.record;
        return rekey(source).subscribe({
          next: (event) => exchange.send(event, record.key!, record.time),
          error: (err) => subscriber.error(err),
          complete: () => subscriber.complete(),
        });
      }
      return (exchange.events as Observable<Keyed<T>>).subscribe(subscriber);
    });
}
