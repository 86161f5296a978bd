import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { currentHost } from './context.ts';
import { parseDuration, type Duration } from './duration.ts';
import { RtmlError } from './errors.ts';
import { callerLocation } from './location.ts';

/**
 * Feature views: named sets of features (fields of aggregate results) per entity, materialised
 * online (latest value per entity, for serving) and offline (every value with its event time, for
 * point-in-time correct training sets). The stores live in connectors/features; the engine only
 * declares views and hands rows to the store a run is bound to.
 */

/** Features are numbers (a model's inputs); null where a value is absent. */
export type FeatureValue = number | null;

export interface FeatureViewSpec {
  /** View name: lower case letters, digits and _ (it names a Postgres table and Redis keys). */
  name: string;
  /** Field of each result holding the entity key (default 'key', as aggregate() emits it). */
  entity?: string;
  /** Fields of each result to store as features. */
  features: readonly string[];
  /** Field of each result holding the time the values are valid from, epoch ms (default 'window_end'). */
  time?: string;
  /** How long an entity's online values live after their last update (default: no expiry). */
  ttl?: Duration;
}

export interface FeatureView {
  readonly name: string;
  readonly entity: string;
  readonly features: readonly string[];
  readonly time: string;
  /** Online time to live in ms; Infinity for none. */
  readonly ttl: number;
  readonly at: string;
}

/** One versioned set of feature values of an entity. */
export interface FeatureRow {
  readonly entity: string;
  readonly time: number;
  readonly values: Readonly<Record<string, FeatureValue>>;
}

/** Writes feature rows to the online and offline stores of a run. */
export interface FeatureWriter {
  /** Buffers a row; never blocks. */
  write(view: FeatureView, row: FeatureRow): void;
  /** Rows buffered and not yet written. */
  readonly pending: number;
  /**
   * Writes every buffered row to both stores (idempotent upserts). While a store is unreachable it
   * retries with backoff, so a checkpoint is never taken past unwritten features.
   */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** The feature stores a run is bound to (connectors/features): opened with the views it writes. */
export interface FeatureStore {
  readonly description: string;
  open(views: readonly FeatureView[]): Promise<FeatureWriter>;
}

const VIEW_NAME = /^[a-z][a-z0-9_]{0,47}$/;
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Declares a feature view; a bad declaration fails at start with the topology line. */
export function featureView(spec: FeatureViewSpec): FeatureView {
  const at = callerLocation();
  const fail = (why: string): never => {
    throw new RtmlError('RTML_E_FEATURE_VIEW', `featureView(${JSON.stringify(spec?.name)}) at ${at}: ${why}`);
  };
  if (typeof spec !== 'object' || spec === null) fail('needs { name, features, entity?, time?, ttl? }');
  if (typeof spec.name !== 'string' || !VIEW_NAME.test(spec.name)) fail('name must be lower case letters, digits and _ (at most 48), starting with a letter');
  const entity = spec.entity ?? 'key';
  const time = spec.time ?? 'window_end';
  if (!Array.isArray(spec.features) || spec.features.length === 0) fail('features must list at least one result field');
  for (const f of [entity, time, ...spec.features]) {
    if (typeof f !== 'string' || !FIELD_NAME.test(f)) fail(`${JSON.stringify(f)} is not a field name`);
  }
  const seen = new Set<string>();
  for (const f of spec.features) {
    if (f === entity || f === time) fail(`feature '${f}' is also the entity or time field`);
    if (seen.has(f)) fail(`feature '${f}' is listed twice`);
    seen.add(f);
  }
  const ttl = spec.ttl === undefined ? Infinity : parseDuration(spec.ttl, `featureView('${spec.name}') ttl`, at);
  if (ttl === 0) fail('ttl must be greater than 0 (leave it out for no expiry)');
  return Object.freeze({ name: spec.name, entity, features: Object.freeze([...spec.features]), time, ttl, at });
}

function describe(v: unknown): string {
  return v === undefined ? 'missing' : JSON.stringify(v);
}

/**
 * Materialises each result into a feature view's online and offline stores, and passes it on.
 *
 * 1. The row's entity is the result's `entity` field (string or number, stored as text), its time
 *    the `time` field (whole epoch ms), its values the `features` fields (finite numbers, or null).
 * 2. A result that lacks one of them goes to the dead-letter output with the reason.
 * 3. Rows are written in batches when the runtime flushes (and always before a checkpoint).
 *
 * ```ts
 * const card = featureView({ name: 'card_activity', features: ['n', 'total'], ttl: '1d' });
 * keyBy('card_id'), window(tumbling('1m')), aggregate({ n: count(), total: sum('amount') }), materialize(card)
 * ```
 */
export function materialize<T>(view: FeatureView): MonoTypeOperatorFunction<T> {
  const at = callerLocation();
  if (!view || typeof view.name !== 'string' || !Array.isArray(view.features)) {
    throw new RtmlError('RTML_E_FEATURE_VIEW', `materialize() at ${at} needs a view made by featureView({...})`);
  }
  return (source) =>
    new Observable<T>((subscriber) => {
      const host = currentHost(`materialize('${view.name}') at ${at}`);
      const writer = host.featureWriter(view);
      const table = host.featureTable(view);
      return source.subscribe({
        next(result) {
          const r = result as Record<string, unknown>;
          const entity = r[view.entity];
          const time = r[view.time];
          let reason: string | undefined;
          if (typeof entity !== 'string' && typeof entity !== 'number') reason = `entity field '${view.entity}' is ${describe(entity)}`;
          else if (typeof time !== 'number' || !Number.isInteger(time)) reason = `time field '${view.time}' is ${describe(time)}, not whole epoch ms`;
          const values: Record<string, FeatureValue> = {};
          for (const f of view.features) {
            const v = r[f];
            if (v === null || (typeof v === 'number' && Number.isFinite(v))) values[f] = v;
            else reason ??= `feature '${f}' is ${describe(v)}, not a finite number or null`;
          }
          if (reason !== undefined) host.deadLetter(`materialize('${view.name}'): ${reason}`);
          else {
            const row = { entity: String(entity), time: time as number, values };
            writer.write(view, row);
            table.stage(row);
          }
          subscriber.next(result as T);
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}
