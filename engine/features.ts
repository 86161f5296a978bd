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
