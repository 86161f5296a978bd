import { Observable, type OperatorFunction } from 'rxjs';
import { currentHost } from '../context.ts';
import { errorMessage, RtmlError } from '../errors.ts';
import type { FeatureValue, FeatureView } from '../features.ts';
import type { RecordKey } from '../io.ts';
import { callerLocation } from '../location.ts';
import { extender } from './extend.ts';

export interface EnrichOptions<T> {
  /** The entity to look up: a field of the event or a function; default the stream's key (keyBy). */
  key?: string | ((event: T) => RecordKey);
  /** Prefix for the attached feature fields (default none: `n`, `total`, …). */
  prefix?: string;
}

/** The event with the view's features attached; null where the entity has none yet. */
export type Enriched<T> = T & Record<string, FeatureValue>;

/**
 * Attaches a feature view's current values for the event's entity (a stream-table join).
 *
 * 1. The view must be materialised in the same topology; its latest values per entity are kept in
 *    the run (and in its checkpoints), so a lookup costs no store round trip.
 * 2. An event sees features computed from the events before it, never from itself or later ones.
 * 3. An entity with no features yet gets null for each feature; an event without an entity key is
 *    dead-lettered.
 *
 * ```ts
 * events.pipe(keyBy('card_id'), enrich(cardActivity), map((e) => ({ ...e, ratio: e.amount / (e.mean ?? 1) })))
 * ```
 */
export function enrich<T>(view: FeatureView, options: EnrichOptions<T> = {}): OperatorFunction<T, Enriched<T>> {
  const at = callerLocation();
  if (!view || typeof view.name !== 'string' || !Array.isArray(view.features)) {
    throw new RtmlError('RTML_E_FEATURE_VIEW', `enrich() at ${at} needs a view made by featureView({...})`);
  }
  const prefix = options.prefix ?? '';
  const names = view.features.map((f) => `${prefix}${f}`);
  const copy = extender(names);
  const { key } = options;
  const select = key === undefined ? undefined : typeof key === 'string' ? (e: T) => (e as Record<string, unknown>)[key] : key;
  return (source) =>
    new Observable<Enriched<T>>((subscriber) => {
      const host = currentHost(`enrich('${view.name}') at ${at}`);
      const table = host.featureTable(view, `enrich('${view.name}') at ${at}`);
      const record = host.record;
      return source.subscribe({
        next(event) {
          let entity: unknown;
          try {
            entity = select ? select(event) : record.key;
          } catch (err) {
            host.deadLetter(`enrich('${view.name}'): key function threw: ${errorMessage(err)}`);
            return;
          }
          if (typeof entity !== 'string' && typeof entity !== 'number') {
            host.deadLetter(`enrich('${view.name}'): the event has no entity key (${select ? 'key option' : 'use keyBy() before it or set key'})`);
            return;
          }
          const values = table.get(String(entity));
          const out = copy(event);
          for (let i = 0; i < names.length; i++) out[names[i]!] = values?.[view.features[i]!] ?? null;
          subscriber.next(out as Enriched<T>);
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}
