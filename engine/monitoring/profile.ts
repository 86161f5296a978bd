import { RtmlError } from '../errors.ts';
import { quantileSketch } from './stats.ts';

/**
 * Reference profiles: what a model's training data looked like, feature by feature and for its
 * score, so the data it meets in production can be compared with it (docs/monitoring.md). Built
 * when a model is trained, stored in the model file's metadata (`rtml.profile`) and in the
 * registry beside the version.
 */

/** How many order statistics a numeric profile keeps: KS and Wasserstein are computed against them. */
export const SKETCH_POINTS = 1000;

export interface NumericProfile {
  readonly kind: 'numeric';
  readonly name: string;
  /** Values present (finite numbers). */
  readonly count: number;
  /** Values missing: null, undefined or NaN. */
  readonly nulls: number;
  readonly mean: number;
  /** Population standard deviation. */
  readonly std: number;
  readonly min: number;
  readonly max: number;
  /** Evenly spaced order statistics of the values (all of them when there are at most SKETCH_POINTS). */
  readonly quantiles: readonly number[];
}

export interface CategoricalProfile {
  readonly kind: 'categorical';
  readonly name: string;
  readonly count: number;
  readonly nulls: number;
  /** How often each value occurs (values as strings). */
  readonly frequencies: Readonly<Record<string, number>>;
}

export type FeatureProfile = NumericProfile | CategoricalProfile;

export interface ReferenceProfile {
  readonly version: 1;
  /** Rows the feature profiles were computed from. */
  readonly rows: number;
  readonly features: readonly FeatureProfile[];
  /** The model's score on the held-out rows, when the profile belongs to a model. */
  readonly score?: NumericProfile;
}

const isMissing = (v: unknown): boolean => v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v));

/**
 * The profile of one column: numeric when every present value is a finite number, categorical
 * otherwise (values compared as strings).
 */
export function profileColumn(name: string, values: ArrayLike<unknown>): FeatureProfile {
  let nulls = 0;
  let numeric = true;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (isMissing(v)) nulls++;
    else if (typeof v !== 'number' || !Number.isFinite(v)) numeric = false;
  }
  const count = values.length - nulls;
  if (!numeric) {
    const frequencies: Record<string, number> = {};
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!isMissing(v)) frequencies[String(v)] = (frequencies[String(v)] ?? 0) + 1;
    }
    return { kind: 'categorical', name, count, nulls, frequencies };
  }
  const sorted = new Float64Array(count);
  let k = 0;
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!isMissing(v)) {
      sorted[k++] = v as number;
      sum += v as number;
    }
  }
  sorted.sort();
  const mean = count > 0 ? sum / count : Number.NaN;
  let squares = 0;
  for (let i = 0; i < count; i++) squares += (sorted[i]! - mean) ** 2;
  return {
    kind: 'numeric',
    name,
    count,
    nulls,
    mean,
    std: count > 0 ? Math.sqrt(squares / count) : Number.NaN,
    min: count > 0 ? sorted[0]! : Number.NaN,
    max: count > 0 ? sorted[count - 1]! : Number.NaN,
    quantiles: quantileSketch(sorted, SKETCH_POINTS),
  };
}

/** A reference profile of named columns (and the model's scores, if given). */
export function buildProfile(columns: readonly { name: string; values: ArrayLike<unknown> }[], scores?: ArrayLike<number>): ReferenceProfile {
  const rows = columns.length > 0 ? columns[0]!.values.length : 0;
  const features = columns.map((c) => profileColumn(c.name, c.values));
  const score = scores === undefined ? undefined : profileColumn('score', scores);
  if (score !== undefined && score.kind !== 'numeric') throw new RtmlError('RTML_E_MODEL', 'scores must be numbers');
  return score === undefined ? { version: 1, rows, features } : { version: 1, rows, features, score };
}

/** Checks a stored profile (model metadata, a registry row): a bad one is refused with the reason. */
export function parseProfile(value: unknown, where: string): ReferenceProfile {
  const refuse = (why: string): never => {
    throw new RtmlError('RTML_E_MODEL', `${where}: the reference profile ${why}`);
  };
  const p = (typeof value === 'string' ? safeJson(value) : value) as Partial<ReferenceProfile> | undefined;
  if (typeof p !== 'object' || p === null || p.version !== 1) return refuse('is not a version 1 profile');
  if (typeof p.rows !== 'number' || !Array.isArray(p.features)) return refuse('lacks rows or features');
  const check = (f: unknown): FeatureProfile => {
    const fp = f as { kind?: unknown; name?: unknown; count?: unknown; nulls?: unknown; quantiles?: unknown; frequencies?: unknown };
    if (typeof fp.name !== 'string' || typeof fp.count !== 'number' || typeof fp.nulls !== 'number') return refuse(`has a feature without name, count or nulls`);
    if (fp.kind === 'numeric' && Array.isArray(fp.quantiles) && fp.quantiles.every((q) => typeof q === 'number')) return fp as unknown as NumericProfile;
    if (fp.kind === 'categorical' && typeof fp.frequencies === 'object' && fp.frequencies !== null) return fp as unknown as CategoricalProfile;
    return refuse(`has feature '${String(fp.name)}' of kind ${JSON.stringify(fp.kind)} without its quantiles or frequencies`);
  };
  const features = p.features.map(check);
  if (p.score === undefined) return { version: 1, rows: p.rows, features };
  const score = check(p.score);
  if (score.kind !== 'numeric') return refuse('has a categorical score');
  return { version: 1, rows: p.rows, features, score };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
