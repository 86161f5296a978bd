import { Observable, type OperatorFunction, type Subscriber } from 'rxjs';
import { currentHost, type OperatorHost } from '../host.ts';
import { emitHeld, holdEvent, type HeldEvent } from '../record.ts';
import { errorMessage, RtmlError } from '../errors.ts';
import type { FeatureLookup, FeatureValue, FeatureView } from '../features.ts';
import type { RecordKey } from '../io.ts';
import { callerLocation } from '../location.ts';
import { extender } from './extend.ts';

export interface EnrichOptions<T> {
  /** The entity to look up: a field of the event or a function; default the stream's key (keyBy). */
  key?: string | ((event: T) => RecordKey);
  /** Prefix for the attached feature fields (default none: `n`, `total`, …). */
  prefix?: string;
  /**
   * Where the values come from:
   * - `'topology'` (default): the view is materialised in this topology; its latest values are kept
   *   in the run (and its checkpoints). Event-time and deterministic: an event sees exactly the
   *   features computed from the events before it.
   * - `'online'`: the run's online store (Redis), for a view another pipeline materialises. A
   *   processing-time lookup: an event sees what the store holds when its burst is looked up.
   */
  from?: 'topology' | 'online';
}

/** The event with the view's features attached; null where the entity has none yet. */
export type Enriched<T> = T & Record<string, FeatureValue>;

/** An event held for an online lookup, and its entity. */
interface Held extends HeldEvent {
  entity: string;
}

/**
 * Attaches a feature view's current values for the event's entity (a stream-table join).
 *
 * 1. By default the view must be materialised in the same topology; its latest values per entity
 *    are kept in the run (and in its checkpoints), so a lookup costs no store round trip, and an
 *    event sees features computed from the events before it, never from itself or later ones. The
 *    view's ttl applies in event time (see FeatureTable).
 * 2. With `from: 'online'` the values are read from the run's online store: the events of a burst
 *    of input are held and looked up together (one round trip per burst), then passed on in order.
 *    Event-time windows cannot follow it (their watermark would pass the held events).
 * 3. An entity with no features gets null for each feature; an event without an entity key is
 *    dead-lettered.
 *
 * ```ts
 * events.pipe(keyBy('card_id'), enrich(cardActivity), map((e) => ({ ...e, ratio: e.amount / (e.mean ?? 1) })))
 * ```
 */
export function enrich<T>(view: FeatureView, options: EnrichOptions<T> = {}): OperatorFunction<T, Enriched<T>> {
  const at = callerLocation();
  const what = `enrich('${view?.name}') at ${at}`;
  if (!view || typeof view.name !== 'string' || !Array.isArray(view.features)) {
    throw new RtmlError('RTML_E_FEATURE_VIEW', `enrich() at ${at} needs a view made by featureView({...})`);
  }
  const from = options.from ?? 'topology';
  if (from !== 'topology' && from !== 'online') throw new RtmlError('RTML_E_FEATURE_VIEW', `${what}: from must be 'topology' or 'online', not ${JSON.stringify(from)}`);
  const prefix = options.prefix ?? '';
  const names = view.features.map((f) => `${prefix}${f}`);
  const copy = extender(names);
  const attach = (event: unknown, values: Readonly<Record<string, FeatureValue>> | undefined): Enriched<T> => {
    const out = copy(event);
    for (let i = 0; i < names.length; i++) out[names[i]!] = values?.[view.features[i]!] ?? null;
    return out as Enriched<T>;
  };
  const { key } = options;
  const select = key === undefined ? undefined : typeof key === 'string' ? (e: T) => (e as Record<string, unknown>)[key] : key;
  /** The event's entity, or undefined once it is dead-lettered for having none. */
  const entityOf = (host: OperatorHost, event: T): string | undefined => {
    let entity: unknown;
    try {
      entity = select ? select(event) : host.record.key;
    } catch (err) {
      host.outputs.deadLetter(`enrich('${view.name}'): key function threw: ${errorMessage(err)}`);
      return undefined;
    }
    if (typeof entity !== 'string' && typeof entity !== 'number') {
      host.outputs.deadLetter(`enrich('${view.name}'): the event has no entity key (${select ? 'key option' : 'use keyBy() before it or set key'})`);
      return undefined;
    }
    return String(entity);
  };
  return (source) =>
    new Observable<Enriched<T>>((subscriber) => {
      const host = currentHost(what);
      if (from === 'online') return subscribeOnline(host, source, subscriber, host.features.lookup(view, what), entityOf, attach, what);
      const table = host.features.table(view, what);
      const record = host.record;
      return source.subscribe({
        next(event) {
          const entity = entityOf(host, event);
          if (entity !== undefined) subscriber.next(attach(event, table.get(entity, record.time)));
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}

/** enrich() from the online store: hold a burst's events, look their entities up at once, pass them on. */
function subscribeOnline<T>(
  host: OperatorHost,
  source: Observable<T>,
  subscriber: Subscriber<Enriched<T>>,
  lookup: FeatureLookup,
  entityOf: (host: OperatorHost, event: T) => string | undefined,
  attach: (event: unknown, values: Readonly<Record<string, FeatureValue>> | undefined) => Enriched<T>,
  what: string,
) {
  const record = host.record;
  let held: Held[] = [];
  const flush = async (): Promise<void> => {
    if (held.length === 0) return;
    const batch = held;
    held = [];
    const entities = [...new Set(batch.map((h) => h.entity))];
    let found;
    try {
      found = await lookup(entities);
    } catch (err) {
      throw new RtmlError('RTML_E_STORE', `${what}: online lookup failed: ${errorMessage(err)}`, { cause: err });
    }
    const byEntity = new Map(entities.map((e, i) => [e, found[i]?.values]));
    emitHeld(record, batch, (h) => subscriber.next(attach(h.value, byEntity.get(h.entity))));
  };
  const subscription = source.subscribe({
    next(event) {
      const entity = entityOf(host, event);
      if (entity === undefined) return;
      held.push({ ...holdEvent(record, event), entity });
    },
    error: (err) => subscriber.error(err),
    complete: () => host.lifecycle.finishing(flush().then(() => subscriber.complete())),
  });
  host.lifecycle.onBurstEnd(flush);
  host.lifecycle.holdsEventsBack(what);
  return subscription;
}
