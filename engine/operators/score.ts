import { basename } from 'node:path';
import { Observable, type OperatorFunction } from 'rxjs';
import { currentHost } from '../host.ts';
import { emitHeld, holdEvent, type HeldEvent } from '../record.ts';
import { RtmlError } from '../errors.ts';
import type { ModelHandle } from '../modelProvider.ts';
import { scoreBatch, type ScoringMetrics } from '../scoring/scoreBatch.ts';
import { callerLocation } from '../location.ts';
import { extender } from './extend.ts';

export interface ScoreFeature<T> {
  /** Position name in the model's input (and the event field read, unless `from`). */
  name: string;
  from?: string | ((event: T) => unknown);
  /** Used when the value is missing, NaN or not a number; without it such an event is dead-lettered. */
  default?: number;
}

export interface ScoreOptions<T, K extends string = 'score'> {
  /** The model's inputs, in its input order: field names or declarations. */
  features: readonly (string | ScoreFeature<T>)[];
  /** label = score >= threshold ? 1 : 0 (default 0.5). */
  threshold?: number;
  /** Events scored together in one model call, at most (default 256). */
  maxBatch?: number;
  /** The name results carry (default the file name without .onnx). */
  name?: string;
  /** The field the score is written to (default 'score'); `label`, `model` and `version` keep their names. */
  output?: K;
}

/** A model named `registry:NAME` comes from the run's model registry and follows its routing. */
const REGISTRY = 'registry:';

/** The event with its prediction: the score in field `K` (the `output` option, default 'score'). */
export type Scored<T, K extends string = 'score'> = T & { [F in K]: number } & { label: 0 | 1; model: string; version: string };

/**
 * Scores each event with an ONNX model (input `features` [N, F], output `score` [N, 1]) and emits
 * it with `{ score, label, model, version }` (the score field named by `output`, default 'score').
 * `model` is a .onnx path (beside the topology file, else in the working directory) or
 * `registry:NAME`: the run's model registry, whose routing (production, an A/B split by the
 * stream's key, shadows) is followed live. Both are loaded by the run's model provider
 * (RunOptions.models, engine/modelProvider.ts); scoring itself is engine/scoring/scoreBatch.ts.
 *
 * 1. Feature vectors are built in the declared order; a missing, NaN or non-numeric value takes the
 *    feature's `default`, else the event goes to the dead-letter output naming the feature.
 * 2. Events are scored in micro-batches (up to `maxBatch`, or what arrived in the current burst of
 *    input): results and their order are those of scoring one by one. Results carry their event's
 *    key and time downstream.
 * 3. Models are loaded once per run (a file's session shared by the operators using it) and validated at start (input width and names must match the
 *    feature list). A routing change is swapped in between two batches, so no event is scored twice
 *    or skipped. When a batch's model call fails, its rows are rescored one by one and only those the
 *    model fails on are dead-lettered with the reason. A shadow version that fails is counted and
 *    reported, never touching the served results.
 * 4. Event-time windows cannot follow it (their watermark would pass events still in the batch).
 */
export function score<T, K extends string = 'score'>(model: string, options: ScoreOptions<T, K>): OperatorFunction<T, Scored<T, K>> {
  const at = callerLocation();
  const what = `score('${model}') at ${at}`;
  if (!options || !Array.isArray(options.features) || options.features.length === 0) {
    throw new RtmlError('RTML_E_MODEL', `${what} needs features: the model's inputs in order`);
  }
  const features = options.features.map((f) => (typeof f === 'string' ? { name: f } : f));
  const readers = features.map((f) => {
    const from = f.from ?? f.name;
    return typeof from === 'function' ? from : (e: T) => (e as Record<string, unknown>)[from];
  });
  const threshold = options.threshold ?? 0.5;
  const maxBatch = options.maxBatch ?? 256;
  const output: string = options.output ?? 'score';
  if (typeof output !== 'string' || output === '' || ['label', 'model', 'version'].includes(output)) {
    throw new RtmlError('RTML_E_MODEL', `${what}: output must be a field name other than label, model and version (got ${JSON.stringify(output)})`);
  }
  const copy = extender([output, 'label', 'model', 'version']);
  if (!(Number.isInteger(maxBatch) && maxBatch > 0)) throw new RtmlError('RTML_E_MODEL', `${what}: maxBatch must be a whole number > 0`);
  return (source) =>
    new Observable<Scored<T, K>>((subscriber) => {
      const host = currentHost(what);
      const F = features.length;
      const names = features.map((f) => f.name);
      const registered = model.startsWith(REGISTRY);
      const name = options.name ?? (registered ? model.slice(REGISTRY.length) : basename(model, '.onnx'));
      let handle: ModelHandle | undefined;
      // The run closes the handle when it ends.
      host.lifecycle.onStart(async () => {
        const provider = host.models(what);
        if (registered) handle = await provider.open(model.slice(REGISTRY.length), names);
        else if (provider.openFile === undefined) throw new RtmlError('RTML_E_BINDING', `${what} names a model file, but this run's model provider loads registered models only`);
        else handle = await provider.openFile(model, names, { baseDir: host.baseDir, what });
        return handle;
      });
      const values = new Float32Array(maxBatch * F);
      const shadowStats = new Map<string, { scored: number; disagreed: number; failures: number; failedEvents: number; lastFailure: string }>();
      const shadowStatsOf = (version: string) => {
        let stats = shadowStats.get(version);
        if (stats === undefined) shadowStats.set(version, (stats = { scored: 0, disagreed: 0, failures: 0, failedEvents: 0, lastFailure: '' }));
        return stats;
      };
      const pending: HeldEvent[] = [];
      const record = host.record;
      const tap = host.telemetry.predictions;
      let warnedNoKey = false;
      // Metrics (a no-op unless the run exports them).
      const labels = ['model', 'version'] as const;
      const counters = {
        scored: host.telemetry.counter('model_scored_total', 'Events scored by score(), per model and serving version', labels),
        failures: host.telemetry.counter('model_failures_total', 'Events dead-lettered by score() because the model failed on them, per model and serving version', labels),
        shadowScored: host.telemetry.counter('shadow_scored_total', 'Events scored by shadow versions (recorded, never emitted)', labels),
        shadowDisagreements: host.telemetry.counter('shadow_disagreements_total', "Events whose shadow label differed from the served label", labels),
        shadowFailures: host.telemetry.counter('shadow_failures_total', 'Events a shadow version failed to score (served results unaffected)', labels),
      };
      const metrics: ScoringMetrics = {
        modelCall: (m, rows) => counters.scored.labels(name, m.version).inc(rows),
        modelFailures: (m, rows) => counters.failures.labels(name, m.version).inc(rows),
        shadowScored(shadow, _scores, served, disagreed) {
          const stats = shadowStatsOf(shadow.version);
          stats.scored += served.length;
          stats.disagreed += disagreed;
          counters.shadowScored.labels(name, shadow.version).inc(served.length);
          if (disagreed > 0) counters.shadowDisagreements.labels(name, shadow.version).inc(disagreed);
        },
        shadowFailed(shadow, rows, reason) {
          const stats = shadowStatsOf(shadow.version);
          stats.lastFailure = reason;
          if (stats.failures++ === 0) host.telemetry.report(`${what}: shadow ${name} ${shadow.version} failed (served results are not affected): ${reason}`);
          stats.failedEvents += rows;
          counters.shadowFailures.labels(name, shadow.version).inc(rows);
        },
      };

      const flush = (): void => {
        if (pending.length === 0) return;
        const batch = pending.splice(0);
        const route = handle!.current(); // opened before any input is read
        if (route.split === true && !warnedNoKey && batch.some((p) => p.key === undefined)) {
          warnedNoKey = true;
          host.telemetry.report(`${what}: model ${name} has an A/B split, but events reach it without a key (no keyBy() before score()): they are all routed as the entity '', to one version`);
        }
        const result = scoreBatch(
          {
            rows: batch.length,
            serving: (i) => route.serving(String(batch[i]!.key ?? '')),
            shadows: () => route.shadows,
            fill: (i, _m, out, offset) => (out.set(values.subarray(i * F, i * F + F), offset), true),
          },
          threshold,
          metrics,
        );
        emitHeld(record, batch, (p, i) => {
          const error = result.errors[i];
          if (error !== undefined) {
            host.outputs.deadLetter(`${what}: the model failed: ${error}`, p);
            return;
          }
          const s = result.scores[i]!;
          const out = copy(p.value);
          const label = s >= threshold ? 1 : 0;
          const version = result.models[i]!.version;
          out[output] = s;
          out.label = label;
          out.model = name;
          out.version = version;
          if (tap?.wants()) tap.publish({ model: name, version, key: p.key === undefined ? '' : String(p.key), score: s, label, time: p.time });
          subscriber.next(out as Scored<T, K>);
        });
      };

      const subscription = source.subscribe({
        next(event) {
          const row = pending.length * F;
          for (let j = 0; j < F; j++) {
            let v: unknown;
            try {
              v = readers[j]!(event);
            } catch {
              v = undefined;
            }
            if (typeof v !== 'number' || Number.isNaN(v)) {
              const fallback = features[j]!.default;
              if (fallback === undefined) {
                host.outputs.deadLetter(`${what}: feature '${features[j]!.name}' is ${v === undefined ? 'missing' : typeof v === 'number' ? String(v) : JSON.stringify(v)}, not a number, and has no default`);
                return;
              }
              v = fallback;
            }
            values[row + j] = v as number;
          }
          pending.push(holdEvent(record, event));
          if (pending.length === maxBatch) flush();
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          flush();
          for (const [version, { scored, disagreed, failures, failedEvents, lastFailure }] of shadowStats) {
            host.telemetry.report(`${what}: shadow ${name} ${version} scored ${scored} event(s), its label differed on ${disagreed}`);
            if (failures > 0) host.telemetry.report(`${what}: shadow ${name} ${version} failed ${failures} time(s), on ${failedEvents} event(s) (shadow failures; served results unaffected), last: ${lastFailure}`);
          }
          subscriber.complete();
        },
      });
      host.lifecycle.onBurstEnd(flush);
      host.lifecycle.holdsEventsBack(what);
      return () => subscription.unsubscribe();
    });
}
