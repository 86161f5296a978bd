import { defineAggregate, type Aggregate } from '../aggregates.ts';
import type { CategoricalProfile, FeatureProfile, NumericProfile, ReferenceProfile } from './profile.ts';
import type { DistributionTest, DriftRecord, DriftTest } from './records.ts';
import { binCounts, chiSquareTest, jensenShannonDistance, ksTest, normedWasserstein, psi, referenceEdges } from './stats.ts';

/**
 * Drift of one window's values against a reference profile (docs/monitoring.md): the window's
 * values per feature are collected by `windowSample` (an aggregate, so windows keep and checkpoint
 * them like any other), and `compareWindow` turns them into records when the window fires.
 */

/**
 * Thresholds, after Evidently's defaults: KS and χ² drift at p < 0.05; normed Wasserstein,
 * Jensen–Shannon and PSI at 0.1; data quality at a null rate 0.1 above the reference's, 10 % of
 * values out of the reference's range, a mean moved by half a reference standard deviation, a
 * standard deviation moved by half of itself (both in reference standard deviations, floored at 1e-3); a window drifts when half its features do; 1 % of events
 * dead-lettered or late.
 */
export const DEFAULT_THRESHOLDS: Readonly<Record<DriftTest, number>> = {
  ks: 0.05,
  chi_square: 0.05,
  wasserstein: 0.1,
  jensen_shannon: 0.1,
  psi: 0.1,
  null_rate: 0.1,
  out_of_range_rate: 0.1,
  mean_shift: 0.5,
  std_shift: 0.5,
  drift_share: 0.5,
  dead_letter_rate: 0.01,
  late_rate: 0.01,
};

/** Up to this many values a feature's decisive test is KS (numeric) or χ² (categorical); above, normed Wasserstein or Jensen–Shannon, as Evidently chooses by sample size. */
export const SMALL_WINDOW = 1000;

/** Values a window keeps per feature before it samples (a deterministic reservoir), by default. */
export const MAX_VALUES = 100_000;

/**
 * One window's values of each monitored feature and of the score. Plain data (typed arrays and
 * numbers), which checkpoints serialize. Values go into a growing Float64Array per feature, sorted
 * in place when the window is compared: no per-value boxing, no copy.
 */
export interface WindowSample {
  n: number;
  /** Per feature (in `names` order), then the score last: the values kept, in `numbers[f][0, kept[f])`. */
  numbers: Float64Array[];
  kept: number[];
  /** How many numbers each saw (more than it keeps past MAX_VALUES). */
  seen: number[];
  missing: number[];
  categories: Record<string, number>[];
}

/**
 * Collects the `fields` of each event (the features, then the score last) into a window's sample.
 * `fields` is read at each call: a monitor fills in the features of its model's profiles once they
 * are loaded, before any event.
 */
export function windowSample(fields: readonly string[], maxValues = MAX_VALUES): Aggregate<Record<string, unknown>, WindowSample, WindowSample> {
  const keep = (acc: WindowSample, f: number, v: number): void => keepValue(acc, f, v, maxValues);
  return defineAggregate<Record<string, unknown>, WindowSample, WindowSample>({
    name: 'monitor sample',
    init: () => ({
      n: 0,
      numbers: fields.map(() => new Float64Array(64)),
      kept: fields.map(() => 0),
      seen: fields.map(() => 0),
      missing: fields.map(() => 0),
      categories: fields.map(() => ({})),
    }),
    add(acc, event) {
      acc.n++;
      for (let f = 0; f < fields.length; f++) {
        const v = event[fields[f]!];
        if (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v))) acc.missing[f]!++;
        else if (typeof v === 'number') keep(acc, f, v);
        else {
          const c = acc.categories[f]!;
          const key = String(v);
          c[key] = (c[key] ?? 0) + 1;
        }
      }
      return acc;
    },
    merge(a, b) {
      a.n += b.n;
      for (let f = 0; f < fields.length; f++) {
        const values = b.numbers[f]!;
        for (let i = 0; i < b.kept[f]!; i++) keep(a, f, values[i]!);
        a.missing[f]! += b.missing[f]!;
        for (const [key, c] of Object.entries(b.categories[f]!)) a.categories[f]![key] = (a.categories[f]![key] ?? 0) + c;
      }
      return a;
    },
    result: (acc) => acc,
  });
}

/** Keeps a value: all of them up to `maxValues`, then a reservoir sample (positions from a hash of the count: the same input keeps the same values). */
function keepValue(acc: WindowSample, f: number, v: number, maxValues: number): void {
  const seen = ++acc.seen[f]!;
  const kept = acc.kept[f]!;
  let values = acc.numbers[f]!;
  if (kept < maxValues) {
    if (kept === values.length) {
      const grown = new Float64Array(Math.min(maxValues, values.length * 2));
      grown.set(values);
      acc.numbers[f] = values = grown;
    }
    values[kept] = v;
    acc.kept[f] = kept + 1;
    return;
  }
  const slot = Math.imul(seen, 0x9e3779b1) >>> 0;
  if (slot % seen < maxValues) values[slot % maxValues] = v;
}

/** A feature's values in a window, sorted (in place: the window is done with them). */
function sortedValues(sample: WindowSample, f: number): Float64Array {
  return sample.numbers[f]!.subarray(0, sample.kept[f]!).sort();
}

/** Bin edges and reference counts, computed once per reference profile (they depend on it alone). */
const referenceBins = new WeakMap<NumericProfile, { edges: number[]; expected: number[] }>();

function binsOf(reference: NumericProfile): { edges: number[]; expected: number[] } {
  let bins = referenceBins.get(reference);
  if (bins === undefined) {
    const edges = referenceEdges(reference.quantiles);
    bins = { edges, expected: binCounts(reference.quantiles, edges) };
    referenceBins.set(reference, bins);
  }
  return bins;
}

export interface CompareOptions {
  readonly model: string;
  readonly version: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  /** The features to compare, in record order (those of the profile the window saw). */
  readonly features: readonly string[];
  /** The decisive test per feature, when not chosen by window size. */
  readonly tests: Readonly<Record<string, DistributionTest>>;
  readonly thresholds: (feature: string, test: DriftTest) => number;
  /** Events dead-lettered and late, of all read, while the window was open (undefined: not known). */
  readonly runRates?: { deadLetter: number; late: number; n: number };
}

/**
 * The records of one window of one model version: per feature every distribution test (one of
 * them decisive) and data-quality check, the same for the score, then the window's drift share
 * (decisive tests of the features only, as Evidently's dataset drift) and the run's rates.
 */
export function compareWindow(profile: ReferenceProfile, names: readonly string[], sample: WindowSample, options: CompareOptions): DriftRecord[] {
  const records: DriftRecord[] = [];
  const { model, version, windowStart, windowEnd } = options;
  const push = (feature: string, test: DriftTest, value: number, pValue: number | null, n: number, decisive: boolean): boolean => {
    const threshold = options.thresholds(feature, test);
    const known = Number.isFinite(value);
    // p-values drift below their threshold, the drift share at or above it, the rest above it.
    const drifted = known && (pValue !== null ? pValue < threshold : test === 'drift_share' ? value >= threshold : value > threshold);
    // A literal, not a spread of shared fields: V8 makes spread-then-extend objects far slower.
    records.push({
      model,
      version,
      window_start: windowStart,
      window_end: windowEnd,
      feature,
      test,
      value: known ? value : null,
      p_value: pValue !== null && Number.isFinite(pValue) ? pValue : null,
      threshold,
      drifted,
      decisive,
      n,
    });
    return drifted;
  };
  let withData = 0;
  let drifted = 0;
  const byName = new Map(profile.features.map((f) => [f.name, f]));
  for (const name of options.features) {
    const reference = byName.get(name);
    const f = names.indexOf(name);
    if (reference === undefined || f < 0) continue;
    const verdict = compareFeature(reference, sample, f, options, push);
    if (verdict !== undefined) {
      withData++;
      if (verdict) drifted++;
    }
  }
  if (profile.score !== undefined) compareFeature(profile.score, sample, names.length, { ...options, tests: {} }, (_feature, test, value, p, n) => push('score', test, value, p, n, false));
  push('*', 'drift_share', withData > 0 ? drifted / withData : Number.NaN, null, sample.n, true);
  if (options.runRates !== undefined && options.runRates.n > 0) {
    push('*', 'dead_letter_rate', options.runRates.deadLetter / options.runRates.n, null, options.runRates.n, false);
    push('*', 'late_rate', options.runRates.late / options.runRates.n, null, options.runRates.n, false);
  }
  return records;
}

type Push = (feature: string, test: DriftTest, value: number, pValue: number | null, n: number, decisive: boolean) => boolean;

/** Records a feature's tests; returns whether its decisive test drifted (undefined: the window had no values for it). */
function compareFeature(reference: FeatureProfile, sample: WindowSample, f: number, options: CompareOptions, push: Push): boolean | undefined {
  const name = reference.name;
  const missing = sample.missing[f]!;
  const total = sample.n;
  if (reference.kind === 'numeric') {
    // All the window's values, or a sample of them past maxValues (then `seen` counts them all).
    const current = sortedValues(sample, f);
    // Values of another type than the reference's count as missing for a numeric feature.
    const other = Object.values(sample.categories[f]!).reduce((a, b) => a + b, 0);
    const n = current.length;
    const seen = sample.seen[f]!;
    const decisive = options.tests[name] ?? (seen <= SMALL_WINDOW ? 'ks' : 'wasserstein');
    const verdicts = numericTests(reference, current, (test, value, p) => push(name, test, value, p, seen, test === decisive));
    push(name, 'null_rate', total > 0 ? (missing + other) / total : Number.NaN, null, total, false);
    // Sorted: the values outside [min, max] are at the two ends.
    let outside = 0;
    while (outside < n && current[outside]! < reference.min) outside++;
    for (let i = n - 1; i >= outside && current[i]! > reference.max; i--) outside++;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += current[i]!;
    const mean = n > 0 ? sum / n : Number.NaN;
    let squares = 0;
    for (let i = 0; i < n; i++) squares += (current[i]! - mean) ** 2;
    const std = n > 0 ? Math.sqrt(squares / n) : Number.NaN;
    const spread = Math.max(reference.std, 1e-3);
    push(name, 'out_of_range_rate', n > 0 ? outside / n : Number.NaN, null, seen, false);
    push(name, 'mean_shift', Math.abs(mean - reference.mean) / spread, null, seen, false);
    push(name, 'std_shift', Math.abs(std - reference.std) / spread, null, seen, false);
    return n > 0 ? verdicts.get(decisive) : undefined;
  }
  const counts = sample.categories[f]!;
  const n = Object.values(counts).reduce((a, b) => a + b, 0);
  const decisive = options.tests[name] ?? (n <= SMALL_WINDOW ? 'chi_square' : 'jensen_shannon');
  const verdicts = categoricalTests(reference, counts, (test, value, p) => push(name, test, value, p, n, test === decisive));
  push(name, 'null_rate', total > 0 ? (missing + sample.kept[f]!) / total : Number.NaN, null, total, false);
  let unseen = 0;
  for (const [value, c] of Object.entries(counts)) if (!(value in reference.frequencies)) unseen += c;
  push(name, 'out_of_range_rate', n > 0 ? unseen / n : Number.NaN, null, n, false);
  return n > 0 ? verdicts.get(decisive) : undefined;
}

type Record3 = (test: DistributionTest, value: number, pValue: number | null) => boolean;

function numericTests(reference: NumericProfile, current: Float64Array, record: Record3): Map<DistributionTest, boolean> {
  const verdicts = new Map<DistributionTest, boolean>();
  const ref = reference.quantiles;
  const ks = ksTest(ref, current, { reference: Math.max(1, reference.count) });
  verdicts.set('ks', record('ks', ks.statistic, ks.pValue));
  verdicts.set('wasserstein', record('wasserstein', current.length > 0 && ref.length > 0 ? normedWasserstein(ref, current, reference.std) : Number.NaN, null));
  const { edges, expected } = binsOf(reference);
  const observed = binCounts(current, edges);
  verdicts.set('psi', record('psi', current.length > 0 ? psi(expected, observed) : Number.NaN, null));
  verdicts.set('jensen_shannon', record('jensen_shannon', jensenShannonDistance(expected, observed), null));
  return verdicts;
}

function categoricalTests(reference: CategoricalProfile, counts: Readonly<Record<string, number>>, record: Record3): Map<DistributionTest, boolean> {
  const verdicts = new Map<DistributionTest, boolean>();
  const categories = [...new Set([...Object.keys(reference.frequencies), ...Object.keys(counts)])];
  const expected = categories.map((c) => reference.frequencies[c] ?? 0);
  const observed = categories.map((c) => counts[c] ?? 0);
  const chi = chiSquareTest(observed, expected);
  verdicts.set('chi_square', record('chi_square', chi.statistic, chi.pValue));
  verdicts.set('jensen_shannon', record('jensen_shannon', jensenShannonDistance(expected, observed), null));
  const total = observed.reduce((a, b) => a + b, 0);
  verdicts.set('psi', record('psi', total > 0 ? psi(expected, observed) : Number.NaN, null));
  return verdicts;
}
