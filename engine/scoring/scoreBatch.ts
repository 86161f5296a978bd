import { errorMessage } from '../errors.ts';
import type { ScoringModel } from '../modelProvider.ts';

/**
 * The scoring core shared by score() (engine/operators/score.ts) and the server's batcher
 * (serving/batcher.ts): one batch of rows, each served by the version its routing picks for its
 * entity (several under an A/B split), scored beside its shadow versions.
 *
 * 1. Rows are grouped by serving version, one model call per version.
 * 2. Batch equals rows: when a call fails, its rows are rescored one by one, and only the rows the
 *    model fails on get an error, so the outcome is that of scoring every row alone.
 * 3. Shadows score the rows that were served (one call per shadow), never changing a served score;
 *    a shadow that fails is counted, not thrown. A shadow whose inputs some row cannot fill is
 *    skipped for the batch.
 * 4. What happened reaches each side's metrics through ScoringMetrics, the same events on both.
 */

/** What one batch holds, as the caller knows it. */
export interface ScoringBatch<M extends ScoringModel = ScoringModel> {
  readonly rows: number;
  /** The version that serves row `row`. */
  serving(row: number): M;
  /** The shadow versions scored beside row `row`. */
  shadows(row: number): readonly M[];
  /**
   * Writes row `row`'s inputs for `model` at `offset` of `out` (`model.featureCount` values);
   * false when the row cannot give them (only then is a shadow skipped).
   */
  fill(row: number, model: M, out: Float32Array, offset: number): boolean;
}

/** What scoring did, for each side's metrics and reports. */
export interface ScoringMetrics<M extends ScoringModel = ScoringModel> {
  /** A serving version scored `rows` rows in one call. */
  modelCall(model: M, rows: number): void;
  /** A serving version failed on `rows` rows (each rescored alone). */
  modelFailures(model: M, rows: number): void;
  /** A shadow scored `served.length` rows; `disagreed` of them got another label than the served score. */
  shadowScored(shadow: M, scores: Float32Array, served: Float32Array, disagreed: number): void;
  /** A shadow failed to score `rows` rows (served results are not affected). */
  shadowFailed(shadow: M, rows: number, reason: string): void;
}

export interface ScoredBatch<M extends ScoringModel = ScoringModel> {
  /** Row i's score (meaningless where errors[i] is set). */
  readonly scores: Float32Array;
  /** Row i's serving version. */
  readonly models: readonly M[];
  /** Why the model failed on row i; undefined where it was scored. */
  readonly errors: readonly (string | undefined)[];
}

/** A serving version whose inputs a row cannot give (the callers check rows before, so a bug if seen). */
const MISSING_INPUTS = 'the row does not give every feature the model takes';

export function scoreBatch<M extends ScoringModel>(batch: ScoringBatch<M>, threshold: number, metrics: ScoringMetrics<M>): ScoredBatch<M> {
  const n = batch.rows;
  const scores = new Float32Array(n);
  const models: M[] = [];
  const errors: (string | undefined)[] = new Array(n);
  for (let i = 0; i < n; i++) models.push(batch.serving(i));
  for (const [model, rows] of groupRows(n, (i) => [models[i]!])) {
    const out = call(batch, model, rows) ?? MISSING_INPUTS;
    if (typeof out !== 'string') {
      metrics.modelCall(model, rows.length);
      rows.forEach((r, k) => (scores[r] = out[k]!));
      continue;
    }
    let failed = 0;
    for (const r of rows) {
      const one = rows.length === 1 ? out : (call(batch, model, [r]) ?? MISSING_INPUTS);
      if (typeof one === 'string') {
        errors[r] = one;
        failed++;
      } else {
        metrics.modelCall(model, 1);
        scores[r] = one[0]!;
      }
    }
    metrics.modelFailures(model, failed);
  }
  for (const [shadow, rows] of groupRows(n, (i) => (errors[i] === undefined ? batch.shadows(i) : []))) {
    const out = call(batch, shadow, rows);
    if (out === undefined) continue;
    if (typeof out === 'string') {
      metrics.shadowFailed(shadow, rows.length, out);
      continue;
    }
    const served = Float32Array.from(rows, (r) => scores[r]!);
    let disagreed = 0;
    for (let k = 0; k < rows.length; k++) if (out[k]! >= threshold !== served[k]! >= threshold) disagreed++;
    metrics.shadowScored(shadow, out, served, disagreed);
  }
  return { scores, models, errors };
}

/** One model call over `rows`: the scores, why it failed, or undefined when a row cannot fill its inputs. */
function call<M extends ScoringModel>(batch: ScoringBatch<M>, model: M, rows: readonly number[]): Float32Array | string | undefined {
  const width = model.featureCount;
  const values = new Float32Array(rows.length * width);
  for (let k = 0; k < rows.length; k++) if (!batch.fill(rows[k]!, model, values, k * width)) return undefined;
  try {
    return model.score(values, rows.length);
  } catch (err) {
    return errorMessage(err);
  }
}

/** Row indexes per model, models in order of first use. */
function groupRows<M extends ScoringModel>(n: number, modelsOf: (row: number) => readonly M[]): Map<M, number[]> {
  const groups = new Map<M, number[]>();
  for (let i = 0; i < n; i++) {
    for (const model of modelsOf(i)) {
      let rows = groups.get(model);
      if (rows === undefined) groups.set(model, (rows = []));
      rows.push(i);
    }
  }
  return groups;
}
