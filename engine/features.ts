import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { currentHost } from './host.ts';
import { parseDuration, type Duration } from './duration.ts';
import { RtmlError } from './errors.ts';
import { callerLocation } from './location.ts';
import { markShape, shapeOf, type KnownShape } from './shape.ts';

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

/** An entity's latest values in a view and the event time they are valid from (online store). */
export interface FeatureSnapshot {
  readonly time: number;
  readonly values: Readonly<Record<string, FeatureValue>>;
}

/** Latest values of entities in one view, in the order asked; null where there are none. */
export type FeatureLookup = (entities: readonly string[]) => Promise<(FeatureSnapshot | null)[]>;

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
  /**
   * Reads views' latest values from the online store (enrich() with `from: 'online'`), waiting out
   * an unreachable store like writes do. A store without it cannot serve such lookups.
   */
  read?(view: FeatureView, entities: readonly string[]): Promise<(FeatureSnapshot | null)[]>;
  /**
   * Its retries while a store was unreachable, and whether one is unreachable now (retrying):
   * the run's summary and metrics show them.
   */
  readonly stats?: Readonly<{ retries: number; unavailable: boolean }>;
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

/** The view's fields as `role 'name'`, entity and time first. */
function viewFields(view: FeatureView): [field: string, role: string][] {
  return [[view.entity, 'entity'], [view.time, 'time'], ...view.features.map((f): [string, string] => [f, 'feature'])];
}

/** Results known (engine/shape.ts) to lack fields the view names: a mistake in the topology, found at start. */
function checkShape(view: FeatureView, shape: KnownShape, what: string): void {
  const have = new Set(shape.fields);
  const missing = viewFields(view).filter(([f]) => !have.has(f));
  if (missing.length === 0) return;
  throw new RtmlError(
    'RTML_E_FEATURE_VIEW',
    `${what}: feature view '${view.name}' (declared at ${view.at}) names ${missing.map(([f, role]) => `${role} field '${f}'`).join(', ')}, ` +
      `but the results of ${shape.by} have no such field (they have: ${shape.fields.join(', ')})`,
  );
}

/** Results watched for a field the view names and none of them has (when their shape is not known at start). */
const WATCHED_RESULTS = 100;

/**
 * Materialises each result into a feature view's online and offline stores, and passes it on.
 *
 * 1. The row's entity is the result's `entity` field (string or number, stored as text), its time
 *    the `time` field (whole epoch ms), its values the `features` fields (finite numbers, or null).
 * 2. Directly after aggregate() (or through sink(...)) the results' fields are known at build time:
 *    a view naming a field they lack fails at start (RTML_E_FEATURE_VIEW, with the fields they have).
 * 3. Otherwise a result that lacks one of them, or holds a non-number, goes to the dead-letter output
 *    with the reason: a window result as a result letter (OperatorHost.deadLetterResult, counted in
 *    `resultsDeadLettered`), an input event materialised directly as that event's letter. When the
 *    first 100 results all lack a field the view names, that is reported once; the run goes on.
 * 4. Rows are written in batches when the runtime flushes (and always before a checkpoint).
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
  const what = `materialize('${view.name}') at ${at}`;
  return (source) => {
    const shape = shapeOf(source);
    if (shape !== undefined) checkShape(view, shape, what);
    return markShape(new Observable<T>((subscriber) => {
      const host = currentHost(what);
      const writer = host.features.writer(view);
      const table = host.features.table(view);
      const record = host.record;
      // Unknown shape: the view's fields that every result so far lacked (watched for the first ones).
      let watched = shape === undefined ? 0 : WATCHED_RESULTS;
      let alwaysMissing = viewFields(view);
      return source.subscribe({
        next(result) {
          const r = (typeof result === 'object' && result !== null ? result : {}) as Record<string, unknown>;
          if (watched < WATCHED_RESULTS) {
            alwaysMissing = alwaysMissing.filter(([f]) => r[f] === undefined);
            if (alwaysMissing.length === 0) watched = WATCHED_RESULTS;
            else if (++watched === WATCHED_RESULTS) {
              host.telemetry.report(
                `${what}: the first ${WATCHED_RESULTS} results all lack ${alwaysMissing.map(([f, role]) => `${role} field '${f}'`).join(', ')} of feature view '${view.name}' (declared at ${view.at}); ` +
                  'they are dead-lettered: check the view against the fields the stream carries',
              );
            }
          }
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
          if (reason !== undefined) {
            const why = `materialize('${view.name}'): ${reason}`;
            // A window result is not an input event: its letter leaves the event that fired it alone.
            if (record.result !== undefined) host.outputs.deadLetterResult(why, result);
            else host.outputs.deadLetter(why);
          } else {
            const row = { entity: String(entity), time: time as number, values };
            // A window a replay range cuts holds part of its events: never written over the stores' rows.
            if (!record.cut) writer.write(view, row);
            table.stage(row);
          }
          subscriber.next(result as T);
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    }), shape);
  };
}
