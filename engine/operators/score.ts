import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { Observable, type OperatorFunction } from 'rxjs';
import { loadOnnxModel } from '../../models/onnxLoad.ts';
import { SyncOnnxSession } from '../../models/syncSession.ts';
import { currentHost } from '../context.ts';
import { errorMessage, RtmlError } from '../errors.ts';
import type { RecordKey } from '../io.ts';
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

export interface ScoreOptions<T> {
  /** The model's inputs, in its input order: field names or declarations. */
  features: readonly (string | ScoreFeature<T>)[];
  /** label = score >= threshold ? 1 : 0 (default 0.5). */
  threshold?: number;
  /** Events scored together in one model call, at most (default 256). */
  maxBatch?: number;
  /** The name results carry (default the file name without .onnx). */
  name?: string;
}

/** A model named `registry:NAME` comes from the run's model registry and follows its routing. */
const REGISTRY = 'registry:';

/** The event with its prediction. */
export type Scored<T> = T & { score: number; label: 0 | 1; model: string; version: string };

interface Pending {
  event: unknown;
  key: RecordKey | undefined;
  time: number;
  source: string;
  partition: number;
  offset: number;
}

/**
 * Scores each event with an ONNX model (input `features` [N, F], output `score` [N, 1]) and emits
 * it with `{ score, label, model, version }`. `model` is a .onnx path (beside the topology file, else
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
 *    or skipped. A model call that fails dead-letters the batch's events with the reason.
 * 4. Event-time windows cannot follow it (their watermark would pass events still in the batch).
 */
export function score<T>(model: string, options: ScoreOptions<T>): OperatorFunction<T, Scored<T>> {
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
  const copy = extender(['score', 'label', 'model', 'version']);
  if (!(Number.isInteger(maxBatch) && maxBatch > 0)) throw new RtmlError('RTML_E_MODEL', `${what}: maxBatch must be a whole number > 0`);
  return (source) =>
    new Observable<Scored<T>>((subscriber) => {
      const host = currentHost(what);
      const F = features.length;
      const names = features.map((f) => f.name);
      let routing: () => ModelRouting;
      let name: string;
      if (model.startsWith(REGISTRY)) {
        name = model.slice(REGISTRY.length);
        let handle: ModelHandle | undefined;
        routing = () => handle!.current(); // opened before any input is read
        host.onStart(async () => (handle = await host.models(what).open(name, names)));
      } else {
        const path = [host.baseDir, process.cwd()].map((d) => resolve(d, model)).find((p) => existsSync(p));
        if (!path) throw new RtmlError('RTML_E_MODEL', `${what}: model file not found`);
        const bytes = readFileSync(path);
        loadOnnxModel(bytes, { features: names, name: path });
        const session = new SyncOnnxSession(bytes, F);
        const file: ScoringModel = { version: createHash('sha256').update(bytes).digest('hex').slice(0, 12), featureCount: F, score: (v, rows) => session.score(v, rows) };
        const fixed: ModelRouting = { serving: () => file, shadows: [] };
        name = basename(path, '.onnx');
        routing = () => fixed;
      }
      if (options.name !== undefined) name = options.name;
      const values = new Float32Array(maxBatch * F);
      const gathered = new Float32Array(maxBatch * F);
      const shadowStats = new Map<string, { scored: number; disagreed: number }>();
      const pending: Pending[] = [];
      const record = host.record;

      /** Scores the batch with its serving versions (several under an A/B split) and its shadows. */
      const scoreBatch = (batch: Pending[]): { scores: Float32Array; models: ScoringModel[] } => {
        const route = routing();
        const models = batch.map((p) => route.serving(String(p.key ?? '')));
        const serving = new Set(models);
        let scores: Float32Array;
        if (serving.size === 1) scores = models[0]!.score(values, batch.length);
        else {
          scores = new Float32Array(batch.length);
          for (const m of serving) {
            // An A/B split: each version scores its own rows, gathered together.
            let rows = 0;
            for (let i = 0; i < batch.length; i++) {
              if (models[i] === m) gathered.set(values.subarray(i * F, i * F + F), rows++ * F);
            }
            const out = m.score(gathered, rows);
            for (let i = 0, r = 0; i < batch.length; i++) if (models[i] === m) scores[i] = out[r++]!;
          }
        }
        for (const shadow of route.shadows) {
          const out = shadow.score(values, batch.length);
          const stats = shadowStats.get(shadow.version) ?? { scored: 0, disagreed: 0 };
          for (let i = 0; i < batch.length; i++) if (out[i]! >= threshold !== scores[i]! >= threshold) stats.disagreed++;
          stats.scored += batch.length;
          shadowStats.set(shadow.version, stats);
        }
        return { scores, models };
      };

      const flush = (): void => {
        if (pending.length === 0) return;
        const batch = pending.splice(0);
        let result: { scores: Float32Array; models: ScoringModel[] } | undefined;
        let failure: string | undefined;
        try {
          result = scoreBatch(batch);
        } catch (err) {
          failure = errorMessage(err);
        }
        const saved = { key: record.key, time: record.time, source: record.source, partition: record.partition, offset: record.offset };
        for (let i = 0; i < batch.length; i++) {
          const p = batch[i]!;
          record.key = p.key;
          record.time = p.time;
          record.source = p.source;
          record.partition = p.partition;
          record.offset = p.offset;
          if (result === undefined) {
            host.deadLetter(`${what}: the model failed: ${failure}`, { source: p.source, partition: p.partition, offset: p.offset, time: p.time, value: p.event });
            continue;
          }
          const s = result.scores[i]!;
          const out = copy(p.event);
          out.score = s;
          out.label = s >= threshold ? 1 : 0;
          out.model = name;
          out.version = result.models[i]!.version;
          subscriber.next(out as Scored<T>);
        }
        Object.assign(record, saved);
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
                host.deadLetter(`${what}: feature '${features[j]!.name}' is ${v === undefined ? 'missing' : JSON.stringify(v)}, not a number, and has no default`);
                return;
              }
              v = fallback;
            }
            values[row + j] = v as number;
          }
          pending.push({ event, key: record.key, time: record.time, source: record.source, partition: record.partition, offset: record.offset });
          if (pending.length === maxBatch) flush();
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          flush();
          for (const [version, { scored, disagreed }] of shadowStats) {
            host.report(`${what}: shadow ${name} ${version} scored ${scored} event(s), its label differed on ${disagreed}`);
          }
          subscriber.complete();
        },
      });
      host.onBurstEnd(flush);
      host.blockEventTimeOperators(what);
      return subscription;
    });
}
