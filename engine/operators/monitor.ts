import { Observable, type OperatorFunction } from 'rxjs';
import { AggregateSet } from '../aggregates.ts';
import { parseDuration, type Duration } from '../duration.ts';
import { RtmlError } from '../errors.ts';
import { currentHost, type OperatorHost } from '../host.ts';
import { callerLocation } from '../location.ts';
import type { ProfileSet } from '../modelProvider.ts';
import { compareWindow, DEFAULT_THRESHOLDS, MAX_VALUES, windowSample, type WindowSample } from '../monitoring/drift.ts';
import type { ReferenceProfile } from '../monitoring/profile.ts';
import { DISTRIBUTION_TESTS, type DistributionTest, type DriftRecord, type DriftTest } from '../monitoring/records.ts';
import type { WindowSpec } from '../windowSpecs.ts';
import { monitoredWindow, subscribeMonitored } from './monitorWindows.ts';

/** The reference a monitor compares with: a registered model's versions, or one profile of your own (a feature view's, say). */
export type MonitorTarget = string | { readonly name: string; readonly profile: ReferenceProfile };

export interface MonitorOptions {
  /** Event-time windows the data is compared in: tumbling or hopping. */
  window: WindowSpec;
  /** How far behind the watermark an event still joins its window (default 0). */
  lateness?: Duration;
  /** The sink that receives events too late for all their windows (default: counted and dropped). */
  late?: string;
  /** The features to compare (default: every feature of the reference profile). */
  features?: readonly string[];
  /** The test that decides whether a feature drifted (default by the window's size: KS / χ² up to 1000 values, normed Wasserstein / Jensen–Shannon above). */
  tests?: Readonly<Record<string, DistributionTest>>;
  /** Thresholds for every feature (defaults: DEFAULT_THRESHOLDS, after Evidently's). */
  thresholds?: Partial<Record<DriftTest, number>>;
  /** Thresholds of one feature, over `thresholds`. */
  featureThresholds?: Readonly<Record<string, Partial<Record<DriftTest, number>>>>;
  /** The event field holding the model's score (default 'score', as score() writes it). */
  score?: string;
  /** The event field naming the model version (default 'version', as score() writes it). */
  version?: string;
  /**
   * Values kept per feature and window (default 100,000): beyond them a deterministic reservoir
   * sample is compared. Sorting each window's values is most of what monitoring costs; a smaller
   * sample makes it cheaper (the KS p-value then reflects the sample's size).
   */
  maxValues?: number;
}

const KNOWN = new Set(['window', 'lateness', 'late', 'features', 'tests', 'thresholds', 'featureThresholds', 'score', 'version', 'maxValues']);

/**
 * Watches a model's inputs and output for drift (docs/monitoring.md): per event-time window and
 * model version, each feature's values and the score are compared with the version's reference
 * profile (its training data) by KS, normed Wasserstein, PSI and Jensen–Shannon (χ² for
 * categorical features), with data-quality checks (null rate, out-of-range rate, mean and
 * standard-deviation shift), and the window drifts when half the features do.
 *
 * 1. It follows `score(...)`: events carry the features, the score and the version that scored them.
 * 2. When a window fires it emits `DriftRecord`s downstream (route them to a sink), sets the gauges
 *    `rtml_feature_drift{model,version,feature,test}`, `rtml_feature_drifted{…}` and
 *    `rtml_model_drift_share{model,version}`, and writes them to the run's monitoring store (rows).
 * 3. A version whose profile is not known when its window fires (registered while running, not
 *    loaded yet; or trained without one) gets no records for that window; the run reports it.
 *
 * ```ts
 * scored.pipe(monitor('registry:fraud', { window: tumbling('1h') }), sink('drift'))
 * ```
 */
export function monitor<T>(target: MonitorTarget, options: MonitorOptions): OperatorFunction<T, DriftRecord> {
  const at = callerLocation();
  const what = `monitor(${typeof target === 'string' ? `'${target}'` : `'${target.name}'`}) at ${at}`;
  for (const name of Object.keys(options ?? {})) if (!KNOWN.has(name)) throw new RtmlError('RTML_E_TOPOLOGY', `${what}: unknown option '${name}' (options: ${[...KNOWN].join(', ')})`);
  const model = typeof target === 'string' ? registeredName(target, what) : target.name;
  const window = monitoredWindow(options.window, what);
  const lateness = parseDuration(options.lateness ?? 0, `${what} lateness`);
  for (const [feature, test] of Object.entries(options.tests ?? {})) {
    if (!(DISTRIBUTION_TESTS as readonly string[]).includes(test)) throw new RtmlError('RTML_E_TOPOLOGY', `${what}: tests.${feature} must be one of ${DISTRIBUTION_TESTS.join(', ')}, got ${JSON.stringify(test)}`);
  }
  for (const [test, value] of Object.entries({ ...options.thresholds, ...Object.assign({}, ...Object.values(options.featureThresholds ?? {})) })) {
    if (!(test in DEFAULT_THRESHOLDS)) throw new RtmlError('RTML_E_TOPOLOGY', `${what}: no test '${test}' to set a threshold for (tests: ${Object.keys(DEFAULT_THRESHOLDS).join(', ')})`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new RtmlError('RTML_E_TOPOLOGY', `${what}: threshold ${test} must be a number ≥ 0, got ${JSON.stringify(value)}`);
  }
  const thresholds = (feature: string, test: DriftTest): number => options.featureThresholds?.[feature]?.[test] ?? options.thresholds?.[test] ?? DEFAULT_THRESHOLDS[test];
  const scoreField = options.score ?? 'score';
  const maxValues = options.maxValues ?? MAX_VALUES;
  if (!Number.isInteger(maxValues) || maxValues < 10) throw new RtmlError('RTML_E_TOPOLOGY', `${what}: maxValues must be a whole number ≥ 10, got ${JSON.stringify(options.maxValues)}`);
  const versionField = options.version ?? 'version';
  return (source) =>
    new Observable<DriftRecord>((subscriber) => {
      const host = currentHost(what);
      const { telemetry } = host;
      // The features compared, then the score: given, else the model's (its profiles, loaded before any event).
      const fields = [...(options.features ?? []), scoreField];
      const profiles = profileSource(host, target, model, what, (features) => {
        if (options.features === undefined) fields.splice(0, 0, ...features);
      });
      const aggs = new AggregateSet({ sample: windowSample(fields, maxValues) }, at);
      const gauges = {
        value: telemetry.gauge('feature_drift', 'A drift test of a feature (or the score) in the last window: its statistic, per model version', ['model', 'version', 'feature', 'test']),
        drifted: telemetry.gauge('feature_drifted', '1 when the feature drifted in the last window by the test, else 0', ['model', 'version', 'feature', 'test']),
        share: telemetry.gauge('model_drift_share', 'Share of a model version\'s features whose decisive test drifted in the last window', ['model', 'version']),
      };
      let counted = telemetry.runCounts();
      const missing = new Set<string>();
      return subscribeMonitored(host, source, subscriber, {
        what,
        kind: 'monitor',
        window,
        lateness,
        late: options.late,
        versionField,
        aggs,
        signature: JSON.stringify({ model, window, lateness, features: options.features ?? "the model's", score: scoreField }),
        fire(version, start, end, accs) {
          const profile = profiles.get(version);
          if (profile === undefined || profile === null) {
            if (!missing.has(version)) telemetry.report(`${what}: no reference profile for ${model} ${version}${profile === null ? ' (its model file records none)' : ' (not loaded)'}: its windows are not compared`);
            missing.add(version);
            return [];
          }
          const now = telemetry.runCounts();
          const runRates = { deadLetter: now.deadLettered - counted.deadLettered, late: now.late - counted.late, n: now.in - counted.in };
          counted = now;
          const names = fields.slice(0, -1);
          const records = compareWindow(profile, names, accs[0] as WindowSample, { model, version, windowStart: start, windowEnd: end, features: names, tests: options.tests ?? {}, thresholds, runRates });
          for (const r of records) {
            if (r.value !== null) gauges.value.labels(model, version, r.feature, r.test).set(r.value);
            gauges.drifted.labels(model, version, r.feature, r.test).set(r.drifted ? 1 : 0);
            if (r.test === 'drift_share' && r.value !== null) gauges.share.labels(model, version).set(r.value);
          }
          return records;
        },
        write: (recorder, records) => recorder.write(records, []),
      });
    });
}

function registeredName(target: string, what: string): string {
  if (!target.startsWith('registry:') || target.length === 'registry:'.length) {
    throw new RtmlError('RTML_E_TOPOLOGY', `${what}: name a registered model as 'registry:NAME', or give { name, profile }`);
  }
  return target.slice('registry:'.length);
}

/**
 * Where a monitor's profiles come from: the one given, or the registry's versions, loaded before
 * any input is read; `loaded` gets the model's feature names either way.
 */
function profileSource(host: OperatorHost, target: MonitorTarget, model: string, what: string, loaded: (features: readonly string[]) => void): Pick<ProfileSet, 'get'> {
  if (typeof target !== 'string') {
    loaded(target.profile.features.map((f) => f.name));
    return { get: () => target.profile };
  }
  let set: ProfileSet | undefined;
  host.lifecycle.onStart(async () => {
    const provider = host.models(what);
    if (provider.profiles === undefined) throw new RtmlError('RTML_E_BINDING', `${what} needs the model registry (rtml run --registry URI)`);
    set = await provider.profiles(model);
    loaded(set.features);
    return set;
  });
  return { get: (version) => set?.get(version) };
}
