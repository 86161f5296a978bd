import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { Observable, type OperatorFunction } from 'rxjs';
import { loadOnnxModel } from '../../models/onnxLoad.ts';
import { SyncOnnxSession } from '../../models/syncSession.ts';
import { currentHost } from '../host.ts';
import { emitHeld, holdEvent, type HeldEvent } from '../record.ts';
import { errorMessage, RtmlError } from '../errors.ts';
import type { ModelHandle, ModelRouting, ScoringModel } from '../models.ts';
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
 * it with `{ score, label, model, version }` (the score field named by `output`, default 'score'). `model` is a .onnx path (beside the topology file, else
 * in the working directory) or `registry:NAME`: the run's model registry, whose routing
 * (production, an A/B split by the stream's key, shadows) is followed live.
 *
 * 1. Feature vectors are built in the declared order; a missing, NaN or non-numeric value takes the
 *    feature's `default`, else the event goes to the dead-letter output naming the feature.
 * 2. Events are scored in micro-batches (up to `maxBatch`, or what arrived in the current burst of
 *    input): results and their order are those of scoring one by one. Results carry their event's
 *    key and time downstream.
 * 3. Models are loaded once per run and validated at start (input width and names must match the
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
      let routing: () => ModelRouting;
      let name: string;
      let releaseFile: (() => void) | undefined;
      if (model.startsWith(REGISTRY)) {
        name = model.slice(REGISTRY.length);
        let handle: ModelHandle | undefined;
        routing = () => handle!.current(); // opened before any input is read
        host.lifecycle.onStart(async () => (handle = await host.models(what).open(name, names)));
      } else {
        const path = [host.baseDir, process.cwd()].map((d) => resolve(d, model)).find((p) => existsSync(p));
        if (!path) throw new RtmlError('RTML_E_MODEL', `${what}: model file not found`);
        const bytes = readFileSync(path);
        loadOnnxModel(bytes, { features: names, name: path });
        const sha = createHash('sha256').update(bytes).digest('hex');
        const session = acquireFileSession(path, sha, bytes, F);
        releaseFile = () => releaseFileSession(path, sha);
        const file: ScoringModel = { version: sha.slice(0, 12), featureCount: F, score: (v, rows) => session.score(v, rows) };
        const fixed: ModelRouting = { serving: () => file, shadows: [] };
        name = basename(path, '.onnx');
        routing = () => fixed;
      }
      if (options.name !== undefined) name = options.name;
      const values = new Float32Array(maxBatch * F);
      const gathered = new Float32Array(maxBatch * F);
      const shadowStats = new Map<string, { scored: number; disagreed: number; failures: number; failedEvents: number; lastFailure: string }>();
      const pending: HeldEvent[] = [];
      const record = host.record;
      let warnedNoKey = false;
      // Metrics (a no-op unless the run exports them), counted once per batch.
      const labels = ['model', 'version'] as const;
      const metrics = {
        scored: host.telemetry.counter('model_scored_total', 'Events scored by score(), per model and serving version', labels),
        failures: host.telemetry.counter('model_failures_total', 'Events dead-lettered by score() because the model failed on them, per model and serving version', labels),
        shadowScored: host.telemetry.counter('shadow_scored_total', 'Events scored by shadow versions (recorded, never emitted)', labels),
        shadowDisagreements: host.telemetry.counter('shadow_disagreements_total', "Events whose shadow label differed from the served label", labels),
        shadowFailures: host.telemetry.counter('shadow_failures_total', 'Events a shadow version failed to score (served results unaffected)', labels),
      };
      /** Per serving version, events scored and failed in the batch being emitted. */
      const tally = new Map<string, { scored: number; failed: number }>();
      const count = (version: string, failed: boolean): void => {
        let t = tally.get(version);
        if (t === undefined) tally.set(version, (t = { scored: 0, failed: 0 }));
        if (failed) t.failed++;
        else t.scored++;
      };

      /**
       * Scores `rows` rows of `vals` (their events in `batch`) with their serving versions (several
       * under an A/B split) and the routing's shadows. A shadow that fails is counted and reported,
       * never affecting the served scores.
       */
      const scoreRows = (route: ModelRouting, batch: readonly HeldEvent[], vals: Float32Array): { scores: Float32Array; models: ScoringModel[] } => {
        if (route.split === true && !warnedNoKey && batch.some((p) => p.key === undefined)) {
          warnedNoKey = true;
          host.telemetry.report(`${what}: model ${name} has an A/B split, but events reach it without a key (no keyBy() before score()): they are all routed as the entity '', to one version`);
        }
        const models = batch.map((p) => route.serving(String(p.key ?? '')));
        const serving = new Set(models);
        let scores: Float32Array;
        if (serving.size === 1) scores = models[0]!.score(vals, batch.length);
        else {
          scores = new Float32Array(batch.length);
          for (const m of serving) {
            // An A/B split: each version scores its own rows, gathered together.
            let rows = 0;
            for (let i = 0; i < batch.length; i++) {
              if (models[i] === m) gathered.set(vals.subarray(i * F, i * F + F), rows++ * F);
            }
            const out = m.score(gathered, rows);
            for (let i = 0, r = 0; i < batch.length; i++) if (models[i] === m) scores[i] = out[r++]!;
          }
        }
        for (const shadow of route.shadows) {
          const stats = shadowStats.get(shadow.version) ?? { scored: 0, disagreed: 0, failures: 0, failedEvents: 0, lastFailure: '' };
          shadowStats.set(shadow.version, stats);
          let out: Float32Array;
          try {
            out = shadow.score(vals, batch.length);
          } catch (err) {
            stats.lastFailure = errorMessage(err);
            if (stats.failures++ === 0) host.telemetry.report(`${what}: shadow ${name} ${shadow.version} failed (served results are not affected): ${stats.lastFailure}`);
            stats.failedEvents += batch.length;
            metrics.shadowFailures.labels(name, shadow.version).inc(batch.length);
            continue;
          }
          const disagreedBefore = stats.disagreed;
          for (let i = 0; i < batch.length; i++) if (out[i]! >= threshold !== scores[i]! >= threshold) stats.disagreed++;
          stats.scored += batch.length;
          metrics.shadowScored.labels(name, shadow.version).inc(batch.length);
          if (stats.disagreed > disagreedBefore) metrics.shadowDisagreements.labels(name, shadow.version).inc(stats.disagreed - disagreedBefore);
        }
        return { scores, models };
      };

      const flush = (): void => {
        if (pending.length === 0) return;
        const batch = pending.splice(0);
        const route = routing();
        let result: { scores: Float32Array; models: ScoringModel[] } | undefined;
        /** Per row when the batch call failed: its score, or why it failed. */
        let rows: ({ score: number; model: ScoringModel } | string)[] | undefined;
        try {
          result = scoreRows(route, batch, values);
        } catch {
          // Rescored one by one, so only the rows the model fails on are dead-lettered: the same
          // outcome as scoring every event alone.
          rows = batch.map((p, i) => {
            try {
              const one = scoreRows(route, [p], values.subarray(i * F, i * F + F));
              return { score: one.scores[0]!, model: one.models[0]! };
            } catch (err) {
              return errorMessage(err);
            }
          });
        }
        emitHeld(record, batch, (p, i) => {
          const row = result === undefined ? rows![i]! : { score: result.scores[i]!, model: result.models[i]! };
          if (typeof row === 'string') {
            count(route.serving(String(p.key ?? '')).version, true);
            host.outputs.deadLetter(`${what}: the model failed: ${row}`, p);
            return;
          }
          count(row.model.version, false);
          const s = row.score;
          const out = copy(p.value);
          out[output] = s;
          out.label = s >= threshold ? 1 : 0;
          out.model = name;
          out.version = row.model.version;
          subscriber.next(out as Scored<T, K>);
        });
        for (const [version, t] of tally) {
          if (t.scored > 0) metrics.scored.labels(name, version).inc(t.scored);
          if (t.failed > 0) metrics.failures.labels(name, version).inc(t.failed);
        }
        tally.clear();
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
      return () => {
        subscription.unsubscribe();
        releaseFile?.();
        releaseFile = undefined;
      };
    });
}

/**
 * ONNX sessions of model files, shared by the score() operators that run the same file (same path
 * and sha256) at the same time in this process — loaded once, dropped when the last one ends.
 */
const fileSessions = new Map<string, { session: SyncOnnxSession; refs: number }>();

function acquireFileSession(path: string, sha: string, bytes: Uint8Array, featureCount: number): SyncOnnxSession {
  const key = `${path}\u0000${sha}`;
  let entry = fileSessions.get(key);
  if (entry === undefined) fileSessions.set(key, (entry = { session: new SyncOnnxSession(bytes, featureCount), refs: 0 }));
  entry.refs++;
  return entry.session;
}

function releaseFileSession(path: string, sha: string): void {
  const key = `${path}\u0000${sha}`;
  const entry = fileSessions.get(key);
  if (entry !== undefined && --entry.refs <= 0) fileSessions.delete(key);
}

/** How many model-file sessions are loaded now (for tests). */
export function loadedFileModels(): number {
  return fileSessions.size;
}
